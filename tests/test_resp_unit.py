"""The hot path's own Redis connection (`gateway.backend.resp`) and the script batches sent over it
(`gateway.backend.redis_batch`), against a real `redis-server` on a free port: replies come back in
the order the calls were made, a script Redis forgot (restart, SCRIPT FLUSH) is sent again in full,
a server that dies mid-flight fails the calls waiting on it (and says so once), and the next calls
reconnect on their own once it is back. A password and a database number in the URL are honoured.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator

import pytest
from redis.exceptions import ConnectionError, RedisError, ResponseError

from gateway.backend.redis_batch import ScriptBatch
from gateway.backend.resp import RespConnection, connection_params, encode, ssl_context
from gateway.metrics import REGISTRY
from tests.harness import free_port
from tests.redis_server import RedisServer

# returns its key's new value and the argument: shows which call got which reply
COUNT = "return {redis.call('INCR', KEYS[1]), ARGV[1]}"
SLEEP = "local t = redis.call('TIME'); while true do local n = redis.call('TIME'); if (n[1] - t[1]) * 1e6 + n[2] - t[2] > tonumber(ARGV[1]) then return 1 end end"  # noqa: E501
TIMEOUT = 5.0


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as found:
        yield found


class Errors(list):
    """What the batch reported through `on_error`."""

    def __call__(self, exc: BaseException) -> None:
        self.append(exc)


def batch(url: str, errors: Errors, timeout: float = TIMEOUT) -> ScriptBatch:
    return ScriptBatch(url, {"count": COUNT, "sleep": SLEEP}, errors, timeout)


async def test_a_turn_of_calls_is_one_write_and_each_gets_its_own_reply_in_order(server: RedisServer) -> None:
    errors = Errors()
    scripts = batch(server.url, errors)
    with server.client() as c:
        for text in scripts.scripts.values():
            c.script_load(text)
    futures = [scripts.call("count", ["grid:test:n"], [f"call-{i}"]) for i in range(200)]
    results = await asyncio.wait_for(asyncio.gather(*futures), TIMEOUT)
    assert results == [[i + 1, f"call-{i}"] for i in range(200)]
    with server.client() as c:
        stats = c.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 200  # all EVALSHA: the scripts were known
    assert "cmdstat_eval" not in stats
    assert errors == []
    scripts.close()


async def test_a_script_redis_does_not_know_is_sent_in_full_once_then_by_its_hash(
    server: RedisServer,
) -> None:
    errors = Errors()
    scripts = batch(server.url, errors)
    first = [scripts.call("count", ["grid:test:m"], [i]) for i in range(3)]
    assert await asyncio.wait_for(asyncio.gather(*first), TIMEOUT) == [[1, "0"], [2, "1"], [3, "2"]]
    with server.client() as c:
        assert c.info("commandstats")["cmdstat_eval"]["calls"] == 3  # each NOSCRIPT sent again in full
        c.script_flush()  # as after a restart: the cache is empty again
    again = await asyncio.wait_for(scripts.call("count", ["grid:test:m"], ["x"]), TIMEOUT)
    assert again == [4, "x"]
    later = await asyncio.wait_for(scripts.call("count", ["grid:test:m"], ["y"]), TIMEOUT)
    assert later == [5, "y"]
    with server.client() as c:
        stats = c.info("commandstats")
    assert stats["cmdstat_eval"]["calls"] == 4  # EVAL loaded it: the last call went by its hash alone
    assert stats["cmdstat_evalsha"]["calls"] == 5
    assert errors == []
    scripts.close()


async def test_a_script_error_fails_that_call_only(server: RedisServer) -> None:
    errors = Errors()
    scripts = ScriptBatch(server.url, {"count": COUNT, "bad": "return redis.call('NOPE')"}, errors, TIMEOUT)
    bad = scripts.call("bad", [], [])
    good = scripts.call("count", ["grid:test:e"], ["ok"])
    with pytest.raises(ResponseError):
        await asyncio.wait_for(bad, TIMEOUT)
    assert await asyncio.wait_for(good, TIMEOUT) == [1, "ok"]
    scripts.close()


async def test_a_server_killed_mid_flight_fails_the_waiting_calls_then_they_reconnect(
    server: RedisServer,
) -> None:
    errors = Errors()
    scripts = batch(server.url, errors)
    with server.client() as c:
        c.script_load(SLEEP)  # so the sleep runs at once, with the next call queued behind it
    assert await asyncio.wait_for(scripts.call("count", ["grid:test:r"], ["a"]), TIMEOUT) == [1, "a"]
    failed: list[str] = []
    slow = scripts.call("sleep", [], [3_000_000])  # busy in Redis for 3 s: still waiting when it dies
    scripts.send("count", ["grid:test:r"], ["b"], failed=lambda: failed.append("b"))
    await asyncio.sleep(0.3)
    server.stop()
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(slow, TIMEOUT)
    assert failed == ["b"]  # a call sent without waiting is told it failed (a release is kept)
    assert len(errors) == 1 and isinstance(errors[0], ConnectionError)  # once for the connection

    with pytest.raises(ConnectionError):  # down: the next call fails rather than hangs
        await asyncio.wait_for(scripts.call("count", ["grid:test:r"], ["c"]), TIMEOUT)
    server.start()  # same port, empty (no persistence), scripts unknown
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        try:
            result = await asyncio.wait_for(scripts.call("count", ["grid:test:r"], ["d"]), TIMEOUT)
            break
        except ConnectionError:  # the reconnection backs off between attempts
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
    assert result == [1, "d"]
    scripts.close()


async def test_no_reply_in_time_counts_as_down_and_fails_the_waiting_calls() -> None:
    """A server that accepts the connection and never answers (a hung Redis)."""
    listener = socket.create_server(("127.0.0.1", free_port()))
    port = listener.getsockname()[1]
    errors = Errors()
    scripts = batch(f"redis://127.0.0.1:{port}/0", errors, timeout=0.3)
    try:
        with pytest.raises(RedisError) as caught:
            await asyncio.wait_for(scripts.call("count", ["k"], ["x"]), TIMEOUT)
        assert "in time" in str(caught.value)
        assert len(errors) == 1
    finally:
        scripts.close()
        listener.close()


async def test_an_unreachable_address_fails_each_call_and_reports_it() -> None:
    errors = Errors()
    scripts = batch(f"redis://127.0.0.1:{free_port()}/0", errors)
    for attempt in ("x", "y"):  # the second within the back-off or after it: refused either way
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(scripts.call("count", ["k"], [attempt]), TIMEOUT)
    assert len(errors) == 2
    scripts.close()


async def test_the_urls_password_and_database_are_used() -> None:
    with RedisServer() as server:
        with server.client() as c:
            c.config_set("requirepass", "s3cret")
        url = f"redis://:s3cret@127.0.0.1:{server.port}/3"
        seen: list[object] = []
        conn = await RespConnection.open(connection_params(url), lambda e, r: seen.append(r), print, TIMEOUT)
        conn.write(encode(["SET", "grid:test:db", "here"]), [("set",)])
        conn.write(encode(["CLIENT", "INFO"]), [("info",)])
        while len(seen) < 2:
            await asyncio.sleep(0.01)
        assert seen[0] == "OK" and " db=3 " in seen[1]
        conn.close()
        wrong = connection_params(f"redis://:wrong@127.0.0.1:{server.port}/0")
        with pytest.raises(ResponseError):
            await RespConnection.open(wrong, lambda e, r: None, print, TIMEOUT)


def test_commands_are_encoded_as_resp_arrays_of_bulk_strings() -> None:
    assert encode(["EVALSHA", "ab", 2, b"k", 0.5]) == (
        b"*5\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n2\r\n$1\r\nk\r\n$3\r\n0.5\r\n"
    )


async def test_a_rediss_url_speaks_tls_with_redis_pys_options(server: RedisServer) -> None:
    """This redis-server speaks plain RESP: a rediss:// URL to it fails the TLS handshake (so TLS was
    attempted), and the certificate options of the URL are redis-py's."""
    url = f"rediss://127.0.0.1:{server.port}/0"
    with pytest.raises(ConnectionError):
        await RespConnection.open(connection_params(url), lambda e, r: None, print, TIMEOUT)
    assert ssl_context(connection_params(url)).verify_mode == ssl.CERT_REQUIRED
    lax = connection_params(url + "?ssl_cert_reqs=none")
    assert ssl_context(lax).verify_mode == ssl.CERT_NONE


