"""Fewer system calls per request: response headers leave with the body, log lines once per loop turn;
and uvicorn's header checks without the regex engine."""

from __future__ import annotations

import asyncio
import io
import logging
import random

import httpx
from uvicorn.protocols.http import httptools_impl

from gateway.http_protocol import ByteSet, HeldHeaders
from gateway.logs import BatchedStreamHandler
from tests.conftest import deployment

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


def test_headers_and_body_leave_in_one_write():
    async def scenario() -> RecordingTransport:
        raw = RecordingTransport()
        transport = HeldHeaders(raw, asyncio.get_running_loop())
        transport.write(HEAD)
        assert raw.writes == []  # held
        assert transport.get_write_buffer_size() == len(HEAD)
        transport.write(b"{}")
        await asyncio.sleep(0)
        return raw

    assert asyncio.run(scenario()).writes == [HEAD + b"{}"]


def test_headers_alone_go_out_by_the_end_of_the_loop_turn():
    async def scenario() -> RecordingTransport:
        raw = RecordingTransport()
        transport = HeldHeaders(raw, asyncio.get_running_loop())
        transport.write(HEAD)  # e.g. a stream whose first event is not there yet
        await asyncio.sleep(0)
        assert raw.writes == [HEAD]
        transport.write(b"data: 1\n\n")
        return raw

    assert asyncio.run(scenario()).writes == [HEAD, b"data: 1\n\n"]


def test_close_sends_held_headers_first_and_other_calls_reach_the_transport():
    async def scenario() -> RecordingTransport:
        raw = RecordingTransport()
        transport = HeldHeaders(raw, asyncio.get_running_loop())
        transport.write(HEAD)
        transport.close()
        assert transport.is_closing()  # delegated
        return raw

    raw = asyncio.run(scenario())
    assert raw.writes == [HEAD] and raw.closed


def _logger(stream: io.StringIO) -> logging.Logger:
    logger = logging.getLogger(f"test.batched.{id(stream)}")
    logger.propagate = False
    logger.handlers[:] = [BatchedStreamHandler(stream)]
    logger.setLevel(logging.INFO)
    return logger


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def write(self, text: str) -> int:
        self.calls += 1
        return super().write(text)


def test_log_lines_of_one_loop_turn_leave_in_one_write():
    stream = CountingStream()
    logger = _logger(stream)

    async def scenario() -> None:
        logger.info("one")
        logger.info("two")
        assert stream.getvalue() == ""  # not yet: the turn is not over
        await asyncio.sleep(0)
        assert stream.getvalue() == "one\ntwo\n"
        logger.info("three")
        await asyncio.sleep(0)

    asyncio.run(scenario())
    assert stream.getvalue() == "one\ntwo\nthree\n"
    assert stream.calls == 2


def test_log_lines_outside_a_loop_are_written_at_once():
    stream = CountingStream()
    logger = _logger(stream)
    logger.info("start-up")
    assert stream.getvalue() == "start-up\n"


def test_a_loop_that_ends_before_its_flush_does_not_stall_later_lines():
    stream = CountingStream()
    logger = _logger(stream)

    async def log_and_leave() -> None:
        logger.info("first")

    loop = asyncio.new_event_loop()
    loop.run_until_complete(log_and_leave())  # the flush is scheduled, and runs before close
    loop.close()
    asyncio.run(log_and_leave())
    assert stream.getvalue() == "first\nfirst\n"


def test_the_gateway_answers_and_logs_through_both(start_gateway, mock):
    gw = start_gateway({"model_list": [deployment("batched", mock.url)]})
    ids = []
    for _ in range(3):
        response = httpx.post(
            f"{gw.url}/v1/chat/completions",
            json={"model": "batched", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        assert response.status_code == 200 and response.json()["choices"]
        ids.append(response.headers["x-request-id"])
    logs = gw.logs()
    assert all(f'"request_id":"{rid}"' in logs for rid in ids)


def test_uvicorn_header_checks_refuse_exactly_the_bytes_its_patterns_refuse() -> None:
    checks = [httptools_impl.HEADER_RE, httptools_impl.HEADER_VALUE_RE]
    assert all(isinstance(check, ByteSet) for check in checks)  # installed on import
    draw = random.Random(7)
    samples = [bytes([b]) for b in range(256)] + [b"", b"application/json", b"a\r\nx-injected: 1"]
    samples += [bytes(draw.randrange(256) for _ in range(draw.randrange(1, 40))) for _ in range(5000)]
    samples += [bytes(draw.randrange(32, 127) for _ in range(draw.randrange(1, 120))) for _ in range(5000)]
    for check in checks:
        for data in samples:
            assert check.search(data) == (check.pattern.search(data) is not None), (check.pattern, data)
    value = httptools_impl.HEADER_VALUE_RE
    assert value.search(b"bad\nvalue") and value.search(b"\x7f") and not value.search(b"tab\tand \x80 ok")
    assert httptools_impl.HEADER_RE.search(b"bad name") and not httptools_impl.HEADER_RE.search(
        b"x-grid-route-reason"
    )
