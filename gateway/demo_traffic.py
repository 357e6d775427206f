"""Demo traffic: a realistic mix of requests against a running GRID gateway, so the dashboard has data.

    python -m gateway.demo_traffic --base-url http://localhost:8000 --api-key sk-grid-demo \\
        [--mock-url http://localhost:8101] (--seconds 300 | --requests 1000) [--rps 20]

It speaks to the model names of `deploy/gateway/config.yaml` (aliases `fast`, `smart`, `legacy`,
`batch`, `embed`, `instruct`): chat completions plain and streamed, embeddings, legacy completions,
per-request overrides, a retired model served by its fallback, and now and then a model nobody serves
(404). Against another config (`make run`'s config.yaml) it asks `GET /v1/models` first and sends only
names the gateway serves: a scenario with none is left out, and so are the deliberate 404s. Fault headers sent to the gateway are not forwarded upstream, so upstream trouble is made at
the mock itself: with `--mock-url` (the mock behind the `GRID_MOCK_B_URL` deployments) some requests
are preceded by a `POST /_mock/faults` rule (a 503 that is retried on the other deployment, a 500
burst that makes `smart` fall back, a 429 burst on `batch`, a slow answer).

Requests are drawn in rounds: each round holds every scenario its weight's number of times, shuffled,
so even a short run produces every kind of series the dashboard plots.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

OVERRIDE_HEADER = "x-grid-model-override"

# Names clients send: groups and aliases of deploy/gateway/config.yaml, and two it does not serve.
CHAT_MODELS = ("fast", "fast", "gpt-4o-mini", "smart")
STREAM_MODELS = ("fast", "smart")
EMBEDDING_MODELS = ("embed", "text-embedding-3-small", "text-embedding-3-small")
COMPLETION_MODELS = ("instruct", "gpt-3.5-turbo-instruct")
OVERRIDE = ("smart", "gpt-4o-mini")  # (model in the body, override header)
LEGACY_MODEL = "legacy"  # its only deployment is gone: served by its fallbacks
BATCH_MODEL = "batch"
AUTO_MODEL = "auto"  # the gateway picks the group (model_routing.capabilities)
UNKNOWN_MODELS = ("gpt-5-preview", "llama-9-mega")
# Faults at the mock behind GRID_MOCK_B_URL: (model name the mock sees, model name the client asks for)
RETRY = ("gpt-4o-mini", "fast")  # the group has a second deployment, on the healthy mock
FALLBACK = ("gpt-4o", "smart")  # the group's other deployment is gone, and it has fallbacks
RATE_LIMITED = ("gpt-4-turbo", "batch")  # the group has no fallback


def served_models() -> set[str]:
    """Every model name the demo sends expecting an answer (tests check them against the config)."""
    fault_models = (RETRY[1], FALLBACK[1], RATE_LIMITED[1])
    return {
        *CHAT_MODELS,
        *STREAM_MODELS,
        *EMBEDDING_MODELS,
        *COMPLETION_MODELS,
        *OVERRIDE,
        LEGACY_MODEL,
        BATCH_MODEL,
        *fault_models,
    }


PROMPTS = (
    "Summarise the attached incident report in three bullet points.",
    "Translate 'the deployment is healthy again' into French and German.",
    "Write a SQL query that returns the ten most active users this week.",
    "What is the difference between a circuit breaker and a retry budget?",
    "Draft a polite reply declining the meeting on Friday.",
    "Explain exponential backoff with jitter to a new engineer.",
    "Classify this ticket: 'login page times out after the last release'.",
    "Give me a haiku about load balancers.",
)
DOCUMENTS = (
    "GRID routes each request to a healthy deployment of its model group.",
    "A fallback chain lists the model groups tried after a group fails.",
    "Breakers open after consecutive failures and close after a trial succeeds.",
    "Token usage and cost are counted per model group.",
)


@dataclass(frozen=True, slots=True)
class Options:
    base_url: str  # the gateway, with or without a trailing /v1
    api_key: str
    mock_url: str | None = None  # the mock upstream to inject faults into (optional)
    seconds: float | None = None
    requests: int | None = None
    concurrency: int = 4
    rps: float = 20.0  # 0: as fast as the gateway answers
    seed: int | None = None


class Traffic:
    """The scenarios, each one request (after an optional fault rule at the mock)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        mock: httpx.AsyncClient | None,
        rng: random.Random,
        served: frozenset[str] | None = None,  # the names the gateway lists; None: the compose config's
    ) -> None:
        self.client = client
        self.mock = mock
        self.rng = rng
        self.served = served
        self.rounds = 0

    def _choice(self, names: tuple[str, ...]) -> str:
        """One of `names` the gateway serves (any of them when its list is unknown)."""
        known = [n for n in names if self.served is None or n in self.served]
        return self.rng.choice(known or names)

    def _serves(self, names: tuple[str, ...]) -> bool:
        return self.served is None or any(n in self.served for n in names)

    def scenarios(self) -> list[tuple[str, int, int, Callable[[], Awaitable[int]]]]:
        """(name, weight, every, send): `weight` times per round, in every `every`-th round only;
        those whose models the gateway does not serve are left out."""
        plain: list[tuple[str, int, int, Callable[[], Awaitable[int]], tuple[str, ...]]] = [
            ("chat", 12, 1, self.chat, CHAT_MODELS),
            ("chat-stream", 6, 1, self.chat_stream, STREAM_MODELS),
            ("embeddings", 4, 1, self.embeddings, EMBEDDING_MODELS),
            ("completions", 3, 1, self.completions, COMPLETION_MODELS),
            ("override", 2, 1, self.override, OVERRIDE),
            ("auto", 2, 1, self.auto, ()),
            ("legacy-fallback", 2, 1, self.legacy, (LEGACY_MODEL,)),
            ("batch", 2, 1, self.batch, (BATCH_MODEL,)),
            # the deliberate 404s: only against the compose config, whose dashboard shows them
            ("unknown-model", 1, 1, self.unknown_model, (LEGACY_MODEL,)),
        ]
        if self.mock is not None:
            # outages are rarer than glitches: a 500 burst opens mock-b-gpt-4o's breaker for its cooldown
            plain += [
                ("fault-retry", 2, 1, self.fault_retry, (RETRY[1],)),
                ("fault-slow", 1, 1, self.fault_slow, (FALLBACK[1],)),
                ("fault-rate-limit", 1, 8, self.fault_rate_limit, (RATE_LIMITED[1],)),
                ("fault-fallback", 1, 16, self.fault_fallback, (FALLBACK[1],)),
            ]
        return [
            (name, w, every, send)
            for name, w, every, send, needs in plain
            if not needs or self._serves(needs)
        ]

    def round(self) -> list[tuple[str, Callable[[], Awaitable[int]]]]:
        """The next round, shuffled; the first round holds every scenario."""
        number, self.rounds = self.rounds, self.rounds + 1
        items = [
            (name, send)
            for name, weight, every, send in self.scenarios()
            if number % every == 0
            for _ in range(weight)
        ]
        self.rng.shuffle(items)
        return items

    # --- requests -------------------------------------------------------------------------------

    def _messages(self) -> list[dict[str, str]]:
        messages = [{"role": "user", "content": self.rng.choice(PROMPTS)}]
        if self.rng.random() < 0.3:
            messages.insert(0, {"role": "system", "content": "You are a concise assistant."})
        return messages

    async def _chat(self, model: str, *, stream: bool = False, headers: dict[str, str] | None = None) -> int:
        body = {"model": model, "messages": self._messages(), "max_tokens": self.rng.choice((16, 64, 256))}
        if not stream:
            response = await self.client.post("/v1/chat/completions", json=body, headers=headers)
            return response.status_code
        body["stream"] = True
        async with self.client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
            async for _ in response.aiter_lines():
                pass
            return response.status_code

    async def chat(self) -> int:
        return await self._chat(self._choice(CHAT_MODELS))

    async def chat_stream(self) -> int:
        return await self._chat(self._choice(STREAM_MODELS), stream=True)

    async def embeddings(self) -> int:
        inputs = self.rng.sample(DOCUMENTS, self.rng.randint(1, 3))
        model = self._choice(EMBEDDING_MODELS)
        response = await self.client.post("/v1/embeddings", json={"model": model, "input": inputs})
        return response.status_code

    async def completions(self) -> int:
        body = {
            "model": self._choice(COMPLETION_MODELS),
            "prompt": self.rng.choice(PROMPTS),
            "max_tokens": 32,
        }
        response = await self.client.post("/v1/completions", json=body)
        return response.status_code

    async def override(self) -> int:
        # an SDK hard-codes "smart"; the caller pins this request to gpt-4o-mini without a code change
        return await self._chat(OVERRIDE[0], headers={OVERRIDE_HEADER: OVERRIDE[1]})

    async def auto(self) -> int:
        return await self._chat(AUTO_MODEL)

    async def legacy(self) -> int:
        return await self._chat(LEGACY_MODEL)

    async def batch(self) -> int:
        return await self._chat(BATCH_MODEL)

    async def unknown_model(self) -> int:
        return await self._chat(self.rng.choice(UNKNOWN_MODELS))

    # --- upstream trouble, made at the mock -------------------------------------------------------

    async def _fault(self, rule: dict) -> None:
        assert self.mock is not None
        response = await self.mock.post("/_mock/faults", json=rule)
        response.raise_for_status()

    async def fault_retry(self) -> int:
        # the faulty mock answers 503 once: retried on the group's deployment on the healthy mock
        await self._fault({"match": {"model": RETRY[0]}, "status": 503, "times": 1})
        return await self._chat(RETRY[1])

    async def fault_fallback(self) -> int:
        # the group's live deployment fails every attempt (and its breaker opens): served by a fallback
        await self._fault({"match": {"model": FALLBACK[0]}, "status": 500, "times": 3})
        return await self._chat(FALLBACK[1])

    async def fault_rate_limit(self) -> int:
        rule = {"match": {"model": RATE_LIMITED[0]}, "status": 429, "retry_after": "1", "times": 3}
        await self._fault(rule)
        return await self._chat(RATE_LIMITED[1])

    async def fault_slow(self) -> int:
        delay = round(self.rng.uniform(0.2, 0.8), 3)
        await self._fault({"match": {"model": FALLBACK[0]}, "delay": delay, "times": 1})
        return await self._chat(FALLBACK[1], stream=self.rng.random() < 0.5)


