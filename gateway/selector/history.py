"""Performance history per model group and per (group, task): median latency and EWMA error rate.

Every chat request's outcome is recorded (auto-routed ones also under their task), so a group that
turns slow or starts failing loses score before its breakers open, and regains it as it recovers.
The task-level view is used once it has `MIN_TASK_SAMPLES`; before that the group's own view.

History fades: what it says counts less as it ages (`half_life`), so a group that was avoided after
a bad minute, and therefore gets no new samples, drifts back to neutral and is tried again rather
than being shunned forever. Per process, like the balancer's statistics; kept across reloads. With
Redis, each replica publishes its tracks and blends in the others' (`published`, `set_remote`).

Deciding reads a `board` (every group's health for one task) rather than each group's tracks: it is
rebuilt only when the history has news, i.e. a moving average moved by more than `DRIFT` since it was
last shown (or a track is new), or when `half_life / FADE_STEPS` seconds have passed (fading moves
on). Its `epoch` says which board a ranking was finished with, so a ranking can be kept until then.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.selector.scoring import LATENCY_SLACK, NEUTRAL, Health

ALPHA = 0.3  # weight of the newest sample in the error rate's moving average
RECENT = 5  # latency is the median of this many latest samples: one outlier (a cold start) moves nothing
MIN_TASK_SAMPLES = 3
# A moving latency this much off the one last shown, relative to it plus the scoring's latency slack,
# is news: a score moves by ~1% at most before it is shown. (Relative to the latency alone, the
# jitter of a fast upstream made news of most outcomes, and a new ranking of most requests.)
DRIFT = 0.02
ERROR_DRIFT = 0.01  # ... and an error rate this much off (absolute)
FADE_STEPS = 64  # boards are rebuilt at least this often per half-life (fading moves ~1% a step)
_UNAVAILABLE = Health(available=False)  # a group without history whose breakers are all open
BLEND_CAP = 20  # samples of one replica's track that count, at most, when tracks are blended


def _for_task(track: Track, task: str | None) -> Track:
    """The group's track for `task` once it has MIN_TASK_SAMPLES, else the group's own."""
    if task is not None and track.tasks:
        by_task = track.tasks.get(task)
        if by_task is not None and by_task.requests >= MIN_TASK_SAMPLES:
            return by_task
    return track


@dataclass(slots=True)
class Track:
    """Moving averages for one group (or one group and task)."""

    requests: int = 0
    errors: int = 0
    error_rate: float = 0.0
    latency: float | None = None  # seconds to the first byte: the median of the `RECENT` latest
    recent: list[float] | None = None
    updated: float = 0.0
    shown_error: float = 0.0  # the error rate and latency when this track last made news
    shown_latency: float | None = None
    # a group's track: the group's tracks per task (found from it: no (group, task) key to build);
    # one class for both, so that `add` always sees the same type (the interpreter specialises it)
    tasks: dict[str, Track] | None = None

    def add(self, now: float, latency: float | None, error: bool) -> bool:
        """Count one outcome; True when it is news (see the module docstring). Runs for every chat
        request's outcome (twice when auto-routed: group and task), hence locals and few lines."""
        self.requests += 1
        self.updated = now
        rate = self.error_rate
        if error:
            self.errors += 1
            rate = self.error_rate = rate + ALPHA * (1.0 - rate)
        else:
            if rate:  # towards 0: x - ALPHA * x is x + ALPHA * (0.0 - x), to the bit
                rate = self.error_rate = rate - ALPHA * rate
            if latency is not None:
                recent = self.recent
                if recent is None:
                    recent = self.recent = []
                recent.append(latency)
                if len(recent) > RECENT:
                    del recent[0]
                # the lower median: with two samples the smaller (a cold first call is outvoted)
                self.latency = sorted(recent)[(len(recent) - 1) // 2]
        drift = rate - self.shown_error  # compared both ways: cheaper than abs()
        moving, shown = self.latency, self.shown_latency
        if (
            self.requests <= MIN_TASK_SAMPLES
            or drift > ERROR_DRIFT
            or drift < -ERROR_DRIFT
            or (moving != shown and (shown is None or abs(moving - shown) > DRIFT * (shown + LATENCY_SLACK)))
        ):
            self.shown_error, self.shown_latency = rate, moving
            return True
        return False

    def describe(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 4),
            "median_latency_ms": None if self.latency is None else round(self.latency * 1000, 1),
        }


