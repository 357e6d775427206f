"""Typed reading of raw config values: `os.environ/NAME` references, numbers, lists, mappings.

Each reader appends a problem naming the field instead of raising, so every problem is reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.config.problems import Problems

ENV_PREFIX = "os.environ/"


class Missing:
    """An `os.environ/NAME` reference whose variable is not set."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<unset {self.name}>"


def resolve_env(value: Any, env: Mapping[str, str]) -> Any:
    """Replace every `os.environ/NAME` string, at any depth, by the variable's value."""
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        return env[name] if name in env else Missing(name)
    if isinstance(value, dict):
        return {k: resolve_env(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, env) for v in value]
    return value


def mapping(value: Any, where: str, problems: Problems) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.error(where, "must be a mapping")
        return {}
    return value


def number(value: Any, where: str, problems: Problems, default: float | None) -> float | None:
    if value is None or isinstance(value, Missing):
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        problems.error(where, f"must be a number, got {type(value).__name__}")
        return default
    try:
        return float(value)
    except ValueError:
        problems.error(where, f"must be a number, got {value!r}")
        return default


def integer(value: Any, where: str, problems: Problems, default: int | None) -> int | None:
    n = number(value, where, problems, None)
    return default if n is None else int(n)


def str_list(value: Any, where: str, problems: Problems) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.error(where, "must be a list of model group names")
        return ()
    return tuple(value)
