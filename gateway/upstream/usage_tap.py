"""Read token usage off a relayed event stream, and strip the usage event the client did not ask for.

To count tokens for streams the gateway asks upstream for `stream_options.include_usage`. If the client
did not ask for it, that extra final event (`"choices": []` with `usage`) is removed again, so the
client sees exactly what it would have seen from the provider.

Events are framed on blank lines; only complete events are passed on (a partial event waits for its
end, which a client could not have used anyway). Only events mentioning `"usage"` are parsed.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.upstream.stream import complete_events

USAGE = b'"usage"'


class UsageTap:
    __slots__ = ("carry", "strip", "usage")

    def __init__(self, strip: bool) -> None:
        self.carry = b""
        self.strip = strip
        self.usage: dict[str, Any] | None = None

    def feed(self, chunk: bytes) -> bytes:
        complete, self.carry = complete_events(self.carry, chunk)
        if not complete:
            return b""
        if USAGE in complete:
            complete = self._scan(complete)
        return complete

    def flush(self) -> bytes:
        rest, self.carry = self.carry, b""
        if USAGE in rest:
            rest = self._scan(rest)
        return rest

    def _scan(self, block: bytes) -> bytes:
        events = block.split(b"\n\n")
        changed = False
        for i, event in enumerate(events):
            if USAGE in event:
                new = self._take_usage(event)
                if new is not event:
                    events[i] = new
                    changed = True
        if not changed:
            return block
        return b"\n\n".join(e for e in events if e is not None)

    def _take_usage(self, event: bytes) -> bytes | None:
        """Record the usage an event carries. When stripping: None drops a usage-only event, and an
        event that also carries choices (LiteLLM puts usage on its last delta) loses its `usage`."""
        line = event.strip()
        if not line.startswith(b"data:"):
            return event
        try:
            payload = orjson.loads(line[5:])
        except orjson.JSONDecodeError:
            return event
        if not isinstance(payload, dict) or not isinstance(payload.get("usage"), dict):
            return event
        self.usage = payload["usage"]
        if not self.strip:
            return event
        if payload.get("choices") == []:
            return None
        del payload["usage"]
        return b"data: " + orjson.dumps(payload)
