"""The stacked classifier (`model_routing.classifier: stacked`): the learned model and the lexicon,
combined by a small second stage fitted on what each got right on sources it never saw.

Why both: held out source by source, the learned model wins on questions and reasoning in styles the
lexicon was not written for, the lexicon on code, math and analysis requests (docs/auto-routing.md).
Neither's weakness is the other's, so a combination fitted out of sample can keep both strengths.

For task k the stacked score is

    (a + da[k]) * log p_learned[k] + (b + db[k]) * log p_lexicon[k] + c[k]

and the probabilities its softmax: `p_learned` is the learned model's softmax at temperature 1,
`p_lexicon` the lexicon's distribution as `choice.lexicon` serves it. The parameters (`stack` in
`router.json`) are fitted by `train.py` on the public sources only, each source's learned answers
coming from the model trained without it (`stacking.py`). The code and notation signals that
complexity reads are the lexicon's, as with the lexicon alone.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np

from gateway.router_model import model as learned
from gateway.router_model.choice import lexicon
from gateway.router_model.tasks import TASKS

FLOOR = 1e-6  # a probability's floor before its log (the lexicon's can be ~1e-9 for unlikely tasks)


def log_probabilities(p: np.ndarray) -> np.ndarray:
    """The log of probabilities, floored (rows or one vector)."""
    return np.log(np.maximum(p, FLOOR))


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Log-probabilities from logits at temperature 1 (rows or one vector)."""
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def combine(params: np.ndarray, learned_lp: np.ndarray, lexicon_lp: np.ndarray) -> np.ndarray:
    """The stacked scores (before the softmax) of rows of both classifiers' log-probabilities.
    `params` is (a, b, da[12], db[12], c[12])."""
    n = len(TASKS)
    a, b = params[0], params[1]
    da, db, c = params[2 : 2 + n], params[2 + n : 2 + 2 * n], params[2 + 2 * n : 2 + 3 * n]
    return (a + da) * learned_lp + (b + db) * lexicon_lp + c


@cache
def parameters() -> np.ndarray:
    """The shipped second stage (from router.json, read with the learned model)."""
    stack = learned.model().meta.get("stack")
    if not stack or len(stack["params"]) != 2 + 3 * len(TASKS):
        raise ValueError("router.json has no second stage (`stack`): run `make train-router`")
    return np.asarray(stack["params"], dtype=np.float64)


def classify(*request: Any) -> tuple[tuple[float, ...], float, float]:
    """The probability of each task, and the lexicon's code and notation signals: `choice.Classify`
    (all eight of its arguments: the last user turn, system prompt, earlier user turns, code in an
    earlier answer, messages, tools, images, JSON output)."""
    p_lexicon, code, notation = lexicon(*request)
    z, _ = learned.logits(*request)
    s = combine(parameters(), log_softmax(z.astype(np.float64)), log_probabilities(np.asarray(p_lexicon)))
    top = float(s.max())
    weights = [math.exp(float(v) - top) for v in s]
    total = sum(weights)
    return tuple(w / total for w in weights), code, notation


def warm() -> None:
    """Load the weights and the second stage, and classify once (no request pays the first call)."""
    learned.warm()
    parameters()
    classify("warm up", "", (), False, 1, False, False, False)
