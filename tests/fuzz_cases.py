"""Hypothesis strategies for the fuzz suite: requests a hostile or careless client could send.

Each strategy draws a whole request (`Case`): method, path, query, headers and the raw body bytes.
Bodies are valid-shaped (an OpenAI request with some fields changed to wrong types, odd numbers,
unknown or LiteLLM-only fields) or hostile (deep nesting, NaN/Infinity literals, huge integers,
invalid UTF-8, not JSON at all). The suite (`test_fuzz.py`) sends them to a real gateway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import quote

from hypothesis import strategies as st

ATTACKER_URL = "http://attacker.invalid/attacker"  # the suite puts its own recording server here

MODELS = ["gpt", "claude", "embed", "fast", "auto", "exp", "no-such-model", ""]

# Fields LiteLLM's acompletion/aembedding accept that are not OpenAI request parameters: a client
# that sets them must change nothing about where the request goes or which key it carries.
LITELLM_ONLY = {
    "api_base": ATTACKER_URL,
    "base_url": ATTACKER_URL,
    "api_key": "sk-attacker",
    "api_version": "2099-01-01",
    "custom_llm_provider": "openai",
    "extra_headers": {"x-evil": "1"},
    "headers": {"authorization": "Bearer sk-attacker"},
    "mock_response": "pwned",
    "num_retries": 50,
    "timeout": 0.000001,
    "model_list": [{"model_name": "x", "litellm_params": {"model": "openai/x"}}],
    "metadata": {"hidden_params": {"api_base": ATTACKER_URL}},
    "litellm_logging_obj": "x",
    "proxy_server_request": {"url": ATTACKER_URL},
    "aws_access_key_id": "AKIA-evil",
    "vertex_project": "evil",
    "input_cost_per_token": -1,
}

HEADER_NAMES = [
    "x-grid-model-override",
    "x-request-id",
    "x-session-id",
    "x-grid-timeout",
    "x-api-key",
    "authorization",
    "content-type",
    "content-encoding",
    "transfer-encoding-x",
    "traceparent",
    "anthropic-version",
    "anthropic-beta",
    "host-x",
    "x-forwarded-for",
    "openai-organization",
]


@dataclass
class Case:
    method: str
    path: str
    body: bytes | None = None
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    key: str = "user"  # which of the suite's client keys sends it: master, user, limited, none, bad

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        body = self.body if self.body is None or len(self.body) < 600 else self.body[:600] + b"..."
        return f"Case({self.method} {self.path} q={self.query} h={self.headers} key={self.key} body={body!r})"


# -- JSON values ---------------------------------------------------------------------------------

_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 1e308, -1e308, 2**63, 2**64 + 1, 1e-320]),
)
_texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "\u202e", "\ud7ff", "%0A", "\r\nx-evil: 1", "../../etc/passwd"]),
)
_scalars = st.one_of(st.none(), st.booleans(), _numbers, _texts)
json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=12), inner, max_size=4),
    ),
    max_leaves=12,
)


def _nested(depth: int, leaf: object = 1) -> object:
    value: object = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


deep_values = st.integers(min_value=20, max_value=1500).map(_nested)


# -- OpenAI-shaped bodies, each field sometimes wrong -------------------------------------------

_roles = st.one_of(st.sampled_from(["user", "system", "assistant", "tool", "developer"]), json_values)
_content = st.one_of(
    _texts,
    st.lists(
        st.one_of(
            st.fixed_dictionaries({"type": st.just("text"), "text": _texts}),
            st.fixed_dictionaries(
                {"type": st.just("image_url"), "image_url": st.fixed_dictionaries({"url": _texts})}
            ),
            json_values,
        ),
        max_size=3,
    ),
    json_values,
)
_message = st.one_of(
    st.fixed_dictionaries({"role": _roles, "content": _content}),
    st.fixed_dictionaries({"role": st.just("user"), "content": _texts}),
    json_values,
)
_messages = st.one_of(st.lists(_message, max_size=4), json_values)


def _maybe(value: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly a plausible value, sometimes any JSON value at all."""
    return st.one_of(value, value, value, json_values)


_chat_fields = {
    "stream": _maybe(st.booleans()),
    "temperature": _maybe(st.floats(min_value=0, max_value=2)),
    "top_p": _maybe(st.floats(min_value=0, max_value=1)),
    "max_tokens": _maybe(st.integers(min_value=1, max_value=64)),
    "max_completion_tokens": _maybe(st.integers(min_value=1, max_value=64)),
    "n": _maybe(st.integers(min_value=1, max_value=2)),
    "stop": _maybe(st.lists(_texts, max_size=2)),
    "user": _maybe(_texts),
    "seed": _maybe(st.integers()),
    "response_format": _maybe(st.sampled_from([{"type": "json_object"}, {"type": "text"}])),
    "tools": _maybe(st.just([{"type": "function", "function": {"name": "f", "parameters": {}}}])),
    "tool_choice": _maybe(st.sampled_from(["auto", "none", "required"])),
    "stream_options": _maybe(st.just({"include_usage": True})),
    "logprobs": _maybe(st.booleans()),
    "metadata": _maybe(st.dictionaries(st.text(max_size=8), _texts, max_size=3)),
    "timeout": _maybe(st.floats(min_value=0.5, max_value=30)),
}


