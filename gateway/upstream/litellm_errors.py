"""LiteLLM's exceptions, mapped to the gateway's error table with messages written for our users.

LiteLLM raises one hierarchy for four different things, and they must not be confused:
- the provider's answer (401/403/404, 429, 5xx, a timeout, a refused connection): an upstream fault,
  retried and counted against the deployment, as on the pass-through path;
- a rejection of the request itself, by the provider (400, 422) or by LiteLLM's own checks
  (`BadRequestError`, `UnsupportedParamsError`, a prompt too long): the client's, a 4xx;
- a Python error inside LiteLLM's translation (it wraps them as `APIConnectionError`): a body whose
  shape passed the gateway's checks but not the translation's (a tool without a name, say), so the
  client's, a 400 that names no internals (the class chain is logged for the operator);
- this process out of file descriptors, or an exception LiteLLM raises for a feature the gateway does
  not use (budgets, guardrails): ours, a 500.
The last three are not retried and leave the breaker alone.

LiteLLM's messages name its own classes ("litellm.BadRequestError: AnthropicException - ...") and give
advice about its settings ("set `litellm.modify_params = True`"), which mean nothing to a client of
the gateway: `user_message` keeps only what the provider or the check said.
"""

from __future__ import annotations

import asyncio
import logging
import re

import orjson

from gateway.config.model import Deployment
from gateway.errors import GatewayError
from gateway.upstream import failures
from gateway.upstream.failures import ContextWindowExceeded

log = logging.getLogger("grid.litellm")

_CLASS_PREFIX = re.compile(r"(?:litellm\.)?\w+(?:Error|Exception)\s*(?::|-)\s+")
_TRACEBACK = "Traceback (most recent call last)"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_RECEIVED = re.compile(r"\s*Received Messages=.*$", re.DOTALL)  # LiteLLM echoes the client's messages
# sentences that are advice about LiteLLM's settings, not about the request
_ADVICE = ("litellm", "drop_params", "modify_params", "allowed_openai_params", "handle with")
MAX_MESSAGE = 1000

# LiteLLM class name -> the error code of the client's 4xx
_CLIENT_ERRORS = {
    "ContentPolicyViolationError": "content_policy_violation",
    "UnsupportedParamsError": "unsupported_parameter",
    "ImageFetchError": "invalid_image_url",
}
_PYTHON_ERRORS = (TypeError, KeyError, AttributeError, IndexError, ValueError)
UNTRANSLATABLE = (
    "The request could not be translated for this model's provider: check the shape of its fields."
)
_TIMEOUTS = frozenset({"Timeout", "APITimeoutError"})
_DEPLOYMENT_BILLING = 402  # LiteLLM's PaymentRequiredError: the deployment's account, not the client


def _names(exc: BaseException) -> frozenset[str]:
    return frozenset(cls.__name__ for cls in type(exc).__mro__)


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found and len(found) < 16:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _is_transport(exc: BaseException) -> bool:
    """Whether the error chain holds a network failure (the upstream's), not a Python error (ours)."""
    for item in _chain(exc):
        if isinstance(item, OSError):  # ConnectionError, TimeoutError, socket errors
            return True
        if type(item).__module__.split(".")[0] in ("httpx", "httpcore", "aiohttp"):
            return True
    return False


def user_message(raw: str) -> str:
    """LiteLLM's message with its class prefixes, tracebacks and settings advice removed."""
    text = raw.split(_TRACEBACK, 1)[0].strip()
    while (prefix := _CLASS_PREFIX.match(text)) is not None:
        text = text[prefix.end() :].strip()
    text = _provider_message(text) or text
    text = _RECEIVED.sub("", text)
    kept = [s for s in _SENTENCE_END.split(text.strip()) if not any(a in s.lower() for a in _ADVICE)]
    return " ".join(kept).strip()[:MAX_MESSAGE]


def _provider_message(text: str) -> str | None:
    """The message of a JSON error body quoted in `text` (`{"error": {"message": ...}}`), if any."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        data = orjson.loads(text[start:])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    err = data.get("error", data)
    message = err.get("message") if isinstance(err, dict) else None
    return message if isinstance(message, str) and message else None


def _retry_after(exc: BaseException) -> str | None:
    # LiteLLM keeps the provider's headers in `litellm_response_headers`; its `response` is often a
    # stand-in with no headers at all
    for headers in (
        getattr(exc, "litellm_response_headers", None),
        getattr(getattr(exc, "response", None), "headers", None),
    ):
        if headers is not None:
            value = headers.get("retry-after")
            if value is not None:
                return value
    return None


def translate(exc: BaseException, dep: Deployment) -> GatewayError:
    """The `GatewayError` for what LiteLLM raised while calling `dep`."""
    if isinstance(exc, GatewayError):
        return exc
    names = _names(exc)
    raw = str(getattr(exc, "message", "") or exc)
    if failures.fd_exhausted(exc):
        return failures.local_error(dep.id, "the gateway has run out of open files")
    if isinstance(exc, asyncio.TimeoutError) or names & _TIMEOUTS:
        return failures.timed_out(dep.id)
    message = user_message(raw)
    if "ContextWindowExceededError" in names:
        text = message or "The prompt is longer than the model's context window."
        error = ContextWindowExceeded(400, text)
        error.code = "context_length_exceeded"
        return failures.mark(error, 400, False)
    if "APIConnectionError" in names:  # LiteLLM's name for both a refused connection and its own bugs
        if _is_transport(exc):
            return failures.connect_failed(dep.id, "connection failed")
        return _untranslatable(exc, dep)
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool):
        if status == _DEPLOYMENT_BILLING or "PaymentRequiredError" in names:
            status = 403  # the deployment's account cannot pay: it is refused, not the client
        if status in (401, 403, 404, 408, 429) or status >= 500:
            body = orjson.dumps({"error": {"message": message}}) if message else b""
            return failures.from_status(status, body, _retry_after(exc), dep.id)
        if 400 <= status < 500:
            code = next((c for n, c in _CLIENT_ERRORS.items() if n in names), "invalid_request")
            text = message or "The provider rejected the request as invalid."
            if any(isinstance(e, _PYTHON_ERRORS) for e in _chain(exc)[1:]):
                text = UNTRANSLATABLE  # a Python error's text ("'int' object is not subscriptable")
            error = failures.UpstreamRejected(status, text)
            error.code = code
            return failures.mark(error, status, False)
    if "APIResponseValidationError" in names:
        return failures.malformed(dep.id, "the answer could not be read")
    if _is_transport(exc):
        return failures.connect_failed(dep.id, "connection failed")
    log.warning(
        "LiteLLM failed on deployment %s: %s",
        dep.id,
        " <- ".join(type(e).__name__ for e in _chain(exc)),
        extra={"deployment": dep.id},
    )
    return failures.local_error(dep.id, "an internal error")


def _untranslatable(exc: BaseException, dep: Deployment) -> GatewayError:
    """A Python error inside LiteLLM's translation of a request that passed the gateway's checks:
    logged for the operator by class only (the message may quote the request), answered as a 400
    that names no internals."""
    log.warning(
        "LiteLLM could not translate a request for deployment %s: %s",
        dep.id,
        " <- ".join(type(e).__name__ for e in _chain(exc)),
        extra={"deployment": dep.id},
    )
    error = failures.UpstreamRejected(400, UNTRANSLATABLE)
    error.code = "invalid_request"
    return failures.mark(error, None, False, fault=False)
