"""How well the model=auto classifier labels requests: accuracy on the labelled prompt sets in
tests/data/ (written for this project: varied length, phrasing, languages, conversations and
system prompts). Per-label recall is printed (`pytest -s` shows it)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.router_model.tasks import TASKS
from gateway.selector.analysis import analyse

DATA = Path(__file__).parent / "data"
REQUIRED_ACCURACY = 0.85


def load(pattern: str = "selector_prompts*.yaml") -> list[dict[str, Any]]:
    items = []
    for path in sorted(DATA.glob(pattern)):
        items += yaml.safe_load(path.read_text(encoding="utf-8"))
    return items


def body_of(item: dict[str, Any]) -> dict[str, Any]:
    if "messages" in item:
        return {"model": "auto", "messages": item["messages"]}
    messages = [{"role": "system", "content": item["system"]}] if item.get("system") else []
    return {"model": "auto", "messages": [*messages, {"role": "user", "content": item["prompt"]}]}


def test_the_labelled_set_is_big_and_balanced_enough():
    items = load()
    counts = Counter(item["label"] for item in items)
    assert len(items) >= 240
    assert set(counts) == set(TASKS)
    assert min(counts.values()) >= 20, counts
    assert sum(1 for i in items if "messages" in i) >= 20  # multi-turn conversations
    assert (
        sum(1 for i in items if i.get("system") or any(m["role"] == "system" for m in i.get("messages", [])))
        >= 10
    )


@pytest.mark.parametrize("pattern", ["selector_prompts*.yaml"])
def test_classification_accuracy_on_the_labelled_set(pattern):
    items = load(pattern)
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    confused: Counter[tuple[str, str]] = Counter()
    for item in items:
        label = item["label"]
        got = analyse(body_of(item)).task
        total[label] += 1
        if got == label:
            right[label] += 1
        else:
            confused[(label, got)] += 1
    accuracy = sum(right.values()) / len(items)
    print(f"\nmodel=auto classifier: {sum(right.values())}/{len(items)} = {accuracy:.1%}")
    for task in TASKS:
        print(f"  {task:20s} recall {right[task] / total[task]:6.1%}  ({right[task]}/{total[task]})")
    print(
        "  most confused (label -> got):",
        ", ".join(f"{a}->{b} x{n}" for (a, b), n in confused.most_common(5)),
    )
    assert accuracy >= REQUIRED_ACCURACY
