"""model=auto, the pure parts: analysis, token counting, scoring and its hard filters, history,
stickiness, capabilities config. No gateway process, no network."""

from __future__ import annotations

import importlib.util
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config.loader import build_from_dict
from gateway.config.problems import Problems
from gateway.config.validate import validate
from gateway.selector import Selector, Unservable, classifier, lexicon, shapes, signals
from gateway.selector.analysis import analyse
from gateway.selector.capabilities import Profile, parse
from gateway.selector.history import History
from gateway.selector.scoring import Health, Ranking, rank, unfit_reasons
from gateway.selector.selector import route_reason
from gateway.selector.sticky import Sessions
from gateway.selector.tokens import COUNTER, TokenCounter, heuristic, load_encoding, tokenizer_dir


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": [{"role": "user", "content": text}], **extra}


CHEAP = Profile("cheap", quality=0.5, context_window=4000, tools=False, vision=False, json=False,
                input_cost=0.1e-6, output_cost=0.4e-6)  # fmt: skip
STRONG = Profile("strong", quality=0.95, context_window=128_000, tools=True, vision=True, json=True,
                 input_cost=5e-6, output_cost=15e-6)  # fmt: skip


def ranked(body: dict[str, Any], tradeoff: float = 10, health: dict[str, Health] | None = None) -> list[str]:
    ranking = rank(analyse(body), [CHEAP, STRONG], health or {}, tradeoff)
    return [c.group for c in ranking.ranked]


# -- analysis -------------------------------------------------------------------------------------


def test_analysis_reads_requirements_from_the_body():
    body = {
        "messages": [
            {"role": "system", "content": "Answer in JSON."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"},
                    },
                ],
            },
        ],
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        "max_completion_tokens": 300,
    }
    found = analyse(body)
    assert found.requires.tools and found.requires.vision and found.requires.json
    assert found.requires.json_schema and found.requires.max_tokens == 300
    assert found.prompt_tokens > 85  # the low-detail image alone is 85 tokens
    plain = analyse(chat("hi"))
    assert not (plain.requires.tools or plain.requires.vision or plain.requires.json)
    assert plain.requires.max_tokens is None


def test_a_conversation_with_tool_calls_requires_tools_even_without_tools_in_the_body():
    body = {
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function"}]},
            {"role": "tool", "tool_call_id": "1", "content": "sunny"},
        ]
    }
    assert analyse(body).requires.tools


def test_legacy_completion_prompt_is_read_as_one_user_turn():
    found = analyse({"model": "auto", "prompt": "Translate to French: good night"})
    assert found.task == "translation" and found.turns == 1


def test_complexity_grows_with_difficulty_and_stays_in_bounds():
    easy = analyse(chat("hi")).complexity
    hard = analyse(
        chat("Prove rigorously, step by step, that the eigenvalues of a real symmetric matrix are real.")
    ).complexity
    huge = analyse(
        chat("Explain the trade-offs in depth. " + "Consider distributed consensus edge cases. " * 400)
    ).complexity
    assert 0.0 <= easy < 0.15 < hard <= 1.0
    assert hard < huge <= 1.0


ANALYSE_IN_A_CHILD = (
    "import pickle, sys\n"
    "from gateway.selector.analysis import analyse\n"
    "body = {'model': 'auto', 'messages': [{'role': 'user', 'content': sys.argv[1]}]}\n"
    "sys.stdout.buffer.write(pickle.dumps(analyse(body)))\n"
)


@pytest.mark.parametrize(
    "text", ["Write a Python function that merges two sorted lists.", "Translate 'hi' to French"]
)
def test_the_analysis_of_a_body_is_the_same_in_every_process(text):
    """Processes differ in their string-hash seed (set and dict orders): the decision must not."""
    here = analyse(chat(text))
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        child = subprocess.run(
            [sys.executable, "-c", ANALYSE_IN_A_CHILD, text],
            capture_output=True,
            env=env,
            timeout=60,
            check=True,
        )
        assert pickle.loads(child.stdout) == here  # noqa: S301 - our own child's output


# -- tokens ---------------------------------------------------------------------------------------


