"""The task classifier at serving time: a multinomial logistic regression over `features`.

The weights are a data file in this package (`router.npy`: one float16 row per feature, one column
per task; `router.json`: the tasks, the biases, the softmax temperature and where the weights came
from), written by `make train-router` and loaded once per process. Scoring a request is a gather of
its active rows and a sum: no scikit-learn at run time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from gateway.router_model.features import DIM, features
from gateway.router_model.tasks import TASKS

HERE = Path(__file__).parent
WEIGHTS = HERE / "router.npy"
META = HERE / "router.json"


class Model:
    def __init__(self, weights: np.ndarray, bias: np.ndarray, temperature: float, meta: dict) -> None:
        if weights.shape != (DIM, len(TASKS)):
            raise ValueError(f"router weights have shape {weights.shape}, expected {(DIM, len(TASKS))}")
        self.weights = weights.astype(
            np.float32
        )  # (stored as float16; 12.6 MB in memory: no cast per request)
        self.bias = bias.astype(np.float32)
        self.temperature = float(temperature)
        self.meta = meta

    @classmethod
    def load(cls, weights: Path = WEIGHTS, meta: Path = META) -> Model:
        info = json.loads(meta.read_text(encoding="utf-8"))
        if tuple(info["tasks"]) != TASKS:
            raise ValueError("router.json lists other tasks than the gateway's")
        return cls(np.load(weights), np.asarray(info["bias"], dtype=np.float32), info["temperature"], info)

    def scores(self, indices: np.ndarray, values: np.ndarray) -> np.ndarray:
        """The logits (before the temperature)."""
        return values @ self.weights[indices] + self.bias

    def probabilities(self, indices: np.ndarray, values: np.ndarray) -> np.ndarray:
        z = self.scores(indices, values) / self.temperature
        z = np.exp(z - z.max())
        return z / z.sum()


@cache
def model() -> Model:
    """The shipped model, loaded on first use (the gateway warms it at start)."""
    return Model.load()


def logits(
    last_user: str,
    system: str = "",
    earlier: Sequence[str] = (),
    prior_code: bool = False,
    turns: int = 1,
    tools: bool = False,
    images: bool = False,
    json: bool = False,
) -> tuple[np.ndarray, list[float]]:
    """The shipped model's logits (before the temperature) for a request's parts, and the
    structural signals read on the way (`features`): what `classify` and `stack` start from."""
    indices, values, dense = features(
        last_user,
        system,
        earlier[-1] if earlier else "",
        earlier=len(earlier),
        prior_code=prior_code,
        turns=turns,
        tools=tools,
        images=images,
        json=json,
    )
    return model().scores(indices, values), dense


def classify(*request: Any) -> tuple[tuple[float, ...], float, float]:
    """The probability of each task (in `TASKS` order) for a request's parts (`logits`' arguments),
    and the code and notation signals read on the way: `choice.Classify`."""
    z, dense = logits(*request)
    p = np.exp((z - z.max()) / model().temperature)
    return tuple((p / p.sum()).tolist()), max(dense[0], dense[1]), dense[3]


def warm() -> None:
    """Load the weights and classify once, so that no request pays the first call's costs."""
    classify("warm up")
