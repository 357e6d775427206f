"""Train the router's classifier (`make train-router`) and measure it (`make eval-router`).

    python -m gateway.router_model.train [--corpus build/router/corpus.jsonl]          # writes router.npy/.json
    python -m gateway.router_model.train --loso                                           # prints LOSO

Training needs scikit-learn (the `dev` extra), serving does not. Deterministic: lbfgs from zero on
the same rows in the same order gives the same weights, stored as float16, so the same corpus gives
the same files (a test checks it).

Measurement is leave-one-source-out: for each source, train on all the others and classify that
one. The softmax temperature is fitted on grouped out-of-fold scores of the training sources only
(never on the held-out source of a fold).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from gateway.router_model import stacking
from gateway.router_model.features import DIM, features
from gateway.router_model.model import META, TASKS, WEIGHTS

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "build" / "router" / "corpus.jsonl"
C = 5.0  # inverse L2 strength (one global setting; see docs/auto-routing.md for how it was chosen)
TEMPERATURES = np.round(np.arange(0.5, 8.01, 0.1), 2)
CV_FOLDS = 3


def read(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """What the serving path hands the classifier (see selector.analysis)."""
    from gateway.selector.analysis import classifier_inputs

    return classifier_inputs({"messages": messages})


def load(path: Path) -> tuple[list[dict[str, Any]], str]:
    raw = path.read_bytes()
    return [json.loads(line) for line in raw.decode("utf-8").split("\n") if line.strip()], hashlib.sha256(
        raw
    ).hexdigest()


def matrix(records: list[dict[str, Any]]):
    from scipy.sparse import csr_matrix

    rows, cols, vals = [], [], []
    for i, r in enumerate(records):
        idx, val, _ = features(**read(r["messages"]))
        rows.append(np.full(len(idx), i, dtype=np.int64))
        cols.append(idx)
        vals.append(val)
    X = csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(records), DIM),
        dtype=np.float64,
    )
    X.sum_duplicates()
    y = np.array([TASKS.index(r["task"]) for r in records])
    return X, y


def sample_weights(records: list[dict[str, Any]], y: np.ndarray) -> np.ndarray:
    """Each task weighs the same in total, and within a task each source at most a fair share."""
    cells = Counter((r["source"], r["task"]) for r in records)
    per_task: dict[str, int] = Counter()
    sources_per_task: dict[str, int] = Counter()
    for (_, task), n in cells.items():
        per_task[task] += n
        sources_per_task[task] += 1
    w = np.empty(len(records))
    for i, r in enumerate(records):
        share = 1.0 / sources_per_task[r["task"]]  # a source's share of its task
        w[i] = share / cells[(r["source"], r["task"])]
    return w * len(records) / w.sum()


def fit(X, y, w):
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, max_iter=300, tol=3e-3)
    clf.fit(X, y, sample_weight=w)
    return clf


def logits(clf, X) -> np.ndarray:
    return clf.decision_function(X)


def best_temperature(z: np.ndarray, y: np.ndarray) -> float:
    def nll(t: float) -> float:
        s = z / t
        s = s - s.max(axis=1, keepdims=True)
        logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(y)), y].mean())

    return float(min(TEMPERATURES, key=nll))


def fitted_temperature(records, X, y, w) -> float:
    """Out-of-fold logits over `CV_FOLDS` groups of sources (no source in two folds)."""
    sources = sorted({r["source"] for r in records})
    group = np.array([sources.index(r["source"]) % CV_FOLDS for r in records])
    z = np.zeros((len(records), len(TASKS)))
    for k in range(CV_FOLDS):
        test = group == k
        if not test.any() or test.all():
            continue
        clf = fit(X[~test], y[~test], w[~test])
        z[test] = _full(clf, logits(clf, X[test]))
    return best_temperature(z, y)


def _full(clf, z: np.ndarray) -> np.ndarray:
    """Logits for all tasks (a fold missing a task gets -inf-like scores for it)."""
    out = np.full((z.shape[0], len(TASKS)), -30.0)
    out[:, clf.classes_] = z
    return out


def softmax(z: np.ndarray, t: float) -> np.ndarray:
    s = z / t
    s = np.exp(s - s.max(axis=1, keepdims=True))
    return s / s.sum(axis=1, keepdims=True)


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    conf = p.max(axis=1)
    right = p.argmax(axis=1) == y
    total = 0.0
    for b in range(bins):
        m = (conf > b / bins) & (conf <= (b + 1) / bins)
        if m.any():
            total += m.mean() * abs(right[m].mean() - conf[m].mean())
    return total


def train(corpus: Path) -> None:
    records, digest = load(corpus)
    X, y = matrix(records)
    w = sample_weights(records, y)
    temperature = fitted_temperature(records, X, y, w)
    clf = fit(X, y, w)
    weights = np.zeros((DIM, len(TASKS)), dtype=np.float16)
    weights[:, clf.classes_] = clf.coef_.T.astype(np.float16)
    bias = np.full(len(TASKS), -30.0)
    bias[clf.classes_] = clf.intercept_
    np.save(WEIGHTS, weights)
    import sklearn

    meta = {
        "tasks": list(TASKS),
        "bias": [round(float(b), 5) for b in bias],
        "temperature": temperature,
        "C": C,
        "corpus_sha256": digest,
        "records": len(records),
        "sources": dict(sorted(Counter(r["source"] for r in records).items())),
        "trained_with": f"scikit-learn {sklearn.__version__}, numpy {np.__version__}",
        "stack": stacking.fit_public(corpus, records, digest, C),  # the stacked classifier's second stage
    }
    META.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    print(f"{len(records)} records, temperature {temperature}: wrote {WEIGHTS.name} and {META.name}")


def loso(corpus: Path, only: list[str] | None = None, fold_temperature: bool = False) -> None:
    """Leave-one-source-out: for each source (or each of `only`), train on all the others and keep
    the held-out logits (build/router/loso-*.npz; `report` pools them). The probabilities use the
    shipped model's temperature (fitted on grouped folds of all sources: it changes no argmax, so no
    accuracy figure depends on it; the ECE is then mildly optimistic) unless `fold_temperature`,
    which fits one per fold on the training sources alone (three more fits per fold)."""
    records, digest = load(corpus)
    X, y = matrix(records)
    w = sample_weights(records, y)
    source = np.array([r["source"] for r in records])
    print(f"{'held-out source':24s} {'n':>5s} {'accuracy':>9s} {'fitting':>9s}", flush=True)
    for s in only or sorted(set(source)):
        test = source == s
        z = np.zeros((int(test.sum()), len(TASKS)))
        t = 0.0
        if fold_temperature:
            rest = [r for r, k in zip(records, test, strict=True) if not k]
            t = fitted_temperature(rest, X[~test], y[~test], w[~test])
        clf = fit(X[~test], y[~test], w[~test])
        z = _full(clf, logits(clf, X[test]))
        guess = z.argmax(axis=1)
        fits = [TASKS[g] in _accept(records[i]) for g, i in zip(guess, np.flatnonzero(test), strict=True)]
        print(
            f"{s:24s} {int(test.sum()):5d} {float((guess == y[test]).mean()):9.3f} {np.mean(fits):9.3f}",
            flush=True,
        )
        np.savez(corpus.parent / f"loso-{s}.npz", logits=z, temperature=t, corpus_sha256=digest, C=C)


def _accept(record: dict[str, Any]) -> list[str]:
    return record.get("accept") or [record["task"]]


def report(corpus: Path) -> None:
    """Pool the held-out logits of every source: accuracy, per-task recall, calibration; then the
    three classifiers on the public sources (`stacking.compare`)."""
    records, digest = load(corpus)
    shipped = float(json.loads(META.read_text(encoding="utf-8"))["temperature"])
    source = np.array([r["source"] for r in records])
    y = np.array([TASKS.index(r["task"]) for r in records])
    rows, probs, names = [], [], []
    print(f"{'held-out source':24s} {'n':>5s} {'accuracy':>9s} {'fitting':>9s}")
    accs, fitting_all = [], []
    for s in sorted(set(source)):
        path = corpus.parent / f"loso-{s}.npz"
        if not path.exists():
            print(f"{s:24s}  (not measured: run --loso --only {s})")
            continue
        saved = np.load(path)
        idx = np.flatnonzero(source == s)
        t = float(saved["temperature"]) or shipped
        p = softmax(saved["logits"], t)
        guess = p.argmax(axis=1)
        fits = [TASKS[g] in _accept(records[i]) for g, i in zip(guess, idx, strict=True)]
        acc = float((guess == y[idx]).mean())
        accs.append(acc)
        fitting_all += fits
        print(f"{s:24s} {len(idx):5d} {acc:9.3f} {np.mean(fits):9.3f}")
        rows.append(idx)
        probs.append(p)
        names.append(s)
    if not rows:
        return
    idx = np.concatenate(rows)
    p = np.vstack(probs)
    yy, pred = y[idx], p.argmax(axis=1)
    print(
        f"\nLOSO accuracy over {len(names)} sources: pooled {float((pred == yy).mean()):.3f}, "
        f"mean of the sources {np.mean(accs):.3f}; counting any fitting task {np.mean(fitting_all):.3f}"
    )
    print(f"calibration: ECE (10 bins) {ece(p, yy):.3f} at temperature {shipped}")
    print("per-task recall (pooled over the held-out folds):")
    for k, task in enumerate(TASKS):
        m = yy == k
        if m.any():
            confused = Counter(TASKS[j] for j in pred[m] if j != k).most_common(2)
            print(
                f"  {task:20s} {float((pred[m] == k).mean()):.3f}  ({int(m.sum())})  "
                + ", ".join(f"->{t} x{n}" for t, n in confused)
            )
    stacking.compare(corpus, records, digest, C)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="train or measure the router's classifier")
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--loso", action="store_true", help="print leave-one-source-out figures")
    parser.add_argument("--only", nargs="*", help="with --loso: just these held-out sources")
    parser.add_argument("--fold-temperature", action="store_true", help="with --loso: fit T per fold")
    parser.add_argument("--report", action="store_true", help="pool the saved held-out folds")
    args = parser.parse_args(argv)
    corpus = Path(args.corpus)
    if not corpus.exists():
        sys.exit(f"{corpus} not found: run `python -m gateway.router_model.corpus` first")
    if args.report:
        report(corpus)
    elif args.loso:
        loso(corpus, args.only, args.fold_temperature)
    else:
        train(corpus)


if __name__ == "__main__":
    main()