async def test_a_call_nobody_waits_for_rides_with_the_next_awaited_call_in_one_write(
    server: RedisServer,
) -> None:
    errors = Errors()
    scripts = ScriptBatch(server.url, {"count": COUNT}, errors, TIMEOUT, send_delay=TIMEOUT)
    assert await asyncio.wait_for(scripts.call("count", ["grid:test:w"], ["warm"]), TIMEOUT) == [1, "warm"]
    writes = writes_made()
    failed: list[str] = []
    scripts.send("count", ["grid:test:w"], ["release"], failed=lambda: failed.append("release"))
    for _ in range(5):  # turns of the loop go by: the send waits for company
        await asyncio.sleep(0)
    assert writes_made() == writes
    awaited = scripts.call("count", ["grid:test:w"], ["admit"])
    assert await asyncio.wait_for(awaited, TIMEOUT) == [3, "admit"]  # the send went first, in order
    assert writes_made() == writes + 1
    assert failed == [] and errors == []
    scripts.close()


async def test_a_call_nobody_waits_for_goes_on_its_own_when_no_other_comes(server: RedisServer) -> None:
    errors = Errors()
    scripts = batch(server.url, errors)
    scripts.send("count", ["grid:test:alone"], ["release"], failed=lambda: None)
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    with server.client() as c:
        while c.get("grid:test:alone") != "1":
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)  # the loop runs: the send's timer can fire
    assert errors == []
    scripts.close()


def writes_made() -> float:
    return REGISTRY.get_sample_value("grid_state_backend_round_trips_total", {"op": "request"}) or 0.0
