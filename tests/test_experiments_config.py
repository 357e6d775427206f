"""`model_routing.experiments`: problems name their field; the shipped example is a valid config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.config.loader import build_from_dict
from gateway.config.problems import Problems
from gateway.config.validate import validate
from gateway.experiments.config import experiments_of

ROOT = Path(__file__).resolve().parents[1]
BASE = "http://127.0.0.1:9/v1"


def _config(experiments, **routing) -> dict:
    return {
        "model_list": [
            {
                "model_name": name,
                "litellm_params": {"model": f"openai/{name}", "api_base": BASE, "api_key": "k"},
            }
            for name in ("ctl", "var", "third")
        ],
        "router_settings": {"model_group_alias": {"fast": "ctl"}},
        "model_routing": {"experiments": experiments, **routing},
    }


def problems_of(experiments, **routing) -> Problems:
    problems = Problems()
    snapshot = build_from_dict(_config(experiments, **routing), {}, problems)
    validate(snapshot, problems)
    return problems


def messages(problems: Problems, level: str = "error") -> list[str]:
    """The experiment problems (the test models are not in LiteLLM's price map: warned about too)."""
    return [
        f"{p.field}: {p.message}"
        for p in problems
        if p.level == level and p.field.startswith("model_routing")
    ]


def test_a_complete_experiment_is_valid_and_parsed_with_defaults():
    entry = {"id": "e1", "models": ["ctl", "var"], "applies_to": ["fast"], "traffic_percentage": 10}
    problems = problems_of([entry])
    assert not problems.errors and not messages(problems, "warning")
    snapshot = build_from_dict(_config([entry]), {}, Problems())
    (spec,) = experiments_of(snapshot).experiments
    assert spec.name == "e1" and spec.control == "ctl" and spec.weights == (0.5, 0.5)
    assert spec.unit == "user" and spec.unit_fallback and spec.status == "running"
    assert spec.guardrail.enabled and spec.guardrail.min_requests == 100 and spec.guardrail.p_value == 0.01


def test_empty_experiments_section_is_fine():
    for empty in (None, []):  # `experiments:` with every entry commented out, or an empty list
        problems = problems_of(empty)
        assert not problems.errors and not messages(problems, "warning")


@pytest.mark.parametrize(
    ("entry", "field", "pattern"),
    [
        ({"models": ["ctl", "var"]}, "[0].id", "is required"),
        ({"id": "a/b", "models": ["ctl", "var"]}, "[0].id", "letters, digits"),
        ({"id": "e", "models": ["ctl"]}, "[0].models", "at least two"),
        ({"id": "e", "models": ["ctl", "ctl"]}, "[0].models", "twice"),
        ({"id": "e", "models": ["ctl", "nope"]}, "[0].models[1]", "'nope' is not a model group or alias"),
        ({"id": "e", "models": ["ctl", "var"], "applies_to": ["ghost"]}, "[0].applies_to[0]", "'ghost'"),
        ({"id": "e", "models": ["ctl", "var"], "weights": [1]}, "[0].weights", "1 entries for 2 models"),
        ({"id": "e", "models": ["ctl", "var"], "weights": [-1, 2]}, "[0].weights", "negative"),
        ({"id": "e", "models": ["ctl", "var"], "weights": [0, 0]}, "[0].weights", "positive"),
        (
            {"id": "e", "models": ["ctl", "var"], "traffic_percentage": 150},
            "[0].traffic_percentage",
            "0 to 100",
        ),
        ({"id": "e", "models": ["ctl", "var"], "unit": "ip"}, "[0].unit", "user, session, key, request"),
        ({"id": "e", "models": ["ctl", "var"], "status": "on"}, "[0].status", "running, paused, stopped"),
        (
            {"id": "e", "models": ["ctl", "var"], "guardrail": {"p_value": 2}},
            "[0].guardrail.p_value",
            "between",
        ),
        (
            {"id": "e", "models": ["ctl", "var"], "guardrail": {"min_requests": 0}},
            "[0].guardrail.min_requests",
            "",
        ),
    ],
)
def test_each_mistake_is_an_error_naming_the_field(entry, field, pattern):
    errors = messages(problems_of([entry]))
    where = f"model_routing.experiments{field}: "
    assert any(e.startswith(where) and re.search(re.escape(pattern), e) for e in errors), errors


def test_duplicate_ids_and_wrong_shapes_are_errors():
    errors = messages(
        problems_of([{"id": "e", "models": ["ctl", "var"]}, {"id": "e", "models": ["var", "ctl"]}])
    )
    assert errors == ["model_routing.experiments[1].id: duplicate experiment id 'e'"]
    assert messages(problems_of({"id": "e"})) == ["model_routing.experiments: must be a list of experiments"]
    errors = messages(problems_of([], experiment_feedback={"ttl_seconds": 0}))
    assert errors == ["model_routing.experiment_feedback.ttl_seconds: must be a positive number"]


def test_overlapping_running_experiments_and_unknown_keys_are_warnings():
    problems = problems_of(
        [
            {"id": "a", "models": ["ctl", "var"], "applies_to": ["fast"]},
            {"id": "b", "models": ["ctl", "third"], "applies_to": ["fast"], "colour": "red"},
            {"id": "c", "models": ["ctl", "third"], "applies_to": ["fast"], "status": "paused"},
        ]
    )
    assert not problems.errors
    warnings = messages(problems, "warning")
    assert "model_routing.experiments[1].colour: unknown experiment key, ignored" in warnings
    assert any(
        w.startswith("model_routing.experiments[1].applies_to: 'fast'") and "'a'" in w for w in warnings
    )
    assert not any(w.startswith("model_routing.experiments[2]") for w in warnings)


def test_shipped_config_example_is_valid_once_uncommented():
    text = (ROOT / "config.yaml").read_text()
    block = re.search(r"\n  experiments:\n((?:  #.*\n)+)", text)
    assert block, "config.yaml should carry a commented experiment example under model_routing"
    uncommented = "\n".join(line.replace("  #", "  ", 1) for line in block.group(1).splitlines())
    import yaml

    raw = yaml.safe_load(text.replace(block.group(1), uncommented + "\n"))
    env = {"GRID_MOCK_URL": "http://127.0.0.1:9/v1", "GRID_MOCK_ANTHROPIC_URL": "http://127.0.0.1:9"}
    problems = Problems()
    snapshot = build_from_dict(raw, env, problems)
    validate(snapshot, problems)
    assert not problems.errors, [str(p) for p in problems.errors]
    (spec,) = experiments_of(snapshot).experiments
    assert spec.models == ("gpt-4o-mini", "claude-haiku-4-5") and spec.applies_to == ("fast",)
    assert spec.status == "running" and spec.traffic_percentage == 10
