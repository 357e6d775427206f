"""Where a scenario's requests go: a port and path, the client key, extra headers, the server process."""

from __future__ import annotations

from dataclasses import dataclass

from bench.procs import Proc

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Target:
    port: int
    path: str
    key: str = ""  # sent as `Authorization: Bearer KEY` when set
    headers: Headers = ()  # anything else the server needs (Portkey's provider and upstream host)
    proc: Proc | None = None  # the server under test; None when the target is the upstream itself
