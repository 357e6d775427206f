"""Fit and measure the stacked classifier's second stage (`stack.py`); training-side only.

The second stage may only learn from answers out of sample, or it would learn to trust whichever
classifier had seen the data: so it is fitted on the public sources only (the lexicon was mended on
the project's own `grid-*` sources), and on each public source's learned logits from the fold that
held that source out (`train.loso`, kept in build/router/loso-*.npz; computed here when missing or
made from another corpus). The settings below were fixed before the first measurement
(docs/auto-routing.md: the rule written before measuring).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from gateway.router_model.stack import combine, log_probabilities, log_softmax
from gateway.router_model.tasks import TASKS

OWN = "grid-"  # the project's own sources: the lexicon was mended on them
L2 = 0.01  # on the per-task deltas and biases (fixed beforehand, not tuned)


def public(records: list[dict[str, Any]]) -> list[str]:
    return sorted({r["source"] for r in records if not r["source"].startswith(OWN)})


def lexicon_log_probabilities(records: list[dict[str, Any]], cache: Path) -> np.ndarray:
    """The lexicon's log-probabilities of every record, as served (kept in `cache`: a minute)."""
    if cache.exists():
        return np.load(cache)
    from gateway.selector.analysis import analyse  # the lexicon: choice.lexicon is its default

    p = np.array([analyse({"messages": r["messages"]}).signals.probabilities for r in records])
    lp = log_probabilities(p)
    np.save(cache, lp)
    return lp


