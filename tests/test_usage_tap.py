"""The usage tap frames SSE events, records usage and strips the usage-only event on request."""

from gateway.upstream.usage_tap import UsageTap

CONTENT = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n'
USAGE = b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}\n\n'
DONE = b"data: [DONE]\n\n"


def _run(tap: UsageTap, chunks: list[bytes]) -> bytes:
    return b"".join(tap.feed(c) for c in chunks) + tap.flush()


def test_usage_is_recorded_and_kept_when_the_client_asked_for_it():
    tap = UsageTap(strip=False)
    assert _run(tap, [CONTENT, USAGE, DONE]) == CONTENT + USAGE + DONE
    assert tap.usage == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}


def test_usage_event_is_removed_when_the_client_did_not_ask():
    tap = UsageTap(strip=True)
    assert _run(tap, [CONTENT, USAGE + DONE]) == CONTENT + DONE
    assert tap.usage["completion_tokens"] == 5


def test_events_split_across_reads_are_reassembled_before_scanning():
    tap = UsageTap(strip=True)
    stream = CONTENT + USAGE + DONE
    pieces = [stream[i : i + 7] for i in range(0, len(stream), 7)]
    assert _run(tap, pieces) == CONTENT + DONE
    assert tap.usage["prompt_tokens"] == 3


def test_a_partial_event_waits_for_its_end():
    tap = UsageTap(strip=False)
    assert tap.feed(CONTENT[:10]) == b""
    assert tap.feed(CONTENT[10:]) == CONTENT


def test_usage_riding_on_a_content_event_is_removed_but_the_event_kept():
    tap = UsageTap(strip=True)
    event = (
        b'data: {"choices":[{"index":0,"delta":{}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\n'
    )
    out = _run(tap, [CONTENT, event, DONE])
    assert out == CONTENT + b'data: {"choices":[{"index":0,"delta":{}}]}\n\n' + DONE
    assert tap.usage == {"prompt_tokens": 1, "completion_tokens": 2}
