"""A key's limits and metadata, read from a `general_settings.api_keys` entry or an admin API body.

One reader for both, so a limit means the same whether it was written in YAML or POSTed to
`/admin/keys`; problems name the field (`general_settings.api_keys[2].rpm_limit`, `rpm_limit`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from gateway.config.model import EMPTY, KeyLimits
from gateway.config.problems import Problems

LIMIT_FIELDS = ("rpm_limit", "tpm_limit", "max_parallel_requests", "max_budget", "budget_duration")

# LiteLLM's budget_duration syntax: a number and a unit (`30s`, `1h`, `1d`, `30d`; `mo` is 30 days)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|mo)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "mo": 30 * 86400}


def parse_duration(text: str) -> float | None:
    """`1h` -> 3600.0; None when the text is not a duration."""
    found = _DURATION.match(text)
    if not found or float(found.group(1)) <= 0:
        return None
    return float(found.group(1)) * _UNIT_SECONDS[found.group(2)]


def config_key_id(key: str) -> str:
    """The state id of a configured key: a hash of the key (never the key), the same on every replica."""
    return "cfg-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _count(value: Any, where: str, problems: Problems) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.error(where, "must be a whole number, 0 or more")
        return None
    return value


def key_limits(item: Mapping[str, Any], where: str, problems: Problems) -> KeyLimits:
    """The limits of one key entry; `where` prefixes the field names in problems ("" for the API)."""
    at = f"{where}." if where else ""
    budget = item.get("max_budget")
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget < 0
    ):
        problems.error(f"{at}max_budget", "must be a number of USD, 0 or more")
        budget = None
    duration_text = item.get("budget_duration")
    duration = None
    if duration_text is not None:
        duration = parse_duration(duration_text) if isinstance(duration_text, str) else None
        if duration is None:
            problems.error(f"{at}budget_duration", "must be a duration like 30s, 10m, 1h, 1d or 30d")
    return KeyLimits(
        rpm_limit=_count(item.get("rpm_limit"), f"{at}rpm_limit", problems),
        tpm_limit=_count(item.get("tpm_limit"), f"{at}tpm_limit", problems),
        max_parallel_requests=_count(
            item.get("max_parallel_requests"), f"{at}max_parallel_requests", problems
        ),
        max_budget=None if budget is None else float(budget),
        budget_duration=duration,
    )


def key_metadata(value: Any, where: str, problems: Problems) -> Mapping[str, Any]:
    if value is None:
        return EMPTY
    if not isinstance(value, dict):
        problems.error(where, "must be a mapping")
        return EMPTY
    return MappingProxyType(dict(value))


def key_models(value: Any, where: str, problems: Problems) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
        problems.error(where, "must be a list of model groups or aliases")
        return frozenset()
    return frozenset(value)