def _loss(params: np.ndarray, llp: np.ndarray, xlp: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Weighted mean log loss plus the L2 term, and its gradient."""
    n = len(TASKS)
    s = combine(params, llp, xlp)
    s = s - s.max(axis=1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=1, keepdims=True)
    rows = np.arange(len(y))
    loss = float(-(w * np.log(p[rows, y])).sum() / w.sum())
    g = p.copy()
    g[rows, y] -= 1.0
    g *= (w / w.sum())[:, None]  # d loss / d score
    grad = np.empty_like(params)
    a_k, b_k = g * llp, g * xlp
    grad[0], grad[1] = a_k.sum(), b_k.sum()
    grad[2 : 2 + n] = a_k.sum(axis=0)
    grad[2 + n : 2 + 2 * n] = b_k.sum(axis=0)
    grad[2 + 2 * n :] = g.sum(axis=0)
    tail = params[2:]
    return loss + L2 * float(tail @ tail), grad + np.concatenate(([0.0, 0.0], 2 * L2 * tail))


def fit(llp: np.ndarray, xlp: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The second stage's (a, b, da, db, c), from a = b = 1 and the rest 0 (deterministic)."""
    from scipy.optimize import minimize

    start = np.zeros(2 + 3 * len(TASKS))
    start[:2] = 1.0
    out = minimize(_loss, start, args=(llp, xlp, y, w), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return np.round(out.x, 5) + 0.0  # (+ 0.0: no -0.0 in router.json)


def fresh(corpus: Path, digest: str, source: str, C: float) -> bool:
    """Whether `source`'s held-out fold is kept, made from this corpus with this C."""
    path = corpus.parent / f"loso-{source}.npz"
    if not path.exists():
        return False
    saved = np.load(path)
    return str(saved.get("corpus_sha256", "")) == digest and float(saved.get("C", C)) == C


def held_out_logits(
    corpus: Path, records: list[dict[str, Any]], digest: str, sources: list[str], C: float
) -> np.ndarray:
    """The learned model's logits for every record of `sources`, each from the fold that held its
    source out (rows of other sources are zero). Folds missing, or made from another corpus or C,
    are computed (one training each: about a minute)."""
    from gateway.router_model import train

    missing = [s for s in sources if not fresh(corpus, digest, s, C)]
    if missing:
        train.loso(corpus, missing)
    source = np.array([r["source"] for r in records])
    z = np.zeros((len(records), len(TASKS)))
    for s in sources:
        z[source == s] = np.load(corpus.parent / f"loso-{s}.npz")["logits"]
    return z


def weights(records: list[dict[str, Any]], idx: np.ndarray, y: np.ndarray) -> np.ndarray:
    from gateway.router_model.train import sample_weights

    return sample_weights([records[i] for i in idx], y[idx])


def fit_public(corpus: Path, records: list[dict[str, Any]], digest: str, C: float) -> dict[str, Any]:
    """The shipped second stage: fitted on every public source's held-out answers."""
    names = public(records)
    z = held_out_logits(corpus, records, digest, names, C)
    xlp = lexicon_log_probabilities(records, corpus.parent / f"lexicon-{digest[:16]}.npy")
    y = np.array([TASKS.index(r["task"]) for r in records])
    idx = np.array([i for i, r in enumerate(records) if r["source"] in names])
    params = fit(log_softmax(z[idx]), xlp[idx], y[idx], weights(records, idx, y))
    counts = Counter(records[i]["source"] for i in idx)
    return {"params": [float(v) for v in params], "fitted_on": dict(sorted(counts.items())), "l2": L2}


def _mcnemar(pairs: list[tuple[bool, bool]]) -> tuple[int, int, float]:
    """Only the first right, only the second right, continuity-corrected z."""
    one = sum(a and not b for a, b in pairs)
    two = sum(b and not a for a, b in pairs)
    return one, two, (abs(one - two) - 1) / (one + two) ** 0.5 if one + two else 0.0


def held_out_stacked(
    records: list[dict[str, Any]], llp: np.ndarray, xlp: np.ndarray, names: list[str]
) -> np.ndarray:
    """The stacked probabilities of each source in `names`, its second stage fitted on the other
    sources of `names` (rows of other sources are zero)."""
    from gateway.router_model.train import softmax

    y = np.array([TASKS.index(r["task"]) for r in records])
    source = np.array([r["source"] for r in records])
    out = np.zeros_like(llp)
    for s in names:
        train_idx = np.flatnonzero((source != s) & np.isin(source, names))
        params = fit(llp[train_idx], xlp[train_idx], y[train_idx], weights(records, train_idx, y))
        test = source == s
        out[test] = softmax(combine(params, llp[test], xlp[test]), 1.0)
    return out


def compare(corpus: Path, records: list[dict[str, Any]], digest: str, C: float) -> None:
    """Learned (held out), lexicon and stacked (held out twice over: its second stage fitted without
    the source, on the other public sources only) on the public sources, counting any fitting
    task: per source, pooled, mean of the sources, task-balanced, per task, McNemar."""
    from gateway.router_model.train import _accept, ece

    names = [s for s in public(records) if fresh(corpus, digest, s, C)]  # the folds measured so far
    if len(names) < 2:
        return
    z = held_out_logits(corpus, records, digest, names, C)
    xlp = lexicon_log_probabilities(records, corpus.parent / f"lexicon-{digest[:16]}.npy")
    y = np.array([TASKS.index(r["task"]) for r in records])
    stacked_p = held_out_stacked(records, log_softmax(z), xlp, names)
    by_source: dict[str, list[tuple[bool, bool, bool]]] = {}
    by_task: dict[str, list[tuple[bool, bool, bool]]] = {}
    rows = [i for i, r in enumerate(records) if r["source"] in names]
    for i in rows:
        fits = _accept(records[i])
        right = tuple(TASKS[int(np.argmax(v[i]))] in fits for v in (z, xlp, stacked_p))
        by_source.setdefault(records[i]["source"], []).append(right)
        by_task.setdefault(records[i]["task"], []).append(right)
    kinds = ("learned", "lexicon", "stacked")
    print(
        f"\nlearned, lexicon and stacked on the {len(names)} public sources (each held out), any fitting task:"
    )
    print(f"{'source':24s} {'n':>5s} " + " ".join(f"{k:>8s}" for k in kinds))
    for name, rs in sorted(by_source.items()):
        print(f"{name:24s} {len(rs):5d} " + " ".join(f"{np.mean([r[k] for r in rs]):8.3f}" for k in range(3)))
    every = [r for rs in by_source.values() for r in rs]

    def line(label: str, groups: list[list[tuple[bool, bool, bool]]]) -> None:
        print(
            f"{label}: "
            + ", ".join(
                f"{kinds[k]} {np.mean([np.mean([r[k] for r in g]) for g in groups]):.3f}" for k in range(3)
            )
        )

    line(f"pooled over {len(every)} prompts", [every])
    line("mean of the sources", list(by_source.values()))
    line("task-balanced (mean of the per-task recalls)", list(by_task.values()))
    for k, other in ((1, "lexicon"), (0, "learned")):
        one, two, zz = _mcnemar([(r[2], r[k]) for r in every])
        print(
            f"McNemar stacked against {other}: only stacked right {one}, only {other} right {two}, z = {zz:.1f}"
        )
    idx = np.array(rows)
    print(
        f"ECE (10 bins): stacked {ece(stacked_p[idx], y[idx]):.3f}, lexicon {ece(np.exp(xlp[idx]), y[idx]):.3f}"
    )
    print("per-task recall on the public sources (learned, lexicon, stacked):")
    for task in TASKS:
        if task in by_task:
            rs = by_task[task]
            print(
                f"  {task:20s} "
                + " ".join(f"{np.mean([r[k] for r in rs]):.3f}" for k in range(3))
                + f"  ({len(rs)})"
            )