def _root(url: str) -> str:
    url = url.rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


async def run(
    options: Options, stop: threading.Event | None = None, tally: Counter[str] | None = None
) -> Counter[str]:
    """Send traffic until `seconds` pass, `requests` were sent or `stop` is set.

    Outcomes are counted as "<scenario> <status>" in `tally` (a new Counter unless given), as they come.
    """
    rng = random.Random(options.seed)
    tally = Counter() if tally is None else tally
    deadline = time.monotonic() + options.seconds if options.seconds else None
    sent = 0
    queue: list[tuple[str, Callable[[], Awaitable[int]]]] = []
    interval = options.concurrency / options.rps if options.rps > 0 else 0.0
    headers = {"authorization": f"Bearer {options.api_key}"}
    limits = httpx.Limits(max_connections=options.concurrency * 2)
    timeout = httpx.Timeout(60.0)
    async with (
        httpx.AsyncClient(
            base_url=_root(options.base_url), headers=headers, timeout=timeout, limits=limits
        ) as client,
        httpx.AsyncClient(base_url=_root(options.mock_url), timeout=10.0)
        if options.mock_url
        else _Null() as mock,
    ):
        served = await _served(client)
        if mock is not None and not await _answers(mock, "/_mock/health"):
            print(f"no mock upstream answers at {options.mock_url}: no faults injected", flush=True)
            mock = None
        traffic = Traffic(client, mock, rng, served)

        def next_request() -> tuple[str, Callable[[], Awaitable[int]]] | None:
            nonlocal sent
            if stop is not None and stop.is_set():
                return None
            if deadline is not None and time.monotonic() >= deadline:
                return None
            if options.requests is not None and sent >= options.requests:
                return None
            if not queue:
                queue.extend(traffic.round())
            sent += 1
            return queue.pop()

        async def worker() -> None:
            while (item := next_request()) is not None:
                name, send = item
                began = time.monotonic()
                try:
                    status = str(await send())
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                tally[f"{name} {status}"] += 1
                pause = interval - (time.monotonic() - began)
                if pause > 0:
                    await asyncio.sleep(pause)

        await asyncio.gather(*(worker() for _ in range(options.concurrency)))
    return tally


