"""model=auto, the pure parts: analysis, token counting, scoring and its hard filters, history,
stickiness, capabilities config. No gateway process, no network."""

from __future__ import annotations

import importlib.util
import os
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config.loader import build_from_dict
from gateway.config.problems import Problems
from gateway.config.validate import validate
from gateway.selector import Selector, Unservable
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
    history.record("a", "math", latency=1.05, error=False)  # the median stays 1.0: no news
    history.record("a", "math", latency=2.0, error=False)  # one slow sample: the median stays too
    assert history.board("math")[0] == epoch
    history.record("a", "math", latency=2.0, error=False)
    history.record("a", "math", latency=2.0, error=False)  # most recent samples slow: news
    epoch, board = history.board("math")
    assert board["a"].latency == 2.0
    history.record("a", "math", latency=None, error=True)  # an error is news too
    assert history.board("math")[0] > epoch and history.board("math")[1]["a"].error_rate > 0.2
    epoch, board = history.board("math")
    clock.now += 0.5
    assert history.board("math")[0] == epoch  # within a fade step: the same board
    clock.now += 0.6
    later = history.board("math")
    assert later[0] > epoch and later[1]["a"].freshness < board["a"].freshness


def test_one_cold_start_or_outlier_does_not_move_a_groups_latency():
    """Issue 18: a 509 ms first call (a cold import) made claude look slow for minutes."""
    history = History(clock=Clock())
    history.record("claude", "code_generation", latency=0.509, error=False)  # the cold first call
    history.record("claude", "code_generation", latency=0.040, error=False)
    assert history.board("code_generation")[1]["claude"].latency == 0.040
    for latency in (0.041, 0.039, 2.5, 0.040):  # one outlier among steady samples
        history.record("claude", "code_generation", latency=latency, error=False)
    assert history.board("code_generation")[1]["claude"].latency == pytest.approx(0.040, abs=0.002)


def test_jitter_of_a_fast_group_is_no_news_and_turning_slow_is():
    history = History(clock=Clock())
    for _ in range(4):
        history.record("fast", "math", latency=0.001, error=False)
    epoch = history.board("math")[0]
    for latency in (0.0015, 0.0005, 0.002, 0.001):  # sub-millisecond jitter: no score would move
        history.record("fast", "math", latency=latency, error=False)
    assert history.board("math")[0] == epoch
    history.record("fast", "math", latency=0.1, error=False)  # one 100 ms sample: an outlier
    assert history.board("math")[0] == epoch
    for _ in range(2):
        history.record("fast", "math", latency=0.1, error=False)  # most recent samples slow: news
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
    assert sessions.get("s1") == ("a", "")
    sessions.put("s1", "a")  # used again: lives 10 s from now
    clock.now += 8
    assert sessions.get("s1") == ("a", "")
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
    chat_on = selector.decide(chat("hello again! how are you?"), allowed=None, available=None, session="s")
    assert chat_on.chosen == "cheap" and chat_on.sticky and "sticky=1" in chat_on.reason
    # a turn of another kind that the kept group serves far worse: the session moves (issue 18)
    moved = selector.decide(proof, allowed=None, available=None, session="s")
    assert moved.chosen == "strong" and not moved.sticky
    kept = selector.decide(proof, allowed=None, available=None, session="s")
    assert kept.chosen == "strong" and kept.sticky
    tools = chat("weather?", tools=[{"type": "function", "function": {"name": "w"}}])
    assert selector.decide(tools, allowed=None, available=None, session="s").chosen == "strong"
    down = selector.decide(proof, allowed=None, available=lambda g: g != "strong", session="s")
    assert down.chosen == "cheap" and not down.sticky  # unhealthy: every breaker of strong is open
    assert selector.sessions.stats()["hits"] == 2 and selector.sessions.stats()["reassigned"] == 3


def test_decisions_are_counted_and_the_header_is_short_ascii():
    snapshot, _ = snapshot_with(ROUTING)
    selector = Selector(snapshot)
    decision = selector.decide(chat("Translate 'good night' into German"), allowed=None, available=None)
    header = decision.reason
    assert header.isascii() and len(header) < 200
    assert header.startswith("task=translation; tasks=translation:") and "chosen=cheap" in header
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
    assert selector.sessions.get("s") == ("cheap", "chat") and selector.stats()["decisions_total"] == 1


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
        body = chat(f'Translate "good night, visitor {100 + n}" into German.')  # new bodies, one outcome
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
        (
            {"classifier": "bayes"},
            "error: model_routing.classifier: 'bayes' is not one of lexicon, learned, stacked",
        ),
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


# -- issue 18: confidence, expected score, parameters a group cannot honour -------------------------

UNSURE = "Say hello in five words to visitor 100."  # the classifier splits it between tasks


