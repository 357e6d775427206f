"""Which classifier labels model=auto requests (`model_routing.classifier`), behind one signature.

- `lexicon` (the default): the hand-written cue lexicon and structural rules (`lexicon/`). On the 22
  public sources of the corpus, each unseen by both, the learned model wins pooled but the lexicon
  wins task by task (7 of 10 tasks, code and math among them; task-balanced 0.744 against 0.616:
  docs/auto-routing.md), so it stays the default.
- `learned`: the logistic regression over hashed n-grams (`model`). It and numpy are imported only
  when a config names it: an unused classifier costs nothing.
- `stacked`: both, combined by a second stage fitted out of sample (`stack`). Ahead of the lexicon
  pooled on the public sources but behind it task-balanced (0.710 against 0.744), so not the
  default either; loaded only when named.

Both return the probability of each task (in `tasks.TASKS` order) and two structural signals that
complexity reads (code, notation; 0..1). The lexicon's scores are not probabilities: its verdict is
put `LEXICON_LEAD` above its best other score, and a softmax at `LEXICON_TEMPERATURE` turns the
scores into a distribution whose argmax is the verdict. Its spread (a prompt with one clear cue gives
~0.8, one with no cue ~0.2) says how sure the lexicon was; it is rough, not calibrated (measured in
docs/auto-routing.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from gateway.router_model.lexicon.classifier import classify
from gateway.router_model.tasks import TASKS

CLASSIFIERS = ("lexicon", "learned", "stacked")
LEXICON_LEAD = 1.0
LEXICON_TEMPERATURE = 1.0

# (last user turn, system prompt, earlier user turns, code in an earlier answer, messages, tools,
# images, JSON output) -> (probability per task, code 0..1, notation 0..1)
Classify = Callable[
    [str, str, Sequence[str], bool, int, bool, bool, bool], tuple[tuple[float, ...], float, float]
]


def lexicon(
    last_user: str,
    system: str,
    earlier: Sequence[str],
    prior_code: bool,
    turns: int,
    tools: bool,
    images: bool,
    json: bool,
) -> tuple[tuple[float, ...], float, float]:
    """The lexicon's verdict as a distribution (see the module's docstring)."""
    task, signals = classify(last_user, system, earlier, prior_code)
    scores = list(signals.scores)
    best = TASKS.index(task)
    scores[best] = max(scores) + LEXICON_LEAD
    top = scores[best]
    weights = [math.exp((s - top) / LEXICON_TEMPERATURE) for s in scores]
    total = sum(weights)
    return tuple(w / total for w in weights), signals.code, signals.math


def classifier(name: str) -> Classify:
    """The configured classifier, loaded (the learned one's weights are read here, not on a request)."""
    if name == "learned":
        from gateway.router_model import model

        model.warm()
        return model.classify
    if name == "stacked":
        from gateway.router_model import stack

        stack.warm()
        return stack.classify
    return lexicon
