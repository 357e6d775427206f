"""The running experiments of one gateway process: their status, statistics and assignments.

Built from each config snapshot (`reload`), kept across reloads: an experiment whose variants did not
change keeps its statistics, and its status is taken from the file only when the file's status
changed (so a kill switch pulled through the admin API is not undone by an unrelated reload).
Statistics are per process, like the balancer's: with `--workers N` each worker reports its share;
with the Redis backend the other replicas' outcome counts arrive once a second (`remote`, for the
guardrail) and a guardrail stop is announced to them (`announce`), both off the request path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gateway import metrics
from gateway.config.model import Snapshot
from gateway.experiments.assign import draw_from, enrolled, pick_variant
from gateway.experiments.config import RUNNING, STATUSES, ExperimentSpec, experiments_of
from gateway.experiments.feedback import FeedbackLog
from gateway.experiments.guardrail import Counts, breach
from gateway.experiments.stats import VariantStats
from gateway.routing.permissions import names_of
from gateway.routing.resolve import resolver_for

log = logging.getLogger("grid.experiments")


def _nothing() -> None:
    return None


def _keep_to_self(experiment_id: str, status: str, reason: str, at: float) -> None:
    """The default announcer: nobody else to tell (one process; the in-process backend)."""


Announcer = Callable[[str, str, str, float], None]


class ExperimentRun:
    """One configured experiment at run time."""

    __slots__ = (
        "spec",
        "status",
        "status_reason",
        "status_changed_at",
        "config_status",
        "variants",
        "live",
        "notify",
        "announce",
        "remote",
        "_traffic",
        "_traffic_prefix",
        "_variant_prefixes",
        "assignments",
    )

    def __init__(self, spec: ExperimentSpec, live: bool) -> None:
        self.variants = [VariantStats() for _ in spec.models]
        self.status = spec.status
        self.status_reason = "configuration"
        self.status_changed_at = time.time()
        self.config_status = spec.status
        self.spec = spec
        self.live = live
        self.notify: Callable[[], None] = _nothing  # the registry's refresh, after any status change
        # the state backend's announcer: a stop of this replica's own (the guardrail's) reaches the others
        self.announce: Announcer = _keep_to_self
        # per variant, the other replicas' outcomes (refreshed once a second with Redis, else zeros)
        self.remote = [Counts(0, 0) for _ in spec.models]
        self._prepare()

    def _prepare(self) -> None:
        self._traffic = self.spec.traffic_percentage / 100.0
        self._traffic_prefix = self.spec.traffic_prefix
        self._variant_prefixes = self.spec.variant_prefixes()
        # one counter child per variant, looked up once (a `labels()` call per request costs ~2 us)
        self.assignments = [metrics.EXPERIMENT_ASSIGNMENTS.labels(self.spec.id, m) for m in self.spec.models]

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def enrolling(self) -> bool:
        return self.status == RUNNING and self.live

    def update(self, spec: ExperimentSpec, live: bool) -> None:
        """A reload brought a new definition with the same variants: keep the statistics."""
        if spec.weights != self.spec.weights or spec.traffic_percentage != self.spec.traffic_percentage:
            for stats in self.variants:
                stats.assigned = 0  # the sample-ratio check starts over against the new split
        if spec.status != self.config_status:
            self.set_status(spec.status, "configuration reload")
        self.config_status = spec.status
        self.spec = spec
        self.live = live
        self._prepare()

    def set_status(self, status: str, reason: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        self.status = status
        self.status_reason = reason
        self.status_changed_at = time.time()
        self.notify()

    def assign(self, unit: str) -> int | None:
        """The variant index for `unit`, or None when the unit is not enrolled (pure given the hash)."""
        if not enrolled(self._traffic, draw_from(self._traffic_prefix, unit)):
            return None
        draws = [draw_from(prefix, unit) for prefix in self._variant_prefixes]
        return pick_variant(self.spec.weights, draws)

    def counts(self, index: int) -> Counts:
        """Variant `index`'s outcomes on every replica: this one's now, the others' as last read."""
        stats, remote = self.variants[index], self.remote[index]
        return Counts(stats.requests + remote.requests, stats.errors + remote.errors)

    def check_guardrail(self, index: int) -> None:
        """After an outcome of variant `index`: stop the experiment if a variant is failing (judged on
        all replicas' outcomes; the stop is announced to the others without waiting)."""
        if self.status != RUNNING or not self.spec.guardrail.enabled:
            return
        control = self.counts(0)
        candidates = range(1, len(self.variants)) if index == 0 else (index,)
        for i in candidates:
            reason = breach(control, self.counts(i), self.spec.guardrail)
            if reason is not None:
                variant = self.spec.models[i]
                self.set_status("stopped", f"guardrail: variant {variant} {reason}")
                self.announce(self.id, self.status, self.status_reason, self.status_changed_at)
                log.warning(
                    "experiment %s stopped by its guardrail: variant %s %s",
                    self.id,
                    variant,
                    reason,
                    extra={"experiment": self.id, "variant": variant},
                )
                return


