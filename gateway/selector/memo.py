"""What the selector remembers between requests, so that it does not work the same thing out twice.

`Plans`: the prepared ranking (`scoring.Prepared`: hard filters, prices, quality fit, cheapness) for
an analysis outcome (task, complexity, tokens, requirements), made with every candidate allowed and
up. It is a pure function of that outcome and the config, and outcomes repeat far more than bodies
do: short chats of one task and length share one. With it, the ranking finished with the history's
current board (`history.History.board`: recent performance, which is news only now and then) and
the `x-grid-route-reason` of decisions taken on that ranking, by chosen group and stickiness:
nothing else in the reason can differ then. Both are kept until the board changes.

Breakers are read afresh for every request; when one is open, the ranking is finished afresh too.
Plans are bounded (the oldest dropped first) and emptied on a config reload. Per process, like the
rest of the selector's state.

Bodies themselves are not remembered: a body is rarely sent twice (a client's retry after a failure,
say), and remembering each new one cost a fresh request more (hashing it, keeping its analysis, the
garbage collector walking what is kept) than reading the rare repeat again saves.
"""

from __future__ import annotations

from collections import OrderedDict

from gateway.selector.analysis import Analysis
from gateway.selector.scoring import Prepared, Ranking

PLAN_ENTRIES = 2048


class Plan:
    """A prepared ranking; the ranking finished with the history board of `epoch`, and the reasons of
    decisions taken on it, by (chosen, sticky)."""

    __slots__ = ("prepared", "epoch", "finished", "reasons")

    def __init__(self, prepared: Prepared) -> None:
        self.prepared = prepared
        self.epoch = -1
        self.finished: Ranking | None = None
        self.reasons: dict[tuple[str, bool], str] = {}

    def finish_with(self, epoch: int, finished: Ranking) -> None:
        self.epoch, self.finished = epoch, finished
        self.reasons = {}


class Plans:
    def __init__(self, entries: int = PLAN_ENTRIES) -> None:
        self.entries = entries
        self._plans: OrderedDict[tuple, Plan] = OrderedDict()

    @staticmethod
    def key(analysis: Analysis) -> tuple:
        """Everything of an analysis that `scoring.prepare` reads."""
        need = analysis.requires
        return (
            analysis.task,
            analysis.mixture,
            analysis.complexity,
            analysis.prompt_tokens,
            need.max_tokens,
            need.tools,
            need.vision,
            need.json,
            need.json_schema,
            need.choices,
        )

    def get(self, key: tuple) -> Plan | None:
        return self._plans.get(key)

    def put(self, key: tuple, prepared: Prepared) -> Plan:
        if len(self._plans) >= self.entries:
            self._plans.popitem(last=False)  # the oldest
        plan = self._plans[key] = Plan(prepared)
        return plan

    def clear(self) -> None:
        self._plans.clear()

    def __len__(self) -> int:
        return len(self._plans)