def test_bundled_encoding_is_found_without_importing_litellm():
    code = (
        "import sys\n"
        "from gateway.selector.tokens import load_encoding\n"
        "enc = load_encoding()\n"
        "assert enc is not None and enc.name == 'o200k_base'\n"
        "assert len(enc.encode_ordinary('hello world')) == 2\n"
        "assert 'litellm' not in sys.modules, 'litellm was imported'\n"
    )
    # No network: tiktoken would try to download only if it were asked for a named encoding.
    env = {"PATH": "", "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr


def test_missing_tokenizer_files_fall_back_to_the_heuristic(tmp_path):
    assert load_encoding(tmp_path) is None
    counter = TokenCounter()  # never warmed up: heuristic until the encoding is loaded
    tokens, exact = counter.estimate("x" * 400)
    assert (tokens, exact) == (100, False)
    assert heuristic("日本語の文章") == 6  # one token per CJK character


def test_long_prompts_are_estimated_from_samples_close_to_the_exact_count():
    COUNTER.warm_up(wait=True)
    assert tokenizer_dir() is not None and COUNTER.ready
    text = " ".join(f"word{i % 97} and some prose, numbers {i} and punctuation!" for i in range(300))
    estimate, exact = COUNTER.estimate(text)
    assert not exact
    assert abs(estimate - COUNTER.count(text)) / COUNTER.count(text) < 0.15
    medium = "A sentence of ordinary English prose, repeated. " * 10
    assert COUNTER.estimate(medium) == (COUNTER.count(medium), True)
    assert COUNTER.estimate("short text") == (heuristic("short text"), False)  # by length: nothing near


def test_tiktoken_and_litellm_are_not_imported_until_an_encoding_is_loaded():
    """LiteLLM's files are found with importlib.util.find_spec (importing it costs seconds); tiktoken is
    imported only by load_encoding, in the warm-up thread, never by importing the gateway."""
    assert importlib.util.find_spec("tiktoken") is not None  # the installed LiteLLM depends on it
    code = (
        "import sys\n"
        "import gateway.app, gateway.selector.tokens as tokens\n"
        "assert 'tiktoken' not in sys.modules, 'importing the gateway imported tiktoken'\n"
        "directory = tokens.tokenizer_dir()\n"
        "assert directory is not None and directory.is_dir(), directory\n"
        "assert 'litellm' not in sys.modules, 'finding the tokenizer files imported litellm'\n"
        "assert 'tiktoken' not in sys.modules\n"
        "assert tokens.load_encoding() is not None and 'tiktoken' in sys.modules\n"
        "assert 'litellm' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# -- scoring: hard filters ------------------------------------------------------------------------


def test_context_window_too_small_filters_the_group():
    assert ranked(chat("hi")) == ["cheap", "strong"]
    long_prompt = chat("lorem ipsum dolor sit amet " * 1200)  # ~6,000 tokens > cheap's 4,000
    assert ranked(long_prompt) == ["strong"]
    assert ranked(chat("hi", max_tokens=3999)) == ["strong"]  # prompt + max_tokens must fit


def test_tools_vision_and_json_need_support():
    tools = chat("what's the weather?", tools=[{"type": "function", "function": {"name": "w"}}])
    image = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}
    json_mode = chat("list three colours", response_format={"type": "json_object"})
    for body in (tools, image, json_mode):
        ranking = rank(analyse(body), [CHEAP, STRONG], {}, 10)
        assert [c.group for c in ranking.ranked] == ["strong"]
        assert [r.group for r in ranking.rejected] == ["cheap"] and ranking.rejected[0].unfit


def test_unknown_capabilities_pass_the_filters():
    unknown = Profile("unknown")
    tools = chat("weather?", tools=[{"type": "function", "function": {"name": "w"}}])
    assert [c.group for c in rank(analyse(tools), [unknown], {}, 5).ranked] == ["unknown"]


def test_the_ranking_filters_exactly_the_groups_unfit_reasons_names():
    requests = [
        chat("hi"),
        chat("hi", max_tokens=900),
        chat("x " * 2000),
        chat("weather?", tools=[{"type": "function", "function": {"name": "w"}}]),
        chat("list colours", response_format={"type": "json_schema", "json_schema": {"name": "c"}}),
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
    ]
    profiles = [
        Profile("unknown"),
        Profile("small", context_window=1000, max_output_tokens=500),
        Profile("no-tools", tools=False),
        Profile("no-vision", vision=False, json_schema=False),
        Profile("no-json", json=False),
        CHEAP,
        STRONG,
    ]
    for body in requests:
        analysis = analyse(body)
        ranking = rank(analysis, profiles, {}, 5)
        rejected = {r.group: r.reasons for r in ranking.rejected}
        for profile in profiles:
            reasons = unfit_reasons(analysis, profile)
            assert rejected.get(profile.group, ()) == reasons, (body, profile.group)


def test_a_group_whose_breakers_are_all_open_is_filtered_but_not_unfit():
    ranking = rank(analyse(chat("hi")), [CHEAP, STRONG], {"cheap": Health(available=False)}, 10)
    assert [c.group for c in ranking.ranked] == ["strong"]
    assert ranking.rejected[0].group == "cheap" and not ranking.rejected[0].unfit


# -- scoring: the tradeoff knob and history ---------------------------------------------------------


def test_tradeoff_zero_and_ten_choose_different_groups_for_the_same_request():
    body = chat("Compare two approaches to caching and explain the trade-offs.")
    assert ranked(body, tradeoff=0)[0] == "strong"
    assert ranked(body, tradeoff=10)[0] == "cheap"


def test_hard_requests_go_to_the_strong_model_at_a_balanced_tradeoff():
    assert ranked(chat("hello!"), tradeoff=5)[0] == "cheap"
    proof = chat("Prove rigorously, step by step, that there are infinitely many primes. Justify each step.")
    assert ranked(proof, tradeoff=5)[0] == "strong"


def test_history_moves_the_choice_away_from_a_failing_or_slow_group():
    body = chat("hello!")
    assert ranked(body, tradeoff=5)[0] == "cheap"
    failing = {"cheap": Health(error_rate=0.6, freshness=1.0)}
    assert ranked(body, tradeoff=5, health=failing)[0] == "strong"
    a, b = (
        Profile("a", quality=0.8, input_cost=1e-6, output_cost=1e-6),
        Profile("b", quality=0.8, input_cost=1.2e-6, output_cost=1.2e-6),
    )
    assert rank(analyse(body), [a, b], {}, 5).ranked[0].group == "a"
    slow = {"a": Health(latency=2.0, freshness=1.0), "b": Health(latency=0.1, freshness=1.0)}
    assert rank(analyse(body), [a, b], slow, 5).ranked[0].group == "b"


def test_scores_are_bounded_and_ranked_best_first():
    ranking = rank(analyse(chat("Write a poem about the sea")), [CHEAP, STRONG], {}, 5, explain=True)
    scores = [c.score for c in ranking.ranked]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert all(c.reasons for c in ranking.ranked)
    assert not any(c.reasons for c in rank(analyse(chat("hi")), [CHEAP, STRONG], {}, 5).ranked)


# -- history and sessions ---------------------------------------------------------------------------


def test_history_keeps_moving_averages_per_group_and_task_and_fades_with_age():
    clock = Clock()
    history = History(half_life=60, clock=clock)
    for _ in range(3):
        history.record("a", "math", latency=None, error=True)
    health = history.health("a", "math")
    assert health.error_rate > 0.6 and health.freshness == 1.0
    clock.now += 120  # two half-lives
    assert history.health("a", "math").error_rate == pytest.approx(health.error_rate / 4)
    history.record("a", None, latency=0.5, error=False)
    assert history.health("a", "translation").latency == 0.5  # few task samples: the group's view
    stats = history.stats()["a"]
    assert stats["requests"] == 4 and stats["errors"] == 3 and stats["tasks"]["math"]["requests"] == 3


def test_the_board_changes_only_with_news_or_as_history_fades():
    clock = Clock()
    history = History(half_life=64, clock=clock)  # a fade step of 1 s
    for _ in range(4):
        history.record("a", "math", latency=1.0, error=False)
    epoch, board = history.board("math")
    assert board["a"].latency == 1.0 and history.board("math") == (epoch, board)
    history.record("a", "math", latency=1.05, error=False)  # the average moves 1.5%: no news
    assert history.board("math")[0] == epoch
    history.record("a", "math", latency=2.0, error=False)  # it moves ~30%: news
    epoch, board = history.board("math")
    assert board["a"].latency == pytest.approx(1.0 + 0.3 * 0.05 + 0.3 * (2.0 - 1.015))
    history.record("a", "math", latency=None, error=True)  # an error is news too
    assert history.board("math")[0] > epoch and history.board("math")[1]["a"].error_rate > 0.2
    epoch, board = history.board("math")
    clock.now += 0.5
    assert history.board("math")[0] == epoch  # within a fade step: the same board
    clock.now += 0.6
    later = history.board("math")
    assert later[0] > epoch and later[1]["a"].freshness < board["a"].freshness


def test_jitter_of_a_fast_group_is_no_news_and_turning_slow_is():
    history = History(clock=Clock())
    for _ in range(4):
        history.record("fast", "math", latency=0.001, error=False)
    epoch = history.board("math")[0]
    for latency in (0.0015, 0.0005, 0.002, 0.001):  # sub-millisecond jitter: no score would move
        history.record("fast", "math", latency=latency, error=False)
    assert history.board("math")[0] == epoch
    history.record("fast", "math", latency=0.1, error=False)  # 100 ms: the average moves 30 ms
    assert history.board("math")[0] > epoch


def test_a_kept_ranking_follows_the_history_and_the_breakers():
    snapshot, _ = snapshot_with(ROUTING)
    selector = Selector(snapshot)
    body = chat("Prove that the square root of 2 is irrational, step by step.")
    first = selector.decide(body)
    assert selector.decide(body).ranking is first.ranking  # kept: nothing new
    for _ in range(5):  # the chosen group starts failing
        selector.feedback(
            served=first.chosen, first=first.chosen, task=first.analysis.task, status=502, latency=None
        )
    moved = selector.decide(body)
    assert moved.chosen != first.chosen and moved.reason != first.reason
    down = selector.decide(body, available=lambda g: g != moved.chosen)
    assert down.chosen not in (moved.chosen,) and [r.group for r in down.ranking.rejected] == [moved.chosen]


def test_sessions_expire_after_their_ttl_and_stay_bounded():
    clock = Clock()
    sessions = Sessions(ttl=10, max_entries=2, clock=clock)
    sessions.put("s1", "a")
    clock.now += 5
    assert sessions.get("s1") == "a"
    sessions.put("s1", "a")  # used again: lives 10 s from now
    clock.now += 8
    assert sessions.get("s1") == "a"
    clock.now += 11
    assert sessions.get("s1") is None
    for name in ("x", "y", "z"):
        sessions.put(name, "a")
    assert len(sessions) == 2 and sessions.get("x") is None  # least recently used dropped first
    off = Sessions(ttl=0, max_entries=10)
    off.put("s", "a")
    assert off.get("s") is None


# -- the selector: stickiness, counts, errors -------------------------------------------------------


def snapshot_with(routing: dict[str, Any], groups: tuple[str, ...] = ("cheap", "strong")):
    raw = {
        "model_list": [
            {"model_name": g, "litellm_params": {"model": f"openai/{g}-x", "api_base": "http://h/v1"}}
            for g in groups
        ],
        "model_routing": routing,
    }
    problems = Problems()
    snapshot = build_from_dict(raw, {}, problems)
    validate(snapshot, problems)
    return snapshot, problems


ROUTING = {
    "tradeoff": 5,
    "session_ttl": 60,
    "capabilities": {
        "cheap": {
            "quality": 0.5,
            "input_cost_per_million": 0.1,
            "output_cost_per_million": 0.4,
            "supports_tools": False,
        },
        "strong": {"quality": 0.95, "input_cost_per_million": 5, "output_cost_per_million": 15},
    },
}


def test_a_session_keeps_its_group_until_the_group_cannot_serve_it():
    snapshot, problems = snapshot_with(ROUTING)
    assert not problems.errors
    selector = Selector(snapshot)
    first = selector.decide(chat("hi"), allowed=None, available=None, session="s")
    assert first.chosen == "cheap" and not first.sticky
    proof = chat("Prove rigorously, step by step, that there are infinitely many primes. Justify each step.")
    assert selector.decide(proof, allowed=None, available=None).chosen == "strong"
    kept = selector.decide(proof, allowed=None, available=None, session="s")
    assert kept.chosen == "cheap" and kept.sticky and "sticky=1" in kept.reason
    tools = chat("weather?", tools=[{"type": "function", "function": {"name": "w"}}])
    moved = selector.decide(tools, allowed=None, available=None, session="s")
    assert moved.chosen == "strong" and not moved.sticky  # cheap cannot call tools
    assert selector.decide(chat("hi"), allowed=None, available=None, session="s").chosen == "strong"
    down = selector.decide(chat("hi"), allowed=None, available=lambda g: g != "strong", session="s")
    assert down.chosen == "cheap"  # unhealthy: every breaker of strong is open
    assert selector.sessions.stats()["hits"] == 2 and selector.sessions.stats()["reassigned"] == 2


def test_decisions_are_counted_and_the_header_is_short_ascii():
    snapshot, _ = snapshot_with(ROUTING)
    selector = Selector(snapshot)
    decision = selector.decide(chat("Translate 'good night' into German"), allowed=None, available=None)
    header = decision.reason
    assert header.isascii() and len(header) < 200
    assert header.startswith("task=translation; complexity=") and "chosen=cheap" in header
    assert "candidates=cheap:" in header and ",strong:" in header
    assert selector.stats()["decisions"] == {"translation": {"cheap": 1}}


def test_every_candidate_filtered_raises_unservable_with_the_reasons():
    snapshot, _ = snapshot_with(ROUTING)
    selector = Selector(snapshot)
    tools = chat("weather?", tools=[{"type": "function", "function": {"name": "w"}}])
    with pytest.raises(Unservable) as info:
        selector.decide(tools, allowed=lambda g: g == "cheap", available=None)
    assert info.value.ranking.rejected[0].reasons == ("no tool calling",)


def test_reload_keeps_history_sessions_and_counts():
    snapshot, _ = snapshot_with(ROUTING)
    selector = Selector(snapshot)
    selector.decide(chat("hi"), allowed=None, available=None, session="s")
    selector.feedback(served="cheap", first="cheap", task="general_chat", status=200, latency=0.1)
    changed, _ = snapshot_with({**ROUTING, "tradeoff": 0})
    selector.reload(changed)
    assert selector.config.tradeoff == 0
    assert selector.history.stats()["cheap"]["requests"] == 1
    assert selector.sessions.get("s") == "cheap" and selector.stats()["decisions_total"] == 1


def test_a_repeated_body_is_decided_exactly_as_a_new_one_whatever_changed_in_between():
    clock = Clock()
    snapshot, _ = snapshot_with(ROUTING)
    remembered, fresh = Selector(snapshot, clock=clock), Selector(snapshot, clock=clock)
    bodies = [
        chat("hi"),
        chat("Translate 'good night' into German", max_tokens=50),
        chat("weather?", tools=[{"type": "function", "function": {"name": "w"}}]),
        chat("Prove rigorously, step by step, that there are infinitely many primes."),
    ]
    # the groups' health changes between repeats: errors, latencies, a breaker, a key's permissions
    changes = [
        (None, None, None),
        (None, None, ("cheap", 200, 0.3)),
        (None, None, ("strong", 200, 0.1)),
        (None, lambda g: g != "strong", None),
        (lambda g: g != "cheap", None, ("cheap", 500, None)),
        (None, None, ("strong", 200, 0.1)),
    ]
    for allowed, available, outcome in changes * 2:
        clock.now += 7
        if outcome is not None:
            group, status, latency = outcome
            for selector in (remembered, fresh):
                selector.feedback(
                    served=group, first=group, task="general_chat", status=status, latency=latency
                )
        for body in bodies:
            want = from_scratch(fresh, body, allowed, available)
            if not want.ranked:
                with pytest.raises(Unservable):
                    remembered.decide(body, allowed=allowed, available=available)
                continue
            got = remembered.decide(body, allowed=allowed, available=available)
            assert got.ranking == want and got.chosen == want.ranked[0].group
            assert got.reason == route_reason(got.analysis, want, got.chosen, False)


def from_scratch(selector: Selector, body: dict[str, Any], allowed, available) -> Ranking:
    """The ranking `decide` must reach, computed with nothing remembered (the pure `rank`)."""
    analysis = selector.analyse(body)
    groups = [g for g in selector.candidates if allowed is None or allowed(g)]
    health = {g: selector.history.health(g, analysis.task, available is None or available(g)) for g in groups}
    profiles = [selector.config.profiles[g] for g in groups]
    return rank(analysis, profiles, health, selector.config.tradeoff)


def test_requests_of_one_outcome_share_a_plan_and_are_decided_as_if_alone():
    snapshot, _ = snapshot_with(ROUTING)
    selector, fresh = Selector(snapshot), Selector(snapshot)
    for n in range(5):
        body = chat(f"Say hello in five words to visitor {100 + n}.")  # new bodies, one outcome
        got = selector.decide(body, allowed=None, available=None)
        want = from_scratch(fresh, body, None, None)
        assert got.ranking == want and got.reason == route_reason(got.analysis, want, got.chosen, False)
    assert len(selector.plans) == 1


def test_shared_plans_rank_every_labelled_prompt_as_from_scratch():
    snapshot, _ = snapshot_with(ROUTING)
    selector, fresh = Selector(snapshot), Selector(snapshot)
    for path in sorted((Path(__file__).parent / "data").glob("selector_prompts*.yaml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")):
            messages = item.get("messages") or [{"role": "user", "content": item["prompt"]}]
            body = {"model": "auto", "messages": messages, "max_tokens": 300}
            got = selector.decide(body, allowed=None, available=None)
            assert got.ranking == from_scratch(fresh, body, None, None), item
    assert 1 < len(selector.plans) < selector.stats()["decisions_total"]  # outcomes repeat: shared


def test_plans_are_forgotten_on_reload():
    snapshot, _ = snapshot_with(ROUTING)
    selector = Selector(snapshot)
    selector.decide(chat("hi"), allowed=None, available=None)
    assert len(selector.plans) == 1
    selector.reload(snapshot)
    assert len(selector.plans) == 0  # worked out with the old profiles


def test_feedback_records_a_fallback_as_a_failure_of_the_first_group_and_ignores_client_errors():
    snapshot, _ = snapshot_with(ROUTING)
    selector = Selector(snapshot)
    selector.feedback(served="strong", first="cheap", task="math", status=200, latency=0.2)
    selector.feedback(served="strong", first="strong", task="math", status=400, latency=None)
    groups = selector.history.stats()
    assert groups["cheap"]["errors"] == 1 and groups["strong"]["requests"] == 1


# -- configuration ----------------------------------------------------------------------------------


def problems_of(routing: dict[str, Any]) -> list[str]:
    _, problems = snapshot_with(routing)
    return [str(p) for p in problems if p.field.startswith("model_routing")]


@pytest.mark.parametrize(
    ("routing", "expected"),
    [
        ({"tradeoff": 11}, "error: model_routing.tradeoff: must be between 0 and 10, got 11"),
        ({"auto_select": "yes"}, "error: model_routing.auto_select: must be true or false"),
        ({"session_ttl": -1}, "error: model_routing.session_ttl: must be at least 0, got -1"),
        (
            {"auto_models": ["ghost"]},
            "error: model_routing.auto_models[0]: 'ghost' is not a model group or alias",
        ),
        (
            {"capabilities": {"ghost": {}}},
            "error: model_routing.capabilities.ghost: 'ghost' is not a model group",
        ),
        (
            {"capabilities": {"cheap": {"tasks": ["poetry"]}}},
            "error: model_routing.capabilities.cheap.tasks: unknown task 'poetry'",
        ),
        (
            {"capabilities": {"cheap": {"tasks": {"math": 2}}}},
            "error: model_routing.capabilities.cheap.tasks.math: must be between 0 and 1",
        ),
        (
            {"capabilities": {"cheap": {"quality": "high"}}},
            "error: model_routing.capabilities.cheap.quality: must be a number",
        ),
        (
            {"capabilities": {"cheap": {"supports_tools": 1}}},
            "error: model_routing.capabilities.cheap.supports_tools: must be true or false",
        ),
        (
            {"capabilities": {"cheap": {"context_window": 0}}},
            "error: model_routing.capabilities.cheap.context_window: must be a whole number",
        ),
        (
            {"capabilities": {"cheap": {"input_cost_per_million": -1}}},
            "error: model_routing.capabilities.cheap.input_cost_per_million: must be at least 0",
        ),
        ({"auto_select": True}, "error: model_routing.auto_select: is true but there is no candidate"),
        (
            {"capabilities": {"cheap": {"colour": "red"}}},
            "warning: model_routing.capabilities.cheap.colour: unknown key, ignored",
        ),
        ({"auto_selct": True}, "warning: model_routing.auto_selct: unknown key, ignored"),
        ({"experiments": [], "experiment_feedback": {}}, None),  # the experiments module's keys
    ],
)
def test_model_routing_problems_are_named_by_field(routing, expected):
    found = problems_of(routing)
    if expected is None:
        assert not [p for p in found if "unknown key" in p], found
    else:
        assert any(p.startswith(expected) for p in found), found


def test_grid_ai_model_auto_needs_candidates():
    raw = {
        "model_list": [
            {"model_name": "a", "litellm_params": {"model": "openai/a", "api_base": "http://h/v1"}}
        ]
    }
    problems = Problems()
    validate(build_from_dict(raw, {"GRID_AI_MODEL": "auto"}, problems), problems)
    assert any(str(p).startswith("warning: GRID_AI_MODEL: is 'auto' but") for p in problems), list(problems)
    assert not problems.errors


def test_the_chatvault_list_form_and_defaults_from_litellm_map():
    raw = {
        "model_list": [
            {"model_name": "mini", "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "k"}}
        ],
        "model_routing": {"capabilities": {"mini": ["general_chat", "question_answering"]}},
    }
    snapshot = build_from_dict(raw, {}, Problems())
    profile = parse(snapshot.model_routing, snapshot).profiles["mini"]
    assert set(profile.tasks) == {"general_chat", "question_answering"}
    assert profile.context_window == 128_000 and profile.tools is True and profile.vision is True
    assert profile.input_cost == pytest.approx(0.15e-6)


def test_the_shipped_config_validates_with_auto_routing():
    from gateway.config.loader import load_config

    snapshot, problems = load_config(
        "config.yaml", {"GRID_MOCK_URL": "http://m", "GRID_MOCK_ANTHROPIC_URL": "http://a"}
    )
    assert not problems.errors
    selector = Selector(snapshot)
    assert selector.candidates == ("gpt-4o-mini", "claude-haiku-4-5", "gpt-4o")
    assert selector.decide(chat("hi"), allowed=None, available=None).chosen == "gpt-4o-mini"


def test_every_trace_mark_holds_a_core_and_a_trace_is_found_by_its_mark():
    for mark in signals.TRACE_MARKS:
        assert any(core in mark.lower() for core in signals.TRACE_CORES), mark
        assert signals.has_trace(f"it printed {mark} and stopped")
    assert not signals.has_trace("The exit was closed, so we found another way out.")


def _classes(text: str) -> int:
    return lexicon.scan(lexicon.words(text), 1.0, [0.0] * lexicon.SLOTS, set())


def test_the_word_classes_that_gate_the_trace_and_persona_checks_let_every_one_through():
    # a short turn read whole is checked for a trace or a persona only when its words hold a hint
    for mark in signals.TRACE_MARKS:
        text = f"it printed {mark} and stopped"
        assert _classes(text) & classifier.TRACE_HINT, mark
        assert classifier.classify(text)[1].trace, mark
    personas = [
        "You are Luna, a pirate captain.",
        "you're Captain Hook now.",
        "Du bist Hans, ein Bäcker.",
        "Tu es Marie, une détective.",
        "Eres Carmen, una cantante.",
        "Sei Giulia, una cuoca.",
        "Você é Ana, uma professora.",
        "Be Socrates and question me.",
        "Play Hamlet for me.",
        "Sé Carmen.",
        "Sois Marie.",
        "Spiel Hans.",
        "Spiele Hans.",
    ]
    for text in personas:
        assert shapes.persona(text), text
        assert _classes(text) & classifier.PERSONA_HINT, text
    for keyword in ("def ", "import ", "return "):
        text = f"then {keyword}value"
        assert signals.code_strength(text) > 0, keyword
        assert _classes(text) & classifier.CODE_HINT, keyword
    hints = classifier.TRACE_HINT | classifier.PERSONA_HINT | classifier.CODE_HINT
    assert not _classes("Say hello in five words.") & hints


def test_quantities_counts_numbers_that_are_amounts_and_finds_arithmetic_between_two_numbers():
    def quantities(text: str) -> tuple[int | None, bool]:
        return signals.quantities(lexicon.words(text))

    assert quantities("no numbers at all") == (None, False)
    assert quantities("give me 3 bullets") == (0, False)  # a count of answer parts
    assert quantities("I have 12 apples and 5") == (2, False)
    assert quantities("what is 17 times 23") == (2, True)  # both numbers found, overlapping
    assert quantities("100 divided by 4") == (2, True)
    assert quantities("100 divided by") == (1, False)
    assert quantities("7 times the fun") == (1, False)


@pytest.mark.parametrize(
    ("text", "is_riddle"),
    [
        ("What has keys but can't open locks?", True),
        ("What has a neck but no head, and wears a cap?", True),
        ("What goes up but never comes down, whatever you do?", True),
        ("I speak without a mouth and hear without ears. What am I?", True),
        ("Tengo agujas pero no sé coser, ¿quién soy?", True),
        ("Who am I?", False),  # alone: a question about the asker, not a riddle
        ("What has changed in Python 3.12 but not in 3.11?", False),
        ("What can I cook tonight but without eggs?", False),
        ("What goes well with salmon but is not too heavy?", False),
        ("What has the highest GDP but the lowest growth in Europe?", False),
    ],
)
def test_the_shapes_of_a_riddle_and_the_questions_that_only_look_like_one(text, is_riddle):
    assert signals.riddle(lexicon.words(text)) is is_riddle


def test_a_riddle_is_reasoning_and_a_lookalike_question_is_not():
    assert classifier.classify("What has keys but can't open locks, and space but no room?")[0] == "reasoning"
    assert classifier.classify("The more you take, the more you leave behind. What am I?")[0] == "reasoning"
    assert classifier.classify("What has changed in Python 3.12 but not in 3.11?")[0] != "reasoning"


def _conversation_task(*turns: str) -> str:
    """The task of a conversation whose turns alternate user, assistant, ..., user."""
    roles = ["user", "assistant"] * len(turns)
    messages = [{"role": r, "content": t} for r, t in zip(roles, turns, strict=False)]
    return analyse({"model": "auto", "messages": messages}).task


def test_a_follow_up_that_opens_with_ok_or_thanks_goes_on_with_the_conversation():
    visa = ("Do I need a visa to visit Japan for two weeks as a US citizen?", "No, for up to 90 days.")
    assert _conversation_task(
        *visa, "ok and what currency do they use there? are credit cards widely accepted?"
    ) == ("question_answering")
    assert (
        _conversation_task(*visa, "thanks!") == "general_chat"
    )  # a thank-you alone still ends the conversation


def test_politeness_between_the_words_of_a_request_does_not_hide_its_phrase():
    assert lexicon.words("Spiel bitte einen Taxifahrer") == ["spiel", "einen", "taxifahrer"]
    assert classifier.classify(
        "Spiel bitte einen ruppigen Berliner Taxifahrer, der mich zum Flughafen fährt."
    )[0] == ("roleplay")
    assert classifier.classify("can you pls act as my landlord? I want to practise asking for a repair")[
        0
    ] == ("roleplay")
    cues = [*lexicon.LEXICON.exact, *lexicon.LEXICON.stems, *lexicon.LEXICON.phrases]
    cues += [word for rests in lexicon.LEXICON.phrases.values() for word in rests]
    assert lexicon.FILLERS.isdisjoint(cues)  # a filler is never looked up: no cue may hold one


def test_material_after_a_short_first_paragraph_is_weaker_evidence_than_the_instruction():
    memo = (
        "Starting January 1, all employees must book travel through the new portal. Bookings made "
        "outside it will no longer be reimbursed except in documented emergencies, and the policy "
        "limits are now checked automatically. Managers must approve any trip over 2 nights. "
    ) * 2
    assert classifier.classify("tl;dr pls\n\n" + memo)[0] == "summarization"
    logs = "\n".join(
        f"2024-11-18T10:02:{n:02d}Z req=9f1a{n} GET /api/orders {200 if n % 3 else 502} {40 + n}ms"
        for n in range(12)
    )
    assert classifier.classify("from these logs get me every request id that returned a 5xx\n\n" + logs)[
        0
    ] == ("extraction")
    # the same words without the blank line are read as one text; a short text after it is no material
    assert shapes.paragraph_cut("tl;dr pls\n\n" + memo) == len("tl;dr pls\n\n")
    assert shapes.paragraph_cut("Translate this\n\nHola") == 0


def test_small_talk_inside_a_scene_the_user_set_up_is_a_line_of_the_scene():
    scene = ("Act as a grumpy waiter in a Madrid tapas bar. I'm the customer.", "¿Qué quiere?")
    assert _conversation_task(*scene, "Hola, ¿me trae la carta, por favor?") == "roleplay"
    assert _conversation_task(*scene, 'ok, stop. translate "the bill, please" into German') == "translation"
    intro = ("I'm a teacher and need help with my class.", "Sure, how can I help?")
    assert _conversation_task(*intro, "what is the capital of France?") == "question_answering"
    assert _conversation_task("We're a team of 12 based in Canada.", "Noted.", "does GDPR apply to us?") == (
        "question_answering"
    )


def test_a_product_assistant_named_in_the_system_prompt_is_not_a_character_to_play():
    for system in (
        "You are Nova, a friendly assistant in a consumer chat app made by Lumen Labs.",
        "You are StudyBuddy, a homework helper for teenagers. Always show the steps.",
        "Du bist LexAssist, der HR- und Rechtsassistent eines Unternehmens.",
        "You are CodePilot, an AI assistant embedded in the user's IDE.",
    ):
        assert not shapes.persona(system), system
        assert classifier.classify("what's your name? are you chatgpt?", system)[0] == "general_chat"
    assert shapes.persona("You are Captain Mara Voss, commander of the freighter Kestrel. Stay in character.")
    assert shapes.persona("You are Luna, a shy elf who guards the forest.")


def test_a_language_code_on_the_first_line_asks_for_a_translation():
    for text in (
        "EN→ES\nYour order has shipped.",
        "pt-BR:\nForgot your password?",
        "de > fr\nDie Lieferung kommt morgen an.",
    ):
        assert classifier.classify(text)[0] == "translation", text
    for text in ("Hi:\nthere is a problem with my order", "It:\nwas raining all day", "Note\nbuy milk"):
        assert not shapes.language_line(text), text


def test_a_follow_up_that_asks_nothing_new_goes_on_with_the_conversation():
    sql = "```sql\nSELECT c.name, SUM(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id;\n```"
    messages = [
        {"role": "user", "content": "postgres: top 10 customers by total spend"},
        {"role": "assistant", "content": sql},
        {"role": "user", "content": "nice. now same thing but per month, only for 2025"},
    ]
    assert analyse({"model": "auto", "messages": messages}).task == "code_generation"
    assert classifier.classify("ok so is a tomato a fruit or not")[0] == "question_answering"


def test_code_shown_with_a_problem_is_a_review_and_with_a_request_to_make_something_is_not():
    dockerfile = (
        "FROM python:3.11\nWORKDIR /app\nCOPY . .\nRUN apt-get update && apt-get install -y gcc\n"
        'RUN pip install -r requirements.txt\nCMD ["python", "main.py"]'
    )
    assert classifier.classify("this Dockerfile builds a 2 GB image, can it be smaller?\n\n" + dockerfile)[
        0
    ] == ("code_review")
    assert classifier.classify("add a non-root user and a healthcheck to this Dockerfile:\n\n" + dockerfile)[
        0
    ] == ("code_generation")


def test_other_scripts_have_their_cues_and_latin_words_inside_them_are_words():
    assert lexicon.words("用Java写一个线程安全的单例模式") == ["java"]
    assert (
        len(lexicon.words("अनुवाद कीजिए")) == 2
    )  # vowel signs are folded away, as accents are: one word each
    cases = {
        "用Python写一个程序：读取一个CSV文件，计算每一列的平均值。": "code_generation",
        "把下面这段话翻译成英文：我们公司专注于为中小企业提供云计算服务。": "translation",
        "次の文章から、人名・組織名・地名をそれぞれ抽出してください。": "extraction",
        "请你扮演唐朝诗人李白，用他的口吻和我聊天。": "roleplay",
        "ترجم الجملة التالية إلى الإنجليزية: المكتبة مغلقة يوم الجمعة": "translation",
        "Сравни PostgreSQL и MongoDB для интернет-магазина": "analysis",
    }
    assert {text: classifier.classify(text)[0] for text in cases} == cases


def test_letters_without_a_decomposition_fold_too_and_more_languages_have_their_cues():
    assert lexicon.words("całka, çıkarıp, xác suất, Ørsted") == ["calka", "cikarip", "xac", "suat", "orsted"]
    cases = {
        "Tính xác suất để khi gieo hai con xúc xắc, tổng số chấm bằng 7.": "math",
        "Aşağıdaki metinden tüm tarihleri çıkarıp liste halinde yazar mısın?": "extraction",
        "Tolong ringkas obrolan grup ini dong, aku ketinggalan banyak": "summarization",
        "早上好呀！今天天气真不错～你今天怎么样？": "general_chat",
    }
    assert {text: classifier.classify(text)[0] for text in cases} == cases


def test_a_translation_app_translates_text_that_looks_like_code():
    system = "Translate every message the user sends into German. Keep placeholders like {name} as they are."
    text = (
        '"Level up! Your dragon is now level {level}."\n"Not enough energy. Come back in {minutes} minutes!"'
    )
    assert classifier.classify(text, system)[0] == "translation"
    assert classifier.classify("translate this Python to Go: def f(x): return x * 2")[0] == "code_generation"


def test_a_request_to_change_code_already_given_is_code_and_a_word_with_two_senses_is_not_a_cue():
    messages = [
        {
            "role": "user",
            "content": "Write me a bash script that tars up ~/projects into /mnt/backup, dated.",
        },
        {
            "role": "assistant",
            "content": '```bash\ntar -czf "/mnt/backup/projects-$(date +%F).tgz" ~/projects\n```',
        },
        {
            "role": "user",
            "content": "Nice. Now make it keep only the 7 most recent backups and log to syslog.",
        },
    ]
    assert analyse({"model": "auto", "messages": messages}).task == "code_generation"
    # 역할 is "role" in "what role does vitamin D play": not a role to play
    assert classifier.classify("비타민 D는 몸에서 어떤 역할을 하나요?")[0] == "question_answering"
    assert (
        classifier.classify("지금부터 너는 판타지 세계의 늙은 마법사야. 첫 수업을 시작해 줘.")[0]
        == "roleplay"
    )


def test_shapes_of_public_sets_a_function_to_complete_a_quoted_riddle_a_limit_an_action():
    stub = 'def longest_run(s: str) -> int:\n    """Return the length of the longest run of vowels."""\n'
    assert classifier.classify("Complete the following Python function.\n\n" + stub)[0] == "code_generation"
    said = "Brothers and sisters I have none, but that man's father is my father's son."
    riddle = f'Pointing at a photo, Tom says: "{said}" Whose photo is it?'
    assert classifier.classify(riddle)[0] == "reasoning"
    assert classifier.classify("Find lim_{x→0} (sin x − x) / x³ without L'Hôpital's rule.")[0] == "math"
    messages = [
        {"role": "user", "content": "Let's play a noir scene: you're a detective, I'm a client."},
        {"role": "assistant", "content": "*looks up from the desk* What brings you here?"},
        {"role": "user", "content": "*I sit, twisting my gloves* Four days. He's been gone four days."},
    ]
    assert analyse({"model": "auto", "messages": messages}).task == "roleplay"


def test_notation_in_latex_is_math_and_an_answer_format_is_not_a_role():
    latex = (
        r"Compute $\displaystyle\sum_{k=1}^{20} \frac{1}{k(k+1)}$. Express your answer as a common fraction."
    )
    assert classifier.classify(latex)[0] == "math"
    assert classifier.classify("光合成とはどういう仕組みですか？中学生にもわかるように説明してください。")[
        0
    ] == ("question_answering")


def test_a_bare_stub_a_making_verb_in_chinese_a_question_before_a_request_and_literary_themes():
    stub = '''def count_runs(s: str) -> int:
    """Return how many maximal runs of vowels s holds.

    >>> count_runs("beautiful")
    3
    """'''
    assert classifier.classify(stub)[0] == "code_generation"  # a signature and its docstring: the body
    go = '用Go写一个HTTP服务器：/health 返回 JSON {"status":"ok"}，收到SIGTERM时优雅关闭。'
    assert classifier.classify(go)[0] == "code_generation"  # "写" (write) with code shown: not a review
    asked = "日本の元号はいつ、誰がどうやって決めるのですか？令和のときの流れが知りたいです。"
    assert classifier.classify(asked)[0] == "question_answering"  # "？" first, then "I want to know."
    ways = "Wie viele Möglichkeiten gibt es, aus 10 Personen ein Komitee mit 4 Mitgliedern zu bilden?"
    assert classifier.classify(ways)[0] == "math"
    theme = "How does Shakespeare use the theme of ambition in Macbeth? Use specific scenes."
    assert classifier.classify(theme)[0] == "analysis"


def test_shell_one_liners_quoted_riddles_and_more_words_for_tricks_stories_laughter_and_questions():
    shell = "what does this do? found it in a cron job\n\nfind /srv -type f -name '*.tmp' -print0 | xargs -0 rm -f"
    assert classifier.classify(shell)[0] == "code_review"
    assert classifier.classify("is this ok? char buf[16]; strcpy(buf, argv[1]);")[0] == "code_review"
    middleware = "用 Go 写一个 net/http 的中间件，记录每个请求的方法和耗时。"
    assert classifier.classify(middleware)[0] == "code_generation"
    riddle = 'my kid brought this one home: "I have cities but no houses, and water but no fish. What am I?"'
    assert classifier.classify(riddle)[0] == "reasoning"
    trick = "Petite question piège : je double le deuxième d'une course. À quelle place suis-je ?"
    assert classifier.classify(trick)[0] == "reasoning"
    app = (
        "You are Quill, the writing assistant inside the Inkwell app. Match the user's requested length "
        "and tone. Do not add commentary before or after the piece unless asked."
    )
    story = (
        "Flash fiction, ~300 words: a lighthouse keeper receives a letter addressed to the keeper who "
        "died there a hundred years ago. The letter asks if the light is still on."
    )
    assert classifier.classify(story, app)[0] == "creative_writing"
    assert (
        classifier.classify("ما هي الأسباب الرئيسية لاندلاع الحرب العالمية الأولى؟")[0]
        == "question_answering"
    )
    assert classifier.classify("jajaja gracias, eres un crack")[0] == "general_chat"