def _extras() -> st.SearchStrategy[dict]:
    """LiteLLM-only fields and unknown fields to mix into a body."""
    litellm_only = st.lists(st.sampled_from(sorted(LITELLM_ONLY)), max_size=3, unique=True).map(
        lambda names: {n: LITELLM_ONLY[n] for n in names}
    )
    unknown = st.dictionaries(st.text(min_size=1, max_size=12), json_values, max_size=2)
    return st.one_of(st.just({}), litellm_only, unknown)


def _body(required: dict, optional: dict) -> st.SearchStrategy[dict]:
    base = st.fixed_dictionaries(required, optional=optional)
    return st.builds(lambda b, extra: {**extra, **b}, base, _extras())


def _model(pool: list[str] = MODELS) -> st.SearchStrategy:
    return st.one_of(st.sampled_from(pool), st.sampled_from(pool), json_values)


chat_bodies = _body({"model": _model(), "messages": _messages}, _chat_fields)
completion_bodies = _body(
    {"model": _model()},
    {"prompt": _maybe(_texts), **{k: _chat_fields[k] for k in ("stream", "max_tokens", "temperature")}},
)
embedding_bodies = _body(
    {"model": _model()},
    {
        "input": _maybe(st.one_of(_texts, st.lists(_texts, max_size=3), st.lists(st.integers(), max_size=3))),
        "encoding_format": _maybe(st.sampled_from(["float", "base64"])),
        "dimensions": _maybe(st.integers(min_value=1, max_value=8)),
    },
)
_items = st.lists(
    st.one_of(
        st.fixed_dictionaries({"role": _roles, "content": _content}),
        st.fixed_dictionaries({"type": st.just("function_call_output"), "call_id": _texts, "output": _texts}),
        json_values,
    ),
    max_size=3,
)
response_bodies = _body(
    {"model": _model()},
    {
        "input": _maybe(st.one_of(_texts, _items)),
        "instructions": _maybe(_texts),
        "previous_response_id": _maybe(_texts),
        "max_output_tokens": _maybe(st.integers(min_value=1, max_value=64)),
        "tools": _maybe(st.just([{"type": "function", "name": "f", "parameters": {}}])),
        "background": _maybe(st.booleans()),
        **{k: _chat_fields[k] for k in ("stream", "temperature", "tool_choice", "metadata")},
    },
)
_blocks = st.one_of(
    _texts,
    st.lists(
        st.one_of(
            st.fixed_dictionaries({"type": st.just("text"), "text": _texts}),
            st.fixed_dictionaries({"type": st.just("tool_result"), "tool_use_id": _texts, "content": _texts}),
            st.fixed_dictionaries({"type": st.just("image"), "source": json_values}),
            json_values,
        ),
        max_size=3,
    ),
)
anthropic_bodies = _body(
    {
        "model": _model(),
        "max_tokens": _maybe(st.integers(min_value=1, max_value=64)),
        "messages": st.one_of(
            st.lists(st.fixed_dictionaries({"role": _roles, "content": _blocks}), max_size=3), json_values
        ),
    },
    {
        "system": _maybe(_blocks),
        "stop_sequences": _maybe(st.lists(_texts, max_size=2)),
        "tools": _maybe(st.just([{"name": "f", "input_schema": {"type": "object"}}])),
        "tool_choice": _maybe(
            st.sampled_from([{"type": "auto"}, {"type": "any"}, {"type": "tool", "name": "f"}])
        ),
        **{k: _chat_fields[k] for k in ("stream", "temperature", "top_p", "metadata")},
    },
)
feedback_bodies = _body(
    {},
    {
        "request_id": _maybe(_texts),
        "score": _maybe(st.floats(min_value=0, max_value=1)),
        "label": json_values,
    },
)


