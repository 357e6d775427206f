"""How the host wakes an idle CPU, which sets the floor of a lone request's latency on a VM.

A lone request through a proxy crosses CPUs four times (client -> gateway -> upstream -> gateway ->
client, with the gateway pinned apart from the rest). On bare metal an idle core wakes in a few
microseconds. A KVM guest whose idle CPUs halt at once (the `haltpoll` cpuidle driver with
`guest_halt_poll_ns=0`, as on the dev VM) pays a VM exit and the host's rescheduling of the vCPU for
each wake-up instead: on 2026-12-06 that put the bare Starlette + aiohttp pass-through at 0.93 ms
added to a lone request, against 0.21–0.26 ms with 2 ms of halt polling.

`--halt-poll NS` sets how long an idle guest CPU polls before it halts, for the bench's duration,
and puts the old value back afterwards (not after a SIGKILL). The lone-request probe gains most.
Load runs gain too (CPU per request -18% on 2026-12-06): even a loaded gateway idles for moments
between batches, and a halted vCPU's core runs other work of the host, so it resumes with cold
caches. The setting is reported with the results either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HALT_POLL = Path("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
CPUIDLE_DRIVER = Path("/sys/devices/system/cpu/cpuidle/current_driver")


def describe() -> dict[str, Any]:
    """The cpuidle driver and the guest halt polling in force now (None where the host has neither)."""
    return {"cpuidle_driver": _read(CPUIDLE_DRIVER), "guest_halt_poll_ns": _int(_read(HALT_POLL))}


@contextlib.contextmanager
def halt_polling(ns: int | None) -> Iterator[str | None]:
    """Idle CPUs poll `ns` nanoseconds before halting, inside the block (None: the host as it is).
    Yields a note when the setting could not be made; the old value is restored on the way out."""
    if ns is None:
        yield None
        return
    old = _read(HALT_POLL)
    if old is None:
        yield f"--halt-poll ignored: {HALT_POLL} does not exist (not a KVM guest with haltpoll)"
        return
    try:
        HALT_POLL.write_text(str(ns))
    except OSError as exc:
        yield f"--halt-poll ignored: cannot write {HALT_POLL} ({exc.strerror}; needs root)"
        return
    try:
        yield None
    finally:
        HALT_POLL.write_text(old)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None
