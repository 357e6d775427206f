"""Optional active health checks (`router_settings.health_check_interval`).

Every interval, each deployment gets one cheap probe, concurrently: `GET /models` on OpenAI-wire
deployments (mode `models`, the default) or a 1-token chat completion (mode `completion`, and always
for LiteLLM-path deployments, which have no uniform models listing). The verdict moves the deployment's
breaker, so a dead deployment is opened before user traffic finds it and a recovered one is closed
without waiting for a user request to probe it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp

from gateway.config.model import Deployment
from gateway.errors import GatewayError
from gateway.upstream import failures

log = logging.getLogger("grid.health")

PROBE_BODY = {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}


class HealthChecker:
    def __init__(self, state) -> None:
        self.state = state
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self.state.snapshot.router.health_check_interval and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="grid-health-checks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            interval = self.state.snapshot.router.health_check_interval
            if not interval:
                return
            await self.run_once()
            await asyncio.sleep(interval)

    async def run_once(self) -> None:
        deployments = self.state.snapshot.deployments
        await asyncio.gather(*(self._check(d) for d in deployments), return_exceptions=True)

    async def _check(self, dep: Deployment) -> None:
        balancer = self.state.balancer
        mode = self.state.snapshot.router.health_check_mode
        try:
            if dep.path == "passthrough" and mode == "models":
                await self._get_models(dep)
            else:
                await self.state.client_for(dep).call(
                    dep, "chat/completions", dict(PROBE_BODY), "health-check"
                )
        except GatewayError as exc:
            status = getattr(exc, "upstream_status", None)
            if status is not None and 400 <= status < 500 and status not in (401, 403, 404, 408, 429):
                balancer.probed(dep, ok=True)  # the deployment answered; only the probe was unwelcome
                return
            if not failures.is_upstream_fault(exc):
                # the probe failed on this side (out of open files, say): no verdict on the deployment
                log.warning(
                    "health check of %s not run: %s", dep.id, exc.message, extra={"deployment": dep.id}
                )
                return
            log.warning("health check failed for %s: %s", dep.id, exc.message, extra={"deployment": dep.id})
            balancer.probed(dep, ok=False, status=status, retry_after=exc.retry_after)
            return
        balancer.probed(dep, ok=True)

    async def _get_models(self, dep: Deployment) -> None:
        headers = {"authorization": f"Bearer {dep.api_key}"} if dep.api_key else {}
        timeout = aiohttp.ClientTimeout(total=min(dep.timeout, 10.0))
        try:
            async with self.state.passthrough.session.get(
                f"{dep.api_base}/models", headers=headers, timeout=timeout
            ) as resp:
                body = await resp.read()
                if resp.status >= 400:
                    raise failures.from_status(resp.status, body, resp.headers.get("retry-after"), dep.id)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise failures.timed_out(dep.id) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise failures.transport_failed(dep.id, exc, type(exc).__name__) from exc
