"""`model_routing`: auto selection settings and a capability profile per candidate model group.

One parser serves both `gateway check` (every problem reported, named by its field) and the
selector (which reads a config that already passed, and so can take defaults for anything odd).

    model_routing:
      auto_select: false          # true: every request without an explicit override is auto-routed
      auto_models: [a, b]         # the candidates; default: every group under `capabilities`
      tradeoff: 5                 # 0 = best quality ... 10 = cheapest
      session_ttl: 1800           # seconds a session keeps its model (0: no stickiness)
      session_max: 10000          # sessions remembered at most (least recently used go first)
      history_half_life: 300      # seconds for performance history to lose half its weight
      classifier: lexicon         # the task classifier: lexicon (default), learned or stacked
      min_confidence: 0.4         # optional: a likeliest task less probable than this goes to `default`
      default: a-group            # the group unsure requests go to (needed with min_confidence)
      capabilities:
        <group>:                  # or the ChatVault short form `<group>: [task, ...]`
          tasks: [task, ...]      # or {task: quality 0..1}; omitted = a generalist
          quality: 0.5            # the group's overall quality tier, 0..1
          max_complexity: 1.0     # requests harder than this are penalised
          supports_tools / supports_vision / supports_json / supports_json_schema: bool
          context_window: int     # tokens; default: model_info, then LiteLLM's map
          max_output_tokens: int
          input_cost_per_million / output_cost_per_million: USD per 1M tokens

What is not configured comes from the deployments: their `model_info` (LiteLLM's keys:
`max_input_tokens`, `input_cost_per_token`, `supports_vision`, ...), then LiteLLM's bundled map for
`model_info.base_model` or the deployment's model. Across a group's deployments the context window
is the smallest, prices the highest, and a feature counts only when every deployment has it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gateway import model_map
from gateway.config.model import Deployment, Snapshot
from gateway.config.problems import Problems
from gateway.router_model.choice import CLASSIFIERS
from gateway.router_model.tasks import TASKS

W = "model_routing"
AUTO_MODEL = "auto"
DEFAULT_TRADEOFF = 5.0
DEFAULT_SESSION_TTL = 1800.0
DEFAULT_SESSION_MAX = 10_000
DEFAULT_HALF_LIFE = 300.0
DEFAULT_QUALITY = 0.5
ROUTING_KEYS = frozenset(
    {
        "auto_select",
        "auto_models",
        "tradeoff",
        "session_ttl",
        "session_max",
        "history_half_life",
        "capabilities",
        "min_confidence",
        "default",
        "classifier",
    }
)
OTHER_OWNERS = ("experiment",)  # `experiments`, `experiment_feedback`: checked by gateway.experiments
# config key -> the LiteLLM map / model_info flag it defaults from (None: no flag, unknown by default)
FEATURES: dict[str, str | None] = {
    "supports_tools": "supports_function_calling",
    "supports_vision": "supports_vision",
    "supports_json": None,  # JSON mode: nearly every chat model has it; the map does not say
    "supports_json_schema": "supports_response_schema",
}
PROFILE_KEYS = frozenset(
    {
        "tasks",
        "quality",
        "max_complexity",
        "context_window",
        "max_output_tokens",
        "input_cost_per_million",
        "output_cost_per_million",
        "supports_n",
        *FEATURES,
    }
)
# Providers whose chat API has no `n` (several choices): through LiteLLM a request with n > 1 fails
# with UnsupportedParamsError there, unless `drop_params` is set (then LiteLLM drops n, one choice).
NO_N_PROVIDERS = frozenset({"anthropic", "bedrock", "bedrock_converse", "cohere", "cohere_chat"})


@dataclass(frozen=True, slots=True)
class Profile:
    """What one candidate group can do and costs. None: unknown (a filter then lets it through)."""

    group: str
    quality: float = DEFAULT_QUALITY
    tasks: Mapping[str, float | None] | None = None  # task -> quality prior (None: listed, no prior)
    max_complexity: float = 1.0
    tools: bool | None = None
    vision: bool | None = None
    json: bool | None = None
    json_schema: bool | None = None
    choices: bool | None = None  # honours n > 1
    context_window: int | None = None
    max_output_tokens: int | None = None
    input_cost: float | None = None  # USD per token
    output_cost: float | None = None


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    auto_select: bool = False
    tradeoff: float = DEFAULT_TRADEOFF
    session_ttl: float = DEFAULT_SESSION_TTL
    session_max: int = DEFAULT_SESSION_MAX
    history_half_life: float = DEFAULT_HALF_LIFE
    candidates: tuple[str, ...] = ()
    profiles: Mapping[str, Profile] = field(default_factory=lambda: MappingProxyType({}))
    min_confidence: float = 0.0  # below this task probability the request goes to `default`
    default: str | None = None  # a model group
    classifier: str = "lexicon"  # `choice.CLASSIFIERS`

    @property
    def enabled(self) -> bool:
        return bool(self.candidates)


class _Reader:
    """Typed reads of config values that report problems by field (silently default without Problems)."""

    def __init__(self, problems: Problems | None) -> None:
        self.problems = problems

    def error(self, where: str, message: str) -> None:
        if self.problems is not None:
            self.problems.error(where, message)

    def warning(self, where: str, message: str) -> None:
        if self.problems is not None:
            self.problems.warning(where, message)

    def boolean(self, value: Any, where: str, default: bool | None) -> bool | None:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(where, f"must be true or false, got {value!r}")
            return default
        return value

    def number(
        self, value: Any, where: str, default: float | None, low: float, high: float | None
    ) -> float | None:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error(where, f"must be a number, got {value!r}")
            return default
        if value < low or (high is not None and value > high):
            span = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            self.error(where, f"must be {span}, got {value:g}")
            return default
        return float(value)

    def integer(self, value: Any, where: str, default: int | None, low: int) -> int | None:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            self.error(where, f"must be a whole number of at least {low}, got {value!r}")
            return default
        return value


def check(snapshot: Snapshot, problems: Problems, resolve_name: Callable[[str], str | None]) -> None:
    """Report every problem of `model_routing` (for `gateway check`, serve and reload)."""
    parse(snapshot.model_routing, snapshot, problems, resolve_name)


def parse(
    raw: Mapping[str, Any],
    snapshot: Snapshot,
    problems: Problems | None = None,
    resolve_name: Callable[[str], str | None] | None = None,
) -> RoutingConfig:
    """`model_routing` as a `RoutingConfig`. With `problems`, every problem is reported there.

    `resolve_name` maps a group or alias name to its group (None: unknown); by default the snapshot's
    live groups and aliases. Candidates whose deployments were all skipped are left out.
    """
    read = _Reader(problems)
    resolve_name = resolve_name or _live_resolver(snapshot)
    for key in raw:
        if key not in ROUTING_KEYS and not str(key).startswith(OTHER_OWNERS):
            read.warning(f"{W}.{key}", "unknown key, ignored")
    auto_select = read.boolean(raw.get("auto_select"), f"{W}.auto_select", False)
    tradeoff = read.number(raw.get("tradeoff"), f"{W}.tradeoff", DEFAULT_TRADEOFF, 0, 10)
    ttl = read.number(raw.get("session_ttl"), f"{W}.session_ttl", DEFAULT_SESSION_TTL, 0, None)
    session_max = read.integer(raw.get("session_max"), f"{W}.session_max", DEFAULT_SESSION_MAX, 1)
    half_life = read.number(
        raw.get("history_half_life"), f"{W}.history_half_life", DEFAULT_HALF_LIFE, 1, None
    )
    min_confidence = read.number(raw.get("min_confidence"), f"{W}.min_confidence", 0.0, 0, 1)
    default = raw.get("default")
    if default is not None:
        if not isinstance(default, str) or resolve_name(default) is None:
            read.error(f"{W}.default", f"{default!r} is not a model group or alias")
            default = None
        else:
            default = resolve_name(default)
    if min_confidence and default is None and raw.get("default") is None:
        read.error(f"{W}.min_confidence", "needs model_routing.default: the group unsure requests go to")
        min_confidence = 0.0
    classifier = raw.get("classifier", "lexicon")
    if classifier not in CLASSIFIERS:
        read.error(f"{W}.classifier", f"{classifier!r} is not one of {', '.join(CLASSIFIERS)}")
        classifier = "lexicon"
    profiles: dict[str, Profile] = {}
    caps = raw.get("capabilities")
    if caps is not None and not isinstance(caps, Mapping):
        read.error(f"{W}.capabilities", "must be a mapping of model group to its capabilities")
        caps = {}
    for name, spec in (caps or {}).items():
        where = f"{W}.capabilities.{name}"
        group = resolve_name(str(name))
        if group is None:
            read.error(where, f"{name!r} is not a model group or alias")
            continue
        profile = _profile(group, spec, where, read, snapshot)
        if profile is not None:
            profiles[group] = profile
    candidates = _candidates(raw.get("auto_models"), profiles, resolve_name, read)
    for group in candidates:
        if group not in profiles:
            profiles[group] = _profile(group, {}, f"{W}.auto_models", read, snapshot) or Profile(group)
    if auto_select and not candidates:
        read.error(f"{W}.auto_select", "is true but there is no candidate: set auto_models or capabilities")
    if snapshot.default_model == AUTO_MODEL and not candidates:
        read.warning(
            "GRID_AI_MODEL", "is 'auto' but model_routing has no candidate: requests naming no model get 404"
        )
    live = [g for g in candidates if g in snapshot.groups]
    return RoutingConfig(
        auto_select=bool(auto_select),
        tradeoff=tradeoff if tradeoff is not None else DEFAULT_TRADEOFF,
        session_ttl=ttl if ttl is not None else DEFAULT_SESSION_TTL,
        session_max=session_max or DEFAULT_SESSION_MAX,
        history_half_life=half_life or DEFAULT_HALF_LIFE,
        candidates=tuple(live),
        profiles=MappingProxyType({g: profiles[g] for g in live}),
        min_confidence=min_confidence or 0.0,
        default=default if default in snapshot.groups else None,
        classifier=classifier,
    )


def _live_resolver(snapshot: Snapshot) -> Callable[[str], str | None]:
    from gateway.routing.resolve import resolver_for  # late: keeps this module importable on its own

    return resolver_for(snapshot).group_of


def _candidates(value: Any, profiles: Mapping[str, Profile], resolve_name, read: _Reader) -> list[str]:
    if value is None:
        return list(profiles)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        read.error(f"{W}.auto_models", "must be a list of model group names")
        return list(profiles)
    groups: list[str] = []
    for i, name in enumerate(value):
        if name == AUTO_MODEL:
            read.error(f"{W}.auto_models[{i}]", "'auto' cannot be its own candidate")
            continue
        group = resolve_name(name)
        if group is None:
            read.error(f"{W}.auto_models[{i}]", f"{name!r} is not a model group or alias")
        elif group not in groups:
            groups.append(group)
    return groups


def _profile(group: str, spec: Any, where: str, read: _Reader, snapshot: Snapshot) -> Profile | None:
    if isinstance(spec, list):
        spec = {"tasks": spec}  # the ChatVault form: `group: [task, ...]`
    elif spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        read.error(where, "must be a mapping (tasks, quality, supports_*, ...) or a list of tasks")
        return None
    for key in spec:
        if key not in PROFILE_KEYS:
            read.warning(f"{where}.{key}", "unknown key, ignored")
    known = _from_deployments(snapshot.groups[group].deployments) if group in snapshot.groups else {}
    features = {key: read.boolean(spec.get(key), f"{where}.{key}", known.get(key)) for key in FEATURES}
    choices = read.boolean(spec.get("supports_n"), f"{where}.supports_n", known.get("supports_n"))
    window = read.integer(spec.get("context_window"), f"{where}.context_window", None, 1)
    max_out = read.integer(spec.get("max_output_tokens"), f"{where}.max_output_tokens", None, 1)
    cost_in = read.number(
        spec.get("input_cost_per_million"), f"{where}.input_cost_per_million", None, 0, None
    )
    cost_out = read.number(
        spec.get("output_cost_per_million"), f"{where}.output_cost_per_million", None, 0, None
    )
    quality = read.number(spec.get("quality"), f"{where}.quality", DEFAULT_QUALITY, 0, 1)
    ceiling = read.number(spec.get("max_complexity"), f"{where}.max_complexity", 1.0, 0, 1)
    return Profile(
        group=group,
        quality=DEFAULT_QUALITY if quality is None else quality,
        tasks=_tasks(spec.get("tasks"), f"{where}.tasks", read),
        max_complexity=1.0 if ceiling is None else ceiling,
        tools=features["supports_tools"],
        vision=features["supports_vision"],
        json=features["supports_json"],
        json_schema=features["supports_json_schema"],
        choices=choices,
        context_window=window if window is not None else known.get("context_window"),
        max_output_tokens=max_out if max_out is not None else known.get("max_output_tokens"),
        input_cost=cost_in / 1e6 if cost_in is not None else known.get("input_cost"),
        output_cost=cost_out / 1e6 if cost_out is not None else known.get("output_cost"),
    )


def _tasks(value: Any, where: str, read: _Reader) -> Mapping[str, float | None] | None:
    if value is None:
        return None
    allowed = ", ".join(TASKS)
    if isinstance(value, list):
        items: list[tuple[Any, Any]] = [(t, None) for t in value]
    elif isinstance(value, Mapping):
        items = list(value.items())
    else:
        read.error(where, f"must be a list of tasks or a mapping of task to quality 0..1 (tasks: {allowed})")
        return None
    tasks: dict[str, float | None] = {}
    for task, quality in items:
        if task not in TASKS:
            read.error(where, f"unknown task {task!r} (one of: {allowed})")
            continue
        tasks[task] = None if quality is None else read.number(quality, f"{where}.{task}", None, 0, 1)
    return MappingProxyType(tasks)


def _from_deployments(deployments: tuple[Deployment, ...]) -> dict[str, Any]:
    """Capabilities and prices a group's deployments are known to have (see the module docstring)."""
    windows: list[int] = []
    outputs: list[int] = []
    prices: dict[str, list[float]] = {"input_cost_per_token": [], "output_cost_per_token": []}
    flags: dict[str, list[bool]] = {key: [] for key, flag in FEATURES.items() if flag}
    for dep in deployments:
        info = dep.model_info
        base = info.get("base_model")
        table = (model_map.model_info(base) if isinstance(base, str) else None) or model_map.model_info(
            dep.model
        )

        def look(key: str, info: Mapping[str, Any] = info, table: Mapping[str, Any] | None = table) -> Any:
            value = info.get(key)
            return value if value is not None or table is None else table.get(key)

        window = _positive(look("max_input_tokens")) or _positive(look("max_tokens"))
        if window:
            windows.append(window)
        output = _positive(look("max_output_tokens"))
        if output:
            outputs.append(output)
        for key, into in prices.items():
            value = look(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                into.append(float(value))
        for key in flags:
            value = look(FEATURES[key] or "")
            if isinstance(value, bool):
                flags[key].append(value)
            elif table is not None:  # listed without the flag: it has not got it (LiteLLM's reading)
                flags[key].append(False)
    known: dict[str, Any] = {}
    if windows:
        known["context_window"] = min(windows)
    if outputs:
        known["max_output_tokens"] = min(outputs)
    if prices["input_cost_per_token"]:
        known["input_cost"] = max(prices["input_cost_per_token"])
    if prices["output_cost_per_token"]:
        known["output_cost"] = max(prices["output_cost_per_token"])
    for key, values in flags.items():
        if values and len(values) == len(deployments):
            known[key] = all(values)
    if deployments and all(
        d.provider in NO_N_PROVIDERS and d.path == "litellm" and not d.litellm_params.get("drop_params")
        for d in deployments
    ):
        known["supports_n"] = False
    return known


def _positive(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return int(value)
