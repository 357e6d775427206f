"""OpenAI-shaped errors. Every failure a client can see is one of these."""

from __future__ import annotations

import orjson


class GatewayError(Exception):
    """An error answered to the client as `{"error": {message, type, param, code}}`."""

    status = 500
    type = "api_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.retry_after = retry_after

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def body_bytes(self) -> bytes:
        return orjson.dumps(self.body())

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"retry-after": str(max(1, int(self.retry_after + 0.999)))}


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class ModelNotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(
            f"The model '{model}' does not exist or is not served by this gateway.", param="model"
        )
        self.model = model


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class RequestTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RequestTimeout(InvalidRequest):
    """The client did not send its headers or body in time (answered by the HTTP server)."""

    status = 408
    code = "request_timeout"


class HeadersTooLarge(InvalidRequest):
    """The request line and headers are over the size or count limit (answered by the HTTP server)."""

    status = 431
    code = "headers_too_large"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class BudgetExceeded(GatewayError):
    """A key's spend reached its `max_budget` for the current budget window."""

    status = 429
    type = "insufficient_quota"
    code = "budget_exceeded"


class InternalError(GatewayError):
    """A failure on the gateway's side (not the client's request, not the upstream): 500."""

    status = 500
    type = "api_error"
    code = "internal_error"


class UpstreamError(GatewayError):
    status = 502
    type = "api_error"
    code = "upstream_error"


class NoHealthyDeployment(GatewayError):
    status = 503
    type = "api_error"
    code = "no_healthy_deployment"


class Overloaded(GatewayError):
    """The worker is at its connection cap."""

    status = 503
    code = "overloaded"


class ShuttingDown(GatewayError):
    """The grace period of a shutdown ran out before the request was answered."""

    status = 503
    code = "shutting_down"


class UpstreamTimeout(GatewayError):
    status = 504
    type = "api_error"
    code = "upstream_timeout"


class UpstreamRejected(GatewayError):
    """The upstream refused the request itself (a 4xx other than auth/404/429): passed to the client."""

    type = "invalid_request_error"

    def __init__(self, status: int, message: str, body: bytes | None = None) -> None:
        super().__init__(message, status=status, code=None)
        self.raw = body

    def body_bytes(self) -> bytes:
        return self.raw if self.raw is not None else super().body_bytes()
