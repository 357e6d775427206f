"""Fault rules: what can go wrong with the next matching request, switchable at run time.

Tests of retries, breakers, fallbacks and stream relaying need an upstream that misbehaves on cue and
in a precise way. A rule is validated once when it is added (errors name the offending field), then
matching is a cheap scan of a short list. Only the first matching rule applies to a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_MATCH_FIELDS = frozenset({"path", "model", "stream"})
_RULE_FIELDS = frozenset(
    {
        "match",
        "times",
        "status",
        "retry_after",
        "message",
        "delay",
        "stall",
        "cut_after",
        "end_after",
        "garbage_after",
        "error_event",
        "malformed",
        "chunks",
        "chunk_delay",
    }
)


class FaultRuleError(ValueError):
    """A rule that cannot be applied; the message names the field."""


@dataclass(slots=True)
class FaultRule:
    """One validated rule. `None`/`0`/`False` means "this fault is off"."""

    match: dict[str, Any] = field(default_factory=dict)
    times: int | None = None
    status: int | None = None
    retry_after: str | None = None
    message: str | None = None
    delay: float = 0.0
    stall: float = 0.0
    cut_after: int | None = None
    end_after: int | None = None
    garbage_after: int | None = None
    error_event: bool = False
    malformed: bool = False
    chunks: int | None = None
    chunk_delay: float = 0.0

    def matches(self, path: str, model: Any, stream: bool) -> bool:
        """Whether every filter given in `match` agrees with this request."""
        m = self.match
        if not m:
            return True
        if "path" in m and m["path"] != path:
            return False
        if "model" in m and m["model"] != model:
            return False
        return not ("stream" in m and m["stream"] != stream)

    def to_dict(self) -> dict[str, Any]:
        """The rule as given (defaults left out); `times` is what remains."""
        out: dict[str, Any] = {}
        if self.match:
            out["match"] = dict(self.match)
        for name in sorted(_RULE_FIELDS - {"match"}):
            value = getattr(self, name)
            if value != getattr(_DEFAULT_RULE, name):
                out[name] = value
        return out


_DEFAULT_RULE = FaultRule()


def _number(data: dict, name: str, *, integer: bool = False, minimum: float = 0) -> Any:
    value = data[name]
    ok_types = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_types):
        raise FaultRuleError(f"fault field '{name}' must be {'an integer' if integer else 'a number'}")
    if value < minimum:
        raise FaultRuleError(f"fault field '{name}' must be >= {minimum}")
    return value


def _flag(data: dict, name: str) -> bool:
    value = data[name]
    if not isinstance(value, bool):
        raise FaultRuleError(f"fault field '{name}' must be true or false")
    return value


def _parse_match(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FaultRuleError("fault field 'match' must be an object")
    unknown = set(value) - _MATCH_FIELDS
    if unknown:
        raise FaultRuleError(f"unknown fault match field(s): {', '.join(sorted(unknown))}")
    if "path" in value and not isinstance(value["path"], str):
        raise FaultRuleError("fault field 'match.path' must be a string")
    if "model" in value and not isinstance(value["model"], str):
        raise FaultRuleError("fault field 'match.model' must be a string")
    if "stream" in value and not isinstance(value["stream"], bool):
        raise FaultRuleError("fault field 'match.stream' must be true or false")
    return dict(value)


def parse_rule(data: Any) -> FaultRule:
    """Validate a rule given as JSON; raise FaultRuleError naming the first bad field."""
    if not isinstance(data, dict):
        raise FaultRuleError("a fault rule must be a JSON object")
    unknown = set(data) - _RULE_FIELDS
    if unknown:
        raise FaultRuleError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
    rule = FaultRule()
    if "match" in data:
        rule.match = _parse_match(data["match"])
    if "times" in data:
        rule.times = _number(data, "times", integer=True, minimum=1)
    if "status" in data:
        rule.status = _number(data, "status", integer=True, minimum=400)
        if rule.status > 599:
            raise FaultRuleError("fault field 'status' must be an error status (400-599)")
    if "retry_after" in data:
        value = data["retry_after"]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise FaultRuleError("fault field 'retry_after' must be a string or a number")
        rule.retry_after = str(value)
    if "message" in data:
        if not isinstance(data["message"], str):
            raise FaultRuleError("fault field 'message' must be a string")
        rule.message = data["message"]
    for name in ("delay", "stall", "chunk_delay"):
        if name in data:
            setattr(rule, name, float(_number(data, name)))
    if "cut_after" in data:
        rule.cut_after = _number(data, "cut_after", integer=True)
    for name in ("end_after", "garbage_after"):
        if name in data:
            setattr(rule, name, _number(data, name, integer=True, minimum=1))
    if "chunks" in data:
        rule.chunks = _number(data, "chunks", integer=True, minimum=1)
    for name in ("error_event", "malformed"):
        if name in data:
            setattr(rule, name, _flag(data, name))
    return rule


class FaultBook:
    """The ordered list of active rules of one mock instance."""

    __slots__ = ("_rules",)

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []

    def __len__(self) -> int:
        return len(self._rules)

    def add(self, rule: FaultRule) -> None:
        self._rules.append(rule)

    def clear(self) -> None:
        self._rules.clear()

    def to_list(self) -> list[dict[str, Any]]:
        return [rule.to_dict() for rule in self._rules]

    def take(self, path: str, model: Any, stream: bool) -> FaultRule | None:
        """The first rule matching this request, spending one of its `times` (dropped at zero)."""
        for i, rule in enumerate(self._rules):
            if rule.matches(path, model, stream):
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        del self._rules[i]
                return rule
        return None
