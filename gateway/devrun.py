"""`make run`: the bundled mock upstream plus the gateway, so GRID answers with no provider keys.

The shipped config.yaml gives every model group a real deployment (live when its provider key is set)
and a standby deployment on the mock upstream (live only when the group has no other live deployment).
`gateway serve` alone would start the mock at GRID_MOCK_URL's default; this starts it on `--mock-port`,
sets GRID_MOCK_URL to it, says which groups it serves, and runs `gateway serve`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from gateway.cli import main as gateway_main
from gateway.standby import wait_ready

PROVIDER_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway.devrun")
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--mock-port", type=int, default=8100)
    args = parser.parse_args(argv)

    mock = subprocess.Popen(
        [sys.executable, "-m", "gateway.mock_upstream", "--host", "127.0.0.1", "--port", str(args.mock_port)]
    )
    try:
        base = f"http://127.0.0.1:{args.mock_port}"
        wait_ready(f"{base}/v1/models", mock)
        os.environ["GRID_MOCK_URL"] = f"{base}/v1"  # OpenAI-wire standby deployments
        os.environ["GRID_MOCK_ANTHROPIC_URL"] = base  # LiteLLM appends /v1/messages
        missing = [k for k in PROVIDER_KEYS if not os.environ.get(k)]
        if missing:
            print(
                f"GRID: {', '.join(missing)} not set: those groups are served by the bundled mock upstream at {base}.",
                flush=True,
            )
        return gateway_main(["serve", "--config", args.config, "--host", args.host, "--port", str(args.port)])
    finally:
        mock.terminate()
        try:
            mock.wait(timeout=5)
        except subprocess.TimeoutExpired:
            mock.kill()


if __name__ == "__main__":
    sys.exit(main())
