"""`model_routing.experiments`: parsed and checked once, when a config is loaded.

```yaml
model_routing:
  experiments:
    - id: mini-vs-haiku              # letters, digits and - _ . : (in headers, metrics and URLs)
      name: Fast tier comparison     # free text, default the id
      models: [gpt-4o-mini, claude-haiku-4-5]  # the variants: groups or aliases; the first is control
      weights: [50, 50]              # optional, default equal; normalised
      traffic_percentage: 10         # share of units enrolled, 0-100, default 100
      applies_to: [fast]             # requests for these groups or aliases are eligible; default models
      unit: user                     # user | session | key | request; default user, else key
      status: running                # running | paused | stopped
      salt: ""                       # change it to reshuffle every unit
      guardrail: {min_requests: 100, p_value: 0.01}   # or `false`
  experiment_feedback: {ttl_seconds: 3600, max_requests: 100000}
```

`parse` only reads shapes (and never raises: every problem names its field); `check` knows meaning
(names that must resolve, overlaps) and is run by `gateway.config.validate`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from gateway.config.model import Snapshot
from gateway.config.problems import Problems
from gateway.experiments.assign import draw_prefix, normalised

RUNNING, PAUSED, STOPPED = "running", "paused", "stopped"
STATUSES = (RUNNING, PAUSED, STOPPED)
UNITS = ("user", "session", "key", "request")
DEFAULT_UNIT = "user"  # falls back to the API key when the body names no user
ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
SESSION_HEADER = b"x-session-id"
WHERE = "model_routing.experiments"
FEEDBACK_WHERE = "model_routing.experiment_feedback"
_KNOWN_KEYS = frozenset(
    {
        "id",
        "name",
        "models",
        "weights",
        "traffic_percentage",
        "applies_to",
        "unit",
        "status",
        "salt",
        "guardrail",
    }
)


@dataclass(frozen=True, slots=True)
class Guardrail:
    """Stop the experiment when a variant's error rate is worse than the control's with p < p_value
    (one-sided two-proportion z-test), once both have at least `min_requests` outcomes."""

    enabled: bool = True
    min_requests: int = 100
    p_value: float = 0.01


@dataclass(frozen=True, slots=True)
class ExperimentSpec:
    id: str
    name: str
    models: tuple[str, ...]  # variant names (model groups or aliases); models[0] is the control
    weights: tuple[float, ...]  # normalised to sum to 1
    traffic_percentage: float = 100.0
    applies_to: tuple[str, ...] = ()
    unit: str = DEFAULT_UNIT
    unit_fallback: bool = True  # `unit` was not written: user, else key
    status: str = RUNNING
    salt: str = ""
    guardrail: Guardrail = field(default_factory=Guardrail)
    index: int = 0  # position in the list, so problems can name `experiments[i]`

    @property
    def control(self) -> str:
        return self.models[0]

    @property
    def traffic_prefix(self) -> bytes:
        return draw_prefix(self.id, self.salt, "traffic")

    def variant_prefixes(self) -> tuple[bytes, ...]:
        return tuple(draw_prefix(self.id, self.salt, f"variant:{m}") for m in self.models)


@dataclass(frozen=True, slots=True)
class FeedbackSettings:
    ttl_seconds: float = 3600.0
    max_requests: int = 100_000


@dataclass(frozen=True, slots=True)
class ExperimentsConfig:
    experiments: tuple[ExperimentSpec, ...] = ()
    feedback: FeedbackSettings = field(default_factory=FeedbackSettings)


@lru_cache(maxsize=4)
def experiments_of(snapshot: Snapshot) -> ExperimentsConfig:
    """The experiments of a validated snapshot (parsed once per snapshot; problems were reported when
    it was validated)."""
    return parse(snapshot.model_routing, Problems())


def parse(model_routing: Mapping[str, Any], problems: Problems) -> ExperimentsConfig:
    raw = model_routing.get("experiments")
    feedback = _feedback(model_routing.get("experiment_feedback"), problems)
    if raw is None:  # `experiments:` with every entry commented out
        return ExperimentsConfig((), feedback)
    if not isinstance(raw, list):
        problems.error(WHERE, "must be a list of experiments")
        return ExperimentsConfig((), feedback)
    specs: list[ExperimentSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        spec = _experiment(item, i, problems)
        if spec is None:
            continue
        if spec.id in seen:
            problems.error(f"{WHERE}[{i}].id", f"duplicate experiment id {spec.id!r}")
            continue
        seen.add(spec.id)
        specs.append(spec)
    return ExperimentsConfig(tuple(specs), feedback)


def _experiment(item: Any, i: int, problems: Problems) -> ExperimentSpec | None:
    w = f"{WHERE}[{i}]"
    if not isinstance(item, dict):
        problems.error(w, "must be a mapping with id, models and traffic_percentage")
        return None
    for key in item:
        if key not in _KNOWN_KEYS:
            problems.warning(f"{w}.{key}", "unknown experiment key, ignored")
    ok = True
    exp_id = item.get("id")
    if not isinstance(exp_id, str) or not ID_PATTERN.match(exp_id):
        problems.error(f"{w}.id", "is required: 1-64 letters, digits or - _ . :")
        ok = False
    models = _names(item.get("models"), f"{w}.models", problems)
    if len(models) < 2:
        problems.error(f"{w}.models", "needs at least two model groups or aliases (the first is the control)")
        ok = False
    elif len(set(models)) != len(models):
        problems.error(f"{w}.models", "lists a model twice")
        ok = False
    weights = _weights(item.get("weights"), len(models), f"{w}.weights", problems)
    traffic = _percentage(item.get("traffic_percentage"), f"{w}.traffic_percentage", problems)
    applies_to = (
        _names(item.get("applies_to"), f"{w}.applies_to", problems) if "applies_to" in item else models
    )
    unit = item.get("unit")
    if unit is not None and unit not in UNITS:
        problems.error(f"{w}.unit", f"must be one of {', '.join(UNITS)}, got {unit!r}")
        ok = False
    status = item.get("status", RUNNING)
    if status not in STATUSES:
        problems.error(f"{w}.status", f"must be one of {', '.join(STATUSES)}, got {status!r}")
        ok = False
    salt = item.get("salt", "")
    if not isinstance(salt, (str, int)) or isinstance(salt, bool):
        problems.error(f"{w}.salt", "must be a string")
        ok = False
    name = item.get("name", exp_id)
    if not isinstance(name, str):
        problems.error(f"{w}.name", "must be a string")
        ok = False
    guardrail = _guardrail(item.get("guardrail"), f"{w}.guardrail", problems)
    if not ok or weights is None or traffic is None or guardrail is None:
        return None
    return ExperimentSpec(
        id=exp_id,
        name=name,
        models=models,
        weights=normalised(weights),
        traffic_percentage=traffic,
        applies_to=applies_to,
        unit=unit or DEFAULT_UNIT,
        unit_fallback=unit is None,
        status=status,
        salt=str(salt),
        guardrail=guardrail,
        index=i,
    )


def _names(value: Any, where: str, problems: Problems) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.error(where, "must be a list of model group or alias names")
        return ()
    return tuple(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _weights(value: Any, count: int, where: str, problems: Problems) -> tuple[float, ...] | None:
    if value is None:
        return (1.0,) * max(count, 1)
    if not isinstance(value, list) or any(_number(v) is None for v in value):
        problems.error(where, "must be a list of numbers, one per model")
        return None
    weights = tuple(float(v) for v in value)
    if count and len(weights) != count:
        problems.error(where, f"has {len(weights)} entries for {count} models")
        return None
    if any(v < 0 for v in weights) or sum(weights) <= 0:
        problems.error(where, "must not be negative, and at least one must be positive")
        return None
    return weights


def _percentage(value: Any, where: str, problems: Problems) -> float | None:
    if value is None:
        return 100.0
    number = _number(value)
    if number is None or not 0.0 <= number <= 100.0:
        problems.error(where, f"must be a number from 0 to 100, got {value!r}")
        return None
    return number


def _guardrail(value: Any, where: str, problems: Problems) -> Guardrail | None:
    if value is None or value is True:
        return Guardrail()
    if value is False:
        return Guardrail(enabled=False)
    if not isinstance(value, dict):
        problems.error(where, "must be a mapping (enabled, min_requests, p_value) or a boolean")
        return None
    default = Guardrail()
    enabled = value.get("enabled", True)
    min_requests = value.get("min_requests", default.min_requests)
    p_value = value.get("p_value", default.p_value)
    ok = True
    if not isinstance(enabled, bool):
        problems.error(f"{where}.enabled", "must be true or false")
        ok = False
    if isinstance(min_requests, bool) or not isinstance(min_requests, int) or min_requests < 1:
        problems.error(f"{where}.min_requests", f"must be a positive integer, got {min_requests!r}")
        ok = False
    number = _number(p_value)
    if number is None or not 0.0 < number < 1.0:
        problems.error(f"{where}.p_value", f"must be a number between 0 and 1, got {p_value!r}")
        ok = False
    for key in value:
        if key not in ("enabled", "min_requests", "p_value"):
            problems.warning(f"{where}.{key}", "unknown guardrail key, ignored")
    return Guardrail(bool(enabled), int(min_requests), float(p_value)) if ok else None


def _feedback(value: Any, problems: Problems) -> FeedbackSettings:
    default = FeedbackSettings()
    if value is None:
        return default
    if not isinstance(value, dict):
        problems.error(FEEDBACK_WHERE, "must be a mapping (ttl_seconds, max_requests)")
        return default
    ttl = _number(value.get("ttl_seconds", default.ttl_seconds))
    size = value.get("max_requests", default.max_requests)
    if ttl is None or ttl <= 0:
        problems.error(f"{FEEDBACK_WHERE}.ttl_seconds", "must be a positive number")
        ttl = default.ttl_seconds
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        problems.error(f"{FEEDBACK_WHERE}.max_requests", "must be a positive integer")
        size = default.max_requests
    return FeedbackSettings(ttl, size)


# --- semantic checks ------------------------------------------------------------------------------


def check(snapshot: Snapshot, problems: Problems, resolve: Callable[[str], str | None]) -> None:
    """Append the experiment problems of `snapshot`. `resolve(name)` is the group a model or alias name
    ends at (None when it names nothing), as validation reads names."""
    config = parse(snapshot.model_routing, problems)
    claimed: dict[str, str] = {}  # eligible name -> first running experiment that takes it
    for spec in config.experiments:
        w = f"{WHERE}[{spec.index}]"
        for key, names in (("models", spec.models), ("applies_to", spec.applies_to)):
            for j, name in enumerate(names):
                group = resolve(name)
                if group is None:
                    problems.error(f"{w}.{key}[{j}]", f"{name!r} is not a model group or alias")
                elif key == "models" and group not in snapshot.groups:
                    problems.warning(
                        f"{w}.{key}[{j}]",
                        f"{name!r} has no live deployment: the experiment enrols nobody until it has",
                    )
        if spec.unit == "key" and not snapshot.general.auth_enabled:
            problems.warning(f"{w}.unit", "unit 'key' with authentication off: nobody is enrolled")
        if spec.status != RUNNING:
            continue
        for name in spec.applies_to:
            other = claimed.setdefault(name, spec.id)
            if other != spec.id:
                problems.warning(
                    f"{w}.applies_to",
                    f"{name!r} is also eligible for experiment {other!r}, which takes its units first",
                )
