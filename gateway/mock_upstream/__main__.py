"""`python -m gateway.mock_upstream --host 127.0.0.1 --port 8100 [--name NAME]`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from gateway.mock_upstream.runner import serve
from gateway.mock_upstream.state import DEFAULT_RECORD_LIMIT


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (it is a gateway dependency): the mock must not be the benchmark's bottleneck."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.mock_upstream", description="GRID mock LLM upstream"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100, help="0 picks a free port (printed at startup)")
    parser.add_argument("--name", default="mock", help="sent back in the x-mock-name header")
    parser.add_argument("--require-key", default=None, help="answer 401 unless this key is sent")
    parser.add_argument("--models", default=None, help="comma-separated ids for GET /v1/models")
    parser.add_argument("--record-limit", type=int, default=DEFAULT_RECORD_LIMIT, help="0 disables recording")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(
            serve(
                args.host,
                args.port,
                args.name,
                require_key=args.require_key,
                models=models,
                record_limit=args.record_limit,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
