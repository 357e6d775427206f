"""A mock LLM upstream (OpenAI and Anthropic wire formats) with run-time fault injection.

Used by `make run` (answers real SDK calls with no provider keys), by the test suite as the real HTTP
server behind the gateway, and by benchmarks. See docs/mock-upstream.md.
"""

from gateway.mock_upstream.faults import FaultRule, FaultRuleError, parse_rule
from gateway.mock_upstream.runner import MockUpstream, make_runner, serve
from gateway.mock_upstream.server import create_app
from gateway.mock_upstream.state import DEFAULT_MODELS, MockState

__all__ = [
    "DEFAULT_MODELS",
    "FaultRule",
    "FaultRuleError",
    "MockState",
    "MockUpstream",
    "create_app",
    "make_runner",
    "parse_rule",
    "serve",
]