@dataclass(frozen=True, slots=True)
class Assignment:
    """What the middleware decided for one request (left in `scope["grid.experiment"]`)."""

    run: ExperimentRun
    index: int

    @property
    def experiment(self) -> str:
        return self.run.spec.id

    @property
    def variant(self) -> str:
        return self.run.spec.models[self.index]

    @property
    def model(self) -> str:
        """The model group or alias the request is served by."""
        return self.run.spec.models[self.index]

    @property
    def stats(self) -> VariantStats:
        return self.run.variants[self.index]


class ExperimentRegistry:
    def __init__(self) -> None:
        self.runs: dict[str, ExperimentRun] = {}
        # eligible model name -> (the group it resolves to, experiments it is eligible for, in order)
        self.routes: dict[str, tuple[str, tuple[ExperimentRun, ...]]] = {}
        self.default_model: str | None = None
        # experiment id -> for each variant, the names that lead to its group (the group, its aliases)
        self.variant_names: dict[str, tuple[frozenset[str], ...]] = {}
        self.active = False  # any experiment enrolling: the middleware's one-attribute fast path
        self.announce: Announcer = _keep_to_self  # set by the state to its backend's announcer
        self.feedback = FeedbackLog(3600.0, 100_000)

    def __iter__(self) -> Iterator[ExperimentRun]:
        return iter(self.runs.values())

    def get(self, experiment_id: str) -> ExperimentRun | None:
        return self.runs.get(experiment_id)

    def reload(self, snapshot: Snapshot) -> None:
        config = experiments_of(snapshot)
        resolver = resolver_for(snapshot)
        runs: dict[str, ExperimentRun] = {}
        for spec in config.experiments:
            live = all(resolver.group_of(m) is not None for m in spec.models)
            old = self.runs.get(spec.id)
            if old is not None and old.spec.models == spec.models:
                old.update(spec, live)
                runs[spec.id] = old
            else:
                runs[spec.id] = ExperimentRun(spec, live)
            runs[spec.id].notify = self.refresh
            runs[spec.id].announce = self.announce
            if not live:
                log.warning("experiment %s enrols nobody: a variant has no live deployment", spec.id)
        routes: dict[str, tuple[str, list[ExperimentRun]]] = {}
        names = {*snapshot.groups, *snapshot.router.model_group_alias}
        for name in names:
            group = resolver.group_of(name)
            if group is None:
                continue
            for run in runs.values():
                if name in run.spec.applies_to or group in run.spec.applies_to:
                    routes.setdefault(name, (group, []))[1].append(run)
        self.routes = {
            name: (group, tuple(sorted(found, key=lambda r: r.spec.index)))
            for name, (group, found) in routes.items()
        }
        names = names_of(snapshot)
        self.variant_names = {
            run.id: tuple(names.get(resolver.group_of(m) or m, frozenset((m,))) for m in run.spec.models)
            for run in runs.values()
        }
        self.runs = runs
        self.default_model = snapshot.default_model
        self.feedback.configure(config.feedback.ttl_seconds, config.feedback.max_requests)
        self.refresh()

    def refresh(self) -> None:
        """Recompute the fast-path flag after any status change."""
        self.active = any(run.enrolling for run in self.runs.values())

    def set_status(self, experiment_id: str, status: str, reason: str) -> ExperimentRun | None:
        run = self.runs.get(experiment_id)
        if run is None:
            return None
        run.set_status(status, reason)
        log.info(
            "experiment %s is now %s (%s)", experiment_id, status, reason, extra={"experiment": experiment_id}
        )
        return run

    def apply_shared(self, statuses: Mapping[str, Mapping[str, Any]]) -> None:
        """Statuses set on other replicas (`{id: {status, reason, at}}` from the state backend): a change
        newer than this replica's own is adopted, from its next request on."""
        for experiment_id, shared in statuses.items():
            run = self.runs.get(experiment_id)
            at = shared.get("at")
            if run is None or not isinstance(at, (int, float)) or at <= run.status_changed_at:
                continue
            if shared.get("status") in STATUSES and shared.get("status") != run.status:
                run.set_status(shared["status"], str(shared.get("reason", "")))
                log.info(
                    "experiment %s is now %s (set on another replica)",
                    experiment_id,
                    run.status,
                    extra={"experiment": experiment_id},
                )
            run.status_changed_at = at

    def permits(self, run: ExperimentRun, models: frozenset[str], group: str) -> bool:
        """Whether a key with the model list `models`, asking for a name that resolves to `group`, may
        be served by every variant of `run` (its own group, or one the list names by group or alias).
        A key that may not is not enrolled: enrolling it and then serving the control would skew the
        split, serving the variant would reach a model outside its list."""
        return all(
            group in names or not models.isdisjoint(names) for names in self.variant_names.get(run.id, ())
        )

    def candidates(self, model: str | None) -> tuple[str, tuple[ExperimentRun, ...]] | None:
        """The group and experiments a request for `model` is eligible for (None: not eligible)."""
        return self.routes.get(model) if model else None
