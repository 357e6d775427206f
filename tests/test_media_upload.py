"""A large multipart upload is relayed as it arrives: the gateway's memory does not grow with it."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, deployment
from tests.harness import GatewayProcess, http_client, metric_value, wait_for

SIZE = 20 * 1024 * 1024
PIECE = 256 * 1024


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def upload(gw: GatewayProcess, size: int) -> tuple[int, dict, str]:
    """POST a WAV-headed file of `size` bytes in pieces; (status, json, the file's sha256)."""
    digest = hashlib.sha256()
    head = b'--zz\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper\r\n'
    head += b'--zz\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
    head += b"Content-Type: audio/wav\r\n\r\n"
    tail = b"\r\n--zz--\r\n"

    def body() -> Iterator[bytes]:
        yield head
        sent = 0
        while sent < size:
            piece = (b"RIFF" if sent == 0 else b"") + bytes([sent // PIECE % 251]) * (
                PIECE - (4 if sent == 0 else 0)
            )
            piece = piece[: size - sent]
            digest.update(piece)
            sent += len(piece)
            yield piece
        yield tail

    with http_client(gw, timeout=60) as http:
        resp = http.post(
            "/v1/audio/transcriptions",
            content=body(),
            headers={"content-type": "multipart/form-data; boundary=zz"},
        )
    return resp.status_code, resp.json(), digest.hexdigest()


@pytest.mark.timeout(120)
def test_a_20_mb_upload_relays_with_rss_growth_under_5_mb(mock: MockUpstream, start_gateway) -> None:
    entry = deployment("whisper", mock.url, dep_id="whisper-dep")
    entry["model_info"]["mode"] = "audio_transcription"
    gw = start_gateway({"model_list": [entry], "general_settings": {"master_key": MASTER_KEY}})
    assert gw.proc is not None
    status, _, _ = upload(gw, 512 * 1024)  # warm every code path first
    assert status == 200
    before = rss_bytes(gw.proc.pid)
    status, answer, sha = upload(gw, SIZE)
    after = rss_bytes(gw.proc.pid)
    assert status == 200, answer
    assert f"of {SIZE} bytes of wav, sha256 {sha}" in answer["text"]
    print(f"RSS growth {(after - before) / 1e6:.2f} MB")
    assert after - before < 5 * 1024 * 1024, f"RSS grew by {(after - before) / 1e6:.1f} MB"


def test_a_client_that_leaves_mid_upload_is_not_the_deployments_failure(
    mock: MockUpstream, start_gateway
) -> None:
    entry = deployment("whisper", mock.url, dep_id="whisper-dep")
    entry["model_info"]["mode"] = "audio_transcription"
    config = {
        "model_list": [entry],
        "router_settings": {"allowed_fails": 1},
        "general_settings": {"master_key": MASTER_KEY},
    }
    gw = start_gateway(config)
    head = b'--zz\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper\r\n'
    head += b'--zz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF'
    request = (
        b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {MASTER_KEY}\r\n".encode()
        + b"Content-Type: multipart/form-data; boundary=zz\r\nContent-Length: 1000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        sock.sendall(request + head + b"\0" * 300_000)
        time.sleep(0.3)  # the relay has begun
    assert wait_for(lambda: "POST /v1/audio/transcriptions 499" in gw.logs())
    # the deployment is not blamed (one failure would open its breaker) and serves the next upload
    status, answer, sha = upload(gw, 64 * 1024)
    assert status == 200 and sha in answer["text"]
    with http_client(gw) as http:
        page = http.get("/metrics").text
    assert metric_value(page, "grid_deployment_state", deployment="whisper-dep") == 0