def _encode(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


# -- hostile encodings of a body -------------------------------------------------------------------


@st.composite
def hostile_bytes(draw: st.DrawFn, bodies: st.SearchStrategy[dict]) -> bytes:
    """A body made hostile at the byte level: nesting, NaN, huge numbers, bad UTF-8, truncation."""
    body = draw(bodies)
    kind = draw(st.sampled_from(["deep", "nan", "bigint", "utf8", "truncate", "garbage", "dupkeys", "empty"]))
    if kind == "deep":
        body = {**body, draw(st.sampled_from(["metadata", "messages", "tools", "x"])): draw(deep_values)}
        return _encode(body)
    if kind == "nan":
        literal = draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))
        field_name = draw(st.sampled_from(["temperature", "max_tokens", "top_p", "n"]))
        return _encode({**body, field_name: 0.5}).replace(b"0.5", literal.encode(), 1)
    if kind == "bigint":
        return _encode({**body, "max_tokens": draw(st.integers(min_value=2**64, max_value=10**400))})
    raw = _encode(body)
    if kind == "utf8":
        junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80"]))
        at = raw.find(b'"', 1) + 1 or 1
        return raw[:at] + junk + raw[at:]
    if kind == "truncate":
        return raw[: draw(st.integers(min_value=0, max_value=max(0, len(raw) - 1)))]
    if kind == "garbage":
        return draw(st.binary(max_size=200))
    if kind == "dupkeys":
        return raw[:-1] + b', "model": ' + _encode(draw(json_values)) + b"}" if len(raw) > 2 else raw
    return b""


def _json_or_hostile(bodies: st.SearchStrategy[dict]) -> st.SearchStrategy[bytes]:
    return st.one_of(bodies.map(_encode), bodies.map(_encode), hostile_bytes(bodies))


# -- headers and query strings ----------------------------------------------------------------------

_header_value = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60).map(
    str.strip  # HTTP trims a value's surrounding spaces; the client library refuses to send them
) | st.sampled_from(["gpt", "claude", "embed", "no-such-model", "0", "-1", "1e309", "nan", "x" * 200])
# The message framing is the HTTP client's to write (httpx refuses a conflicting or malformed
# Content-Length before sending): hostile framing is sent over raw sockets in test_hostile_network.py.
FRAMING = frozenset({"content-length", "transfer-encoding", "host", "connection", "expect", "upgrade", "te"})
_header_name = st.one_of(
    st.sampled_from(HEADER_NAMES),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20).filter(
        lambda name: name not in FRAMING
    ),
)
headers = st.dictionaries(_header_name, _header_value, max_size=4)
queries = st.dictionaries(
    st.sampled_from(["override_model", "model", "api_base", "stream", "x", "limit"]),
    _header_value,
    max_size=2,
)
keys = st.sampled_from(["user", "user", "user", "master", "limited", "none", "bad"])

# -- whole requests ---------------------------------------------------------------------------------

_POSTS = [
    ("/v1/chat/completions", chat_bodies),
    ("/chat/completions", chat_bodies),
    ("/v1/completions", completion_bodies),
    ("/v1/embeddings", embedding_bodies),
    ("/v1/models/recommend", chat_bodies),
    ("/v1/feedback", feedback_bodies),
    ("/v1/responses", response_bodies),
    ("/v1/messages", anthropic_bodies),
    ("/v1/messages/count_tokens", anthropic_bodies),
]


@st.composite
def _post(draw: st.DrawFn, path: str, bodies: st.SearchStrategy[dict], hostile: bool) -> Case:
    body = draw(_json_or_hostile(bodies) if hostile else bodies.map(_encode))
    return Case("POST", path, body, draw(queries), draw(headers), draw(keys))


def body_cases(hostile: bool) -> st.SearchStrategy[Case]:
    return st.one_of([_post(path, bodies, hostile) for path, bodies in _POSTS])


_GET_PATHS = [
    "/v1/models",
    "/models",
    "/health/liveliness",
    "/health/live",
    "/health/readiness",
    "/admin/load-balancer/stats",
    "/admin/model-selector/stats",
    "/admin/experiments",
    "/admin/experiments/",
    "/admin/experiments/exp-split",
    "/v1/responses/resp_unknown",
    "/v1/responses/resp_unknown/input_items",
    "/v1/responses/..%2f..%2fadmin",
]


@st.composite
def other_cases(draw: st.DrawFn) -> Case:
    """GETs, odd methods and the admin API, with any key and any headers."""
    kind = draw(st.sampled_from(["get", "model", "admin_post", "method"]))
    q, h, k = draw(queries), draw(headers), draw(keys)
    if kind == "get":
        return Case("GET", draw(st.sampled_from(_GET_PATHS)), None, q, h, k)
    if kind == "model":
        name = draw(st.one_of(st.sampled_from(MODELS), st.text(min_size=1, max_size=30)))
        return Case("GET", "/v1/models/" + quote(name, safe=""), None, q, h, k)
    if kind == "admin_post":
        action = draw(st.sampled_from(["stop", "pause", "resume", "delete", "", "x" * 50]))
        exp = draw(st.sampled_from(["exp-split", "nope", "..", "%2e%2e"]))
        path = draw(st.sampled_from([f"/admin/experiments/{exp}/{action}", "/admin/config/reload"]))
        return Case("POST", path, draw(st.one_of(st.none(), json_values.map(_encode))), q, h, k)
    method = draw(st.sampled_from(["PUT", "DELETE", "PATCH", "OPTIONS"]))
    return Case(
        method, draw(st.sampled_from(["/v1/chat/completions", "/v1/models", "/metrics"])), b"{}", q, h, k
    )
