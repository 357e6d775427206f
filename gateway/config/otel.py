"""`general_settings.otel` and the standard `OTEL_*` variables: whether and where GRID exports traces.

Tracing is off unless an OTLP endpoint is given. The variables win over the file (as everywhere in
GRID's config), and `OTEL_SDK_DISABLED=true` turns it off whatever the file says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.config.probe import is_http_url
from gateway.config.problems import Problems
from gateway.config.values import Missing

SAMPLERS = frozenset(
    {
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    }
)


@dataclass(frozen=True, slots=True)
class OtelSettings:
    endpoint: str | None = None  # the OTLP/HTTP traces URL (`<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces`)
    service_name: str = "grid-gateway"
    sampler: str = "parentbased_always_on"
    sampler_arg: float = 1.0  # the ratio of the *traceidratio samplers

    @property
    def enabled(self) -> bool:
        return self.endpoint is not None


def otel_settings(raw: Any, env: Mapping[str, str], problems: Problems) -> OtelSettings:
    w = "general_settings.otel"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problems.error(w, "must be a mapping (endpoint, service_name, sampler, sampler_arg)")
        raw = {}
    file = {k: (None if isinstance(v, Missing) else v) for k, v in raw.items()}
    for key in set(file) - {"enabled", "endpoint", "service_name", "sampler", "sampler_arg"}:
        problems.warning(f"{w}.{key}", "unknown key, ignored")
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true" or file.get("enabled") is False:
        return OtelSettings()
    endpoint = _endpoint(env, file, w, problems)
    sampler = (env.get("OTEL_TRACES_SAMPLER") or file.get("sampler") or "parentbased_always_on").lower()
    if sampler not in SAMPLERS:
        problems.error(f"{w}.sampler", f"{sampler!r} is not one of {', '.join(sorted(SAMPLERS))}")
        sampler = "parentbased_always_on"
    arg_text = env.get("OTEL_TRACES_SAMPLER_ARG") or file.get("sampler_arg")
    arg = 1.0
    if arg_text is not None:
        try:
            arg = float(arg_text)
        except (TypeError, ValueError):
            arg = -1.0
        if not 0.0 <= arg <= 1.0:
            problems.error(f"{w}.sampler_arg", f"must be a number from 0 to 1, got {arg_text!r}")
            arg = 1.0
    service = env.get("OTEL_SERVICE_NAME") or file.get("service_name") or "grid-gateway"
    return OtelSettings(endpoint=endpoint, service_name=str(service), sampler=sampler, sampler_arg=arg)


def _endpoint(env: Mapping[str, str], file: dict[str, Any], where: str, problems: Problems) -> str | None:
    """The traces URL: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, else the base endpoint (env, then
    the file) with `/v1/traces` appended, as the OTLP exporter specification says."""
    full = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or file.get("endpoint")
    url = full or (f"{str(base).rstrip('/')}/v1/traces" if base else None)
    if url is not None and not is_http_url(url):
        problems.error(f"{where}.endpoint", "must be an http(s) URL (the OTLP/HTTP receiver, e.g. :4318)")
        return None
    return url