async def _served(client: httpx.AsyncClient) -> frozenset[str] | None:
    """The model names the gateway lists (`GET /v1/models`), or None when it does not say."""
    try:
        response = await client.get("/v1/models")
        return frozenset(m["id"] for m in response.json()["data"]) if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


async def _answers(client: httpx.AsyncClient, path: str) -> bool:
    try:
        return (await client.get(path)).status_code == 200
    except httpx.HTTPError:
        return False


class _Null:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.demo_traffic", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--base-url", default="http://localhost:8000", help="the gateway (with or without /v1)"
    )
    parser.add_argument("--api-key", default="sk-grid-demo", help="a client key of the gateway")
    parser.add_argument("--mock-url", default=None, help="mock upstream to inject faults into (optional)")
    limit = parser.add_mutually_exclusive_group()
    limit.add_argument("--seconds", type=float, default=None, help="run this long")
    limit.add_argument("--requests", type=int, default=None, help="send this many requests")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rps", type=float, default=20.0, help="target requests per second, 0 = no limit")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    seconds = args.seconds if args.seconds is not None or args.requests is not None else 60.0
    options = Options(
        base_url=args.base_url,
        api_key=args.api_key,
        mock_url=args.mock_url,
        seconds=seconds,
        requests=args.requests,
        concurrency=args.concurrency,
        rps=args.rps,
        seed=args.seed,
    )
    mode = f"{seconds:g} s" if seconds else f"{args.requests} requests"
    print(f"demo traffic to {options.base_url} for {mode} (faults: {options.mock_url or 'off'})", flush=True)
    started = time.monotonic()
    tally = asyncio.run(run(options))
    total = sum(tally.values())
    print(f"{total} requests in {time.monotonic() - started:.1f} s")
    for key, count in sorted(tally.items()):
        print(f"  {count:6d}  {key}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
