"""`model="auto"`: context-aware model selection (see docs/auto-routing.md).

analysis (body -> task, complexity, tokens, requirements) -> scoring (hard filters, one score per
candidate) -> selector (history, stickiness, counts). All in-process and offline.
"""

from gateway.selector.selector import Decision, Selector, Unservable

__all__ = ["Decision", "Selector", "Unservable"]
