"""A balancer restricted to one deployment, for a request that only that deployment can serve.

A Responses API request with `previous_response_id` continues a conversation an OpenAI-wire provider
holds: another deployment (another account, another server) does not know the id. The fallback chain
runs as for any request (retries, breaker accounting, metrics), over a balancer that picks that one
deployment or nothing; everything else is the real balancer's.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from gateway.config.model import Deployment
from gateway.routing.balancer import Balancer


class PinnedBalancer:
    def __init__(self, balancer: Balancer, dep: Deployment) -> None:
        self._balancer = balancer
        self.dep = dep

    def pick(self, group: str, exclude: Collection[str] = ()) -> Deployment | None:
        """The pinned deployment (again, on a retry) while it may be sent to; never another."""
        return self._balancer.pick_only(self.dep.id) if group == self.dep.group else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._balancer, name)