def test_an_unsure_request_goes_to_the_default_group():
    routing = {**ROUTING, "min_confidence": 0.8, "default": "strong"}
    snapshot, problems = snapshot_with(routing)
    assert not problems.errors
    selector = Selector(snapshot)
    sure = selector.decide(chat("hi"))
    assert sure.analysis.confidence >= 0.8 and sure.chosen == "cheap"
    unsure = selector.decide(chat(UNSURE))
    assert unsure.analysis.confidence < 0.8
    assert unsure.chosen == "strong" and "low_confidence=" in unsure.reason
    # the default is only used while the key may use it and it is up
    assert selector.decide(chat(UNSURE), available=lambda g: g != "strong").chosen == "cheap"
    _, problems = snapshot_with({**ROUTING, "min_confidence": 0.8})
    assert any("min_confidence" in str(p) for p in problems.errors)
    _, problems = snapshot_with({**ROUTING, "min_confidence": 1.5, "default": "nope"})
    assert {"model_routing.min_confidence", "model_routing.default"} <= {p.field for p in problems.errors}


def test_an_unsure_request_goes_to_a_group_good_at_every_likely_task():
    """The expected quality fit over the task distribution, not the likeliest task alone."""
    specialist = Profile("specialist", quality=0.6, tasks={"code_generation": 0.95})
    generalist = Profile("generalist", quality=0.9)
    analysis = analyse(chat("write me something"))
    sure = replace(analysis, task="code_generation", mixture=(("code_generation", 1.0),), complexity=0.5)
    assert rank(sure, [specialist, generalist], {}, 0).ranked[0].group == "specialist"
    split = replace(sure, mixture=(("code_generation", 0.55), ("creative_writing", 0.45)))
    assert rank(split, [specialist, generalist], {}, 0).ranked[0].group == "generalist"


def _claude_and_gpt(litellm_settings: dict[str, Any] | None = None):
    raw = {
        "model_list": [
            {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-x", "api_key": "k"}},
            {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-x", "api_base": "http://h/v1"}},
        ],
        "model_routing": {
            "tradeoff": 0,
            "capabilities": {"claude": {"quality": 0.95}, "gpt": {"quality": 0.6}},
        },
    }
    if litellm_settings is not None:
        raw["litellm_settings"] = litellm_settings
    problems = Problems()
    snapshot = build_from_dict(raw, {}, problems)
    validate(snapshot, problems)
    return snapshot, problems


def test_n_above_one_skips_a_group_that_cannot_honour_it_unless_params_are_dropped():
    """Issue 18: n=2 routed to an Anthropic group answered 400 with no fallback."""
    snapshot, problems = _claude_and_gpt()
    assert not problems.errors
    selector = Selector(snapshot)
    body = chat("Write a haiku about rain.")
    assert selector.decide(body).chosen == "claude"
    two = selector.decide({**body, "n": 2})
    assert two.chosen == "gpt" and [r.group for r in two.ranking.rejected] == ["claude"]
    assert two.ranking.rejected[0].reasons == ("no n > 1 (several choices)",)
    assert selector.decide({**body, "n": 1}).chosen == "claude"
    dropping, problems = _claude_and_gpt({"drop_params": True})
    assert not problems.errors and not [p for p in problems.warnings if "litellm_settings" in p.field]
    claude = dropping.groups["claude"].deployments[0]
    assert claude.litellm_params["drop_params"] is True  # handed to litellm.acompletion
    assert dropping.groups["gpt"].deployments[0].litellm_params.get("drop_params") is None
    assert Selector(dropping).decide({**body, "n": 2}).chosen == "claude"
    _, problems = _claude_and_gpt({"drop_params": "yes"})
    assert [p.field for p in problems.errors] == ["litellm_settings.drop_params"]


def test_the_default_classifier_is_the_lexicon_and_the_learned_one_loads_only_when_configured():
    """An unused classifier costs nothing: with the default (lexicon) neither numpy nor the learned
    model's module is imported, even after a decision; `classifier: learned` (or `stacked`, which
    reads both) loads them at start."""
    script = (
        "import sys, yaml\n"
        "from gateway.config.loader import build_from_dict\n"
        "from gateway.config.problems import Problems\n"
        "from gateway.selector import Selector\n"
        "cfg = yaml.safe_load(sys.argv[1])\n"
        "selector = Selector(build_from_dict(cfg, {}, Problems()))\n"
        "d = selector.decide({'messages': [{'role': 'user', 'content': 'Summarize: the cat sat.'}]},"
        " allowed=None, available=None)\n"
        "print(d.analysis.task, 'numpy' in sys.modules, 'gateway.router_model.model' in sys.modules)\n"
    )
    model_list = [{"model_name": "cheap", "litellm_params": {"model": "openai/x", "api_key": "k"}}]
    outputs = {}
    for name in ("lexicon", "learned", "stacked"):
        routing = {"auto_models": ["cheap"], **({"classifier": name} if name != "lexicon" else {})}
        cfg = yaml.safe_dump({"model_list": model_list, "model_routing": routing})
        done = subprocess.run(
            [sys.executable, "-c", script, cfg], capture_output=True, text=True, timeout=60, check=True
        )
        outputs[name] = done.stdout.split()
    assert outputs["lexicon"] == ["summarization", "False", "False"]
    assert outputs["learned"] == outputs["stacked"] == ["summarization", "True", "True"]
