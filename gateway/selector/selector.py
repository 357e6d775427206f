"""The model selector: analysis, ranking, stickiness and history, for one gateway process.

    decision = selector.decide(body, allowed=..., available=..., session=...)
    decision.chosen, decision.ranking.ranked[1:]   # the group, and the next best as its fallbacks

The decisions themselves are the pure functions of `analysis` and `scoring`; this class holds their
inputs that change (the config's profiles, performance history, sessions) and counts what it
decided. It never touches the network, and lives on `GatewayState`: a config reload swaps the
profiles and keeps the history, the sessions and the counts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from gateway.config.model import Snapshot
from gateway.router_model.choice import classifier
from gateway.router_model.tasks import TASKS
from gateway.selector.analysis import Analysis, analyse, exact_tokens
from gateway.selector.capabilities import RoutingConfig, parse
from gateway.selector.history import History
from gateway.selector.memo import Plan, Plans
from gateway.selector.scoring import Ranking, finish, prepare, rows
from gateway.selector.sticky import Sessions
from gateway.selector.tokens import COUNTER, TokenCounter

HEADER_CANDIDATES = 3
NEAR_WINDOW = 0.15  # an estimate this close to a context window is recounted exactly
STICKY_MIN_PERFORMANCE = 0.5  # a session leaves its group when recent errors cost it half its score
STICKY_MARGIN = 0.1  # ... or when it scores this much below the best for the new turn
# Task families: a session keeps its group only for a turn of the same family.
FAMILY = {
    "code_generation": "code",
    "code_review": "code",
    "math": "reasoning",
    "reasoning": "reasoning",
    "creative_writing": "writing",
    "roleplay": "writing",
    "extraction": "text",
    "summarization": "text",
    "translation": "text",
    "analysis": "text",
    "question_answering": "chat",
    "general_chat": "chat",
}

GroupTest = Callable[[str], bool]


class Unservable(Exception):
    """No candidate passed the hard filters; `ranking.rejected` says why for each."""

    def __init__(self, ranking: Ranking) -> None:
        super().__init__("no candidate can serve the request")
        self.ranking = ranking


@dataclass(slots=True)
class Decision:
    """The chosen group and why (a value, like the scoring's: see there why it is not frozen)."""

    analysis: Analysis
    ranking: Ranking
    chosen: str
    sticky: bool
    reason: str  # `x-grid-route-reason` (see `route_reason`)


def route_reason(
    analysis: Analysis, ranking: Ranking, chosen: str, sticky: bool, unsure: bool = False
) -> str:
    """The `x-grid-route-reason` of a decision: short, ASCII (group names are restricted to
    header-safe characters). `tasks=` lists the likeliest tasks with their probabilities."""
    return task_reason(analysis) + choice_reason(analysis, ranking, chosen, sticky, unsure)


def task_reason(analysis: Analysis) -> str:
    """The reason's first part, `task=...; tasks=...; `: this request's own probabilities."""
    tasks = ",".join([f"{t}:{p:.2f}" for t, p in analysis.signals.top(HEADER_CANDIDATES) if p >= 0.01])
    return f"task={analysis.task}; tasks={tasks}; "


def choice_reason(
    analysis: Analysis, ranking: Ranking, chosen: str, sticky: bool, unsure: bool = False
) -> str:
    """The rest, the same for every request of one kept plan (see `memo`)."""
    top = ""
    for c in ranking.ranked[:HEADER_CANDIDATES]:
        top += f",{c.group}:{c.score:.2f}"
    kept = "; sticky=1" if sticky else ""
    if unsure:
        kept += f"; low_confidence={analysis.confidence:.2f}"
    reason = f"complexity={analysis.complexity:.2f}; chosen={chosen}{kept}; candidates={top[1:]}"
    if ranking.rejected:
        reason += "; filtered=" + ",".join([r.group for r in ranking.rejected[:HEADER_CANDIDATES]])
    return reason


class Selector:
    def __init__(
        self,
        snapshot: Snapshot,
        *,
        clock: Callable[[], float] = time.monotonic,
        counter: TokenCounter = COUNTER,
    ) -> None:
        self._counter = counter
        self.history = History(clock=clock)
        self.sessions = Sessions(0, 1, clock=clock)
        self.decisions: dict[str, dict[str, int]] = {}
        self.plans = Plans()
        self.reload(snapshot)

    def reload(self, snapshot: Snapshot) -> None:
        """Adopt a new config (already validated); history, sessions and counts carry over."""
        config = parse(snapshot.model_routing, snapshot)
        self.config: RoutingConfig = config
        # read on every chat request: attributes, not properties of the config (each a call)
        self.enabled: bool = config.enabled
        self.candidates: tuple[str, ...] = config.candidates
        self.history.half_life = config.history_half_life
        self.sessions.configure(config.session_ttl, config.session_max)
        self._profiles = tuple(config.profiles[g] for g in config.candidates)
        self._classify = classifier(config.classifier)  # the learned one's weights load here, once
        self._rows = {task: rows(self._profiles, task) for task in TASKS}  # what `rank` reads, per task
        windows = [p.context_window for p in self._profiles if p.context_window is not None]
        # below this many tokens (prompt + max_tokens) no window is near: most requests skip the check
        self._near_from = (1 - NEAR_WINDOW) * min(windows) - 1 if windows else math.inf
        self.plans.clear()  # worked out with the old profiles

    # -- deciding -------------------------------------------------------------------------------

    def analyse(self, body: Mapping[str, Any]) -> Analysis:
        """The request's analysis; a token estimate close to a candidate's window is made exact."""
        analysis = analyse(body, self._counter, self._classify)
        wanted = analysis.prompt_tokens + (analysis.requires.max_tokens or 0)
        # below `_near_from` no window is near (most requests): the profiles are not looked at
        if not analysis.exact_tokens and wanted >= self._near_from and self._near_a_window(wanted):
            analysis = replace(analysis, prompt_tokens=exact_tokens(body, self._counter), exact_tokens=True)
        return analysis

    def _near_a_window(self, wanted: int) -> bool:
        return any(
            p.context_window is not None and abs(wanted - p.context_window) <= NEAR_WINDOW * p.context_window
            for p in self._profiles
        )

    def rank(
        self,
        analysis: Analysis,
        allowed: GroupTest | None,
        available: GroupTest | None,
        *,
        explain: bool = False,
    ) -> Ranking:
        """The candidates the key may use, ranked for `analysis` (None for `allowed`: every
        candidate; for `available`: every one is up)."""
        return self._rank(analysis, allowed, available, explain)[0]

    def _rank(
        self,
        analysis: Analysis,
        allowed: GroupTest | None,
        available: GroupTest | None,
        explain: bool = False,
    ) -> tuple[Ranking, Plan | None]:
        """The ranking, and the plan it was kept in when every candidate is allowed and up (the
        common case: then the preparation and the finished ranking are looked up, see `memo`)."""
        task = analysis.task
        if allowed is None and available is None and not explain:
            key = Plans.key(analysis)
            plan = self.plans.get(key)
            if plan is None:
                plan = self.plans.put(key, prepare(analysis, self._rows[task], self.config.tradeoff))
            epoch, board = self.history.board(task)
            if plan.epoch != epoch:
                plan.finish_with(epoch, finish(analysis, plan.prepared, board))
            return plan.finished, plan
        table = []
        health = {}
        history = self.history
        for row in self._rows[task]:
            group = row.group
            if allowed is None or allowed(group):
                table.append(row)
                health[group] = history.health(group, task, available is None or available(group))
        prepared = prepare(analysis, table, self.config.tradeoff, health)
        return finish(analysis, prepared, health, explain=explain), None

    def decide(
        self,
        body: Mapping[str, Any],
        *,
        allowed: GroupTest | None = None,
        available: GroupTest | None = None,
        session: Hashable | None = None,
    ) -> Decision:
        """Choose a group for a request. Raises `Unservable` when every candidate is filtered out.

        `allowed` says which groups the client may use, `available` which can take a request now
        (their breakers); None: all of them.
        """
        analysis = self.analyse(body)
        ranking, plan = self._rank(analysis, allowed, available)
        if not ranking.ranked:
            raise Unservable(ranking)
        chosen, sticky = ranking.ranked[0].group, False
        config = self.config
        unsure = (
            analysis.confidence < config.min_confidence
            and config.default is not None
            and (allowed is None or allowed(config.default))
            and (available is None or available(config.default))
        )
        if unsure:
            chosen = config.default
        elif session is not None:
            family = FAMILY.get(analysis.task, "")
            entry = self.sessions.get(session)
            if entry is None:
                self.sessions.misses += 1
            else:
                kept, kept_family = entry
                fit = next((c for c in ranking.ranked if c.group == kept), None)
                if (
                    fit is not None
                    and kept_family == family
                    and fit.performance >= STICKY_MIN_PERFORMANCE
                    and fit.score >= ranking.ranked[0].score - STICKY_MARGIN
                ):
                    chosen, sticky = kept, True
                    self.sessions.hits += 1
                else:
                    self.sessions.reassigned += 1
            self.sessions.put(session, chosen, family)
        by_group = self.decisions.get(analysis.task)
        if by_group is None:  # (setdefault would build an empty dict on every call)
            by_group = self.decisions[analysis.task] = {}
        by_group[chosen] = by_group.get(chosen, 0) + 1
        if plan is None or unsure:
            reason = route_reason(analysis, ranking, chosen, sticky, unsure)
        else:
            # the plan's kept ranking again: so is its reason, but for the choice and the request's
            # own task probabilities
            rest = plan.reasons.get((chosen, sticky))
            if rest is None:
                rest = plan.reasons[(chosen, sticky)] = choice_reason(analysis, ranking, chosen, sticky)
            reason = task_reason(analysis) + rest
        return Decision(analysis, ranking, chosen, sticky, reason)

    def recommend(
        self, body: Mapping[str, Any], *, allowed: GroupTest | None, available: GroupTest | None, limit: int
    ) -> dict[str, Any]:
        """The body of `POST /models/recommend`: no session, no counts, no upstream."""
        analysis = self.analyse(body)
        ranking = self.rank(analysis, allowed, available, explain=True)
        return {
            "task": analysis.task,
            "task_probabilities": {t: round(p, 4) for t, p in analysis.signals.top(3)},
            "complexity": analysis.complexity,
            "estimated_prompt_tokens": analysis.prompt_tokens,
            "requires": analysis.requires.as_dict(),
            "recommendations": [
                {
                    "model": c.group,
                    "score": round(c.score, 4),
                    "capability_match": c.capability_match,
                    "estimated_cost_usd": None if c.cost_usd is None else round(c.cost_usd, 8),
                    "reasons": list(c.reasons),
                }
                for c in ranking.ranked[:limit]
            ],
            "rejected": [{"model": r.group, "reasons": list(r.reasons)} for r in ranking.rejected],
        }

    # -- learning -------------------------------------------------------------------------------

    def feedback(
        self, served: str | None, first: str | None, task: str | None, status: int, latency: float | None
    ) -> None:
        """A finished request's outcome. `first` is the group the request was routed to, `served`
        the one that answered (or failed last): when they differ, `first` failed.

        Client errors (4xx other than 429) say nothing about the group and are not recorded.
        """
        if served is None:
            return
        if status < 400:
            failed = False
        elif status >= 500 or status == 429:
            failed = True
        else:
            return
        if first is not None and first != served:
            self.history.record(first, task, None, True)
        self.history.record(served, task, None if failed else latency, failed)

    def stats(self) -> dict[str, Any]:
        """The body of `GET /admin/model-selector/stats`."""
        return {
            "enabled": self.enabled,
            "auto_select": self.config.auto_select,
            "tradeoff": self.config.tradeoff,
            "candidates": list(self.candidates),
            "tokenizer": self._counter.name,
            "groups": self.history.stats(),
            "other_replicas": self.history.remote_stats(),
            "decisions": {
                task: dict(sorted(groups.items())) for task, groups in sorted(self.decisions.items())
            },
            "decisions_total": sum(n for groups in self.decisions.values() for n in groups.values()),
            "sessions": self.sessions.stats(),
        }
