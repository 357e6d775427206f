"""The immutable configuration snapshot.

Everything the request path needs is resolved once, here, so the hot path reads plain attributes.
Reload builds a new snapshot and swaps one reference; in-flight requests finish on the old one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from gateway.config.connection import ConnectionLimits
from gateway.config.otel import OtelSettings

UpstreamPath = Literal["passthrough", "litellm"]

EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True, eq=False)
class Deployment:
    """One provider instance serving a model group (one `model_list` entry)."""

    id: str
    group: str
    model: str  # litellm_params.model as written, e.g. "openai/gpt-4o-mini"
    provider: str  # "openai", "anthropic", ...
    upstream_model: str  # the name sent upstream (provider prefix stripped)
    path: UpstreamPath
    api_base: str | None  # passthrough: base URL ending before /chat/completions
    api_key: str | None = field(default=None, repr=False)
    weight: float = 1.0
    rpm: int | None = None
    tpm: int | None = None
    timeout: float = 600.0
    stream_timeout: float | None = None
    max_retries: int | None = None
    standby: bool = False  # serves only when no other deployment of its group is live
    litellm_params: Mapping[str, Any] = field(default_factory=lambda: EMPTY, repr=False)
    model_info: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    index: int = -1  # position in model_list, so problems can name `model_list[i]`

    @property
    def first_byte_timeout(self) -> float:
        return self.stream_timeout if self.stream_timeout is not None else self.timeout


@dataclass(frozen=True, slots=True)
class ModelGroup:
    """Deployments sharing one `model_name`."""

    name: str
    deployments: tuple[Deployment, ...]
    # the most prompt tokens some deployment takes (gateway.tokens.group_window); None: unknown
    context_window: int | None = None
    # what the group serves: "chat" (chat and text completions), "embedding", or another LiteLLM
    # `mode` (image_generation, ...); from model_info.mode, else LiteLLM's model map (gateway.config.kinds)
    kind: str = "chat"


@dataclass(frozen=True, slots=True, eq=False)
class RouterSettings:
    routing_strategy: str = "weighted-round-robin"
    num_retries: int = 2
    retry_after: float = 0.0  # minimum seconds between retries (LiteLLM's meaning)
    allowed_fails: int = 3
    cooldown_time: float = 5.0
    timeout: float | None = None
    stream_timeout: float | None = None
    request_timeout: float = 600.0  # one deadline per request, across retries, fallbacks and streaming
    fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: EMPTY)
    context_window_fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: EMPTY)
    model_group_alias: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    fallback_chain: tuple[str, ...] = ()  # GRID_MODEL_FALLBACK_CHAIN
    health_check_interval: float | None = None
    health_check_mode: str = "models"  # "models" (GET /models) or "completion" (a 1-token completion)
    redis_url: str | None = field(default=None, repr=False)  # the shared state backend; None: in-process


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """A key's limits (LiteLLM's names). None: no such limit. `budget_duration` in seconds; None with a
    `max_budget`: the budget is for the key's lifetime."""

    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel_requests: int | None = None
    max_budget: float | None = None
    budget_duration: float | None = None

    @property
    def any(self) -> bool:
        return (
            self.rpm_limit is not None
            or self.tpm_limit is not None
            or self.max_parallel_requests is not None
            or self.max_budget is not None
        )


NO_LIMITS = KeyLimits()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A client key. `models` empty means every model; `admin` grants /admin/*.

    `id` names the key's shared state (windows, spend): for a configured key a hash of the key itself,
    so replicas sharing a config share its state under any name; for an admin-created key its id.
    `limited` is read on every request: a key without limits costs no state lookup at all."""

    name: str
    key: str = field(repr=False)
    models: frozenset[str] = frozenset()
    admin: bool = False
    allow_override: bool = True
    id: str = ""
    limits: KeyLimits = NO_LIMITS
    metadata: Mapping[str, Any] = field(default_factory=lambda: EMPTY, compare=False)  # unhashable
    limited: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "limited", self.limits.any)


@dataclass(frozen=True, slots=True)
class GeneralSettings:
    keys: tuple[ApiKey, ...] = ()  # master key first when set
    max_body_bytes: int = 32 * 1024 * 1024
    max_json_depth: int = 64  # deeper request bodies are a 400 (gateway.json_limits)
    connection: ConnectionLimits = field(default_factory=ConnectionLimits)
    otel: OtelSettings = field(default_factory=OtelSettings)  # traces (gateway.tracing); off by default
    key_store: str = "grid-keys.json"  # admin-created keys (in-process backend), beside the config

    @property
    def auth_enabled(self) -> bool:
        return bool(self.keys)


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    """The whole configuration, validated and frozen."""

    groups: Mapping[str, ModelGroup]
    router: RouterSettings
    general: GeneralSettings
    default_model: str | None = None  # GRID_AI_MODEL
    skipped: tuple[tuple[str, str], ...] = ()  # (deployment id, reason) not loaded
    skipped_groups: frozenset[str] = frozenset()  # model_names of skipped deployments
    model_routing: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    source: str = ""
    cache: Any = None  # gateway.cache.settings.CacheSettings when the response cache is on

    @property
    def deployments(self) -> tuple[Deployment, ...]:
        return tuple(d for g in self.groups.values() for d in g.deployments)