class History:
    def __init__(self, half_life: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.half_life = half_life
        self._clock = clock
        self._groups: dict[str, Track] = {}
        self.epoch = 0  # counts the news (see `board`)
        self._epoch_at = clock()
        self._boards: dict[str, tuple[int, dict[str, Health]]] = {}
        # other replicas' tracks (through the state backend; empty in-process): group -> tracks, each
        # a Track whose `updated` is on this process's clock and `tasks` its per-task tracks
        self._remote: dict[str, list[Track]] = {}

    def record(self, group: str, task: str | None, latency: float | None, error: bool) -> None:
        """One outcome. `latency` is time to first byte (None when unknown or the request failed)."""
        now = self._clock()
        track = self._groups.get(group)
        if track is None:
            track = self._groups[group] = Track(tasks={})
        news = track.add(now, latency, error)
        if task is not None:
            by_task = track.tasks.get(task)
            if by_task is None:
                by_task = track.tasks[task] = Track()
            if by_task.add(now, latency, error):
                news = True
        if news:
            self.epoch += 1

    def board(self, task: str) -> tuple[int, dict[str, Health]]:
        """(epoch, every group with history -> its health for `task`, all assumed available); the
        same board until there is news or fading has moved on."""
        now = self._clock()
        if now - self._epoch_at >= self.half_life / FADE_STEPS:
            self._epoch_at = now
            self.epoch += 1
        kept = self._boards.get(task)
        if kept is not None and kept[0] == self.epoch:
            return kept
        groups = self._groups if not self._remote else {**self._groups, **self._remote}
        kept = self._boards[task] = (self.epoch, {group: self.health(group, task) for group in groups})
        return kept

    def health(self, group: str, task: str | None, available: bool = True) -> Health:
        found = self._groups.get(group)
        if self._remote and group in self._remote:
            return self._blended(group, task, available, found)
        if found is None:
            return NEUTRAL if available else _UNAVAILABLE
        track = _for_task(found, task)
        fresh = 0.5 ** (max(0.0, self._clock() - track.updated) / self.half_life)
        return Health(available, track.error_rate * fresh, track.latency, fresh)

    def _blended(self, group: str, task: str | None, available: bool, own: Track | None) -> Health:
        """This replica's track and the others', each weighted by its samples (up to BLEND_CAP, so one
        busy replica does not drown the rest) and faded by its own age."""
        now = self._clock()
        tracks = [_for_task(t, task) for t in ([own] if own is not None else []) + self._remote[group]]
        weights = errors = latency_weights = latency = freshness = 0.0
        for track in tracks:
            fresh = 0.5 ** (max(0.0, now - track.updated) / self.half_life)
            weight = min(track.requests, BLEND_CAP) * fresh
            weights += weight
            errors += weight * track.error_rate * fresh
            if track.latency is not None:
                latency_weights += weight
                latency += weight * track.latency
            freshness = max(freshness, fresh)
        if not weights:
            return NEUTRAL if available else _UNAVAILABLE
        moving = latency / latency_weights if latency_weights else None
        return Health(available, errors / weights, moving, freshness)

    def published(self) -> dict[str, Any]:
        """This replica's tracks for the others: ages, not clock readings (each process has its own)."""
        now = self._clock()

        def one(t: Track) -> list:
            return [t.requests, t.errors, t.error_rate, t.latency, now - t.updated]

        return {g: [one(t), {task: one(b) for task, b in t.tasks.items()}] for g, t in self._groups.items()}

    def set_remote(self, others: list[tuple[float, dict[str, Any]]]) -> None:
        """The other replicas' `published()` tracks, each with how long ago it was published (so a
        replica that stopped publishing fades like any old track): a new board is due."""
        now = self._clock()
        remote: dict[str, list[Track]] = {}
        for since, other in others:

            def track(values: list, since: float = since) -> Track:
                requests, errors, error_rate, latency, age = values
                return Track(
                    int(requests), int(errors), float(error_rate), latency, updated=now - age - since
                )

            for group, (own, tasks) in other.items():
                found = track(own)
                found.tasks = {task: track(values) for task, values in tasks.items()}
                remote.setdefault(group, []).append(found)
        if remote or self._remote:
            self._remote = remote
            self.epoch += 1

    def remote_stats(self) -> dict[str, Any]:
        """Per group: the other replicas' tracks as last read (empty in-process)."""
        return {group: [t.describe() for t in tracks] for group, tracks in sorted(self._remote.items())}

    def stats(self) -> dict[str, Any]:
        """Per group: totals, moving averages and the same per task (for the admin API)."""
        return {
            name: {
                **track.describe(),
                "tasks": {task: by_task.describe() for task, by_task in sorted(track.tasks.items())},
            }
            for name, track in sorted(self._groups.items())
        }
