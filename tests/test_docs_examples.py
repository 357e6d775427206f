"""Every example in README.md and docs/*.md runs, so the docs cannot drift from the gateway.

The fenced blocks are read from the Markdown itself. By their language:
- `python`: executed against a real gateway serving the shipped config.yaml (with the experiment of
  docs/experiments.md switched on) in front of a real mock upstream; `http://localhost:8000` is the
  gateway's address. A block starts with what a reader has by then: `client` (the README's
  `OpenAI(...)` on the gateway) and `msgs` (a list of chat messages).
- `bash`: a block of `curl` commands is run (`localhost:8000` is the gateway, `localhost:8100` the mock)
  and every command must succeed (HTTP 2xx); so is a block of `.venv/bin/gateway check` commands, in
  the repository, with no provider key and no variable set.
- `yaml`: a whole GRID configuration (with a `model_list`) must load without an error by itself, a
  fragment merged over the shipped config.yaml; any other YAML (a Kustomize patch) must parse.
- `json`: must parse.
A block that cannot run here (a Kubernetes cluster, Docker, `make` targets, PromQL) is marked by the HTML
comment `<!-- illustrative: why -->` on the line before it; those are few and listed by
`test_illustrative_blocks_are_few`. Blocks without a language are program output or synopses, not code.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config.loader import ENV_DEFAULTS, KNOWN_SECTIONS, build_from_dict
from gateway.config.problems import Problems
from gateway.config.validate import validate
from gateway.mock_upstream import MockUpstream
from tests.harness import LITELLM_ENV, GatewayProcess, openai_client, user

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ILLUSTRATIVE = "<!-- illustrative"
RUNNABLE = {"python", "bash", "yaml", "json"}
RUN_COMMANDS = ("curl ", ".venv/bin/gateway check ")
FENCE = re.compile(r"^```(\S*)\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    illustrative: bool

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}:{self.lang}"


def blocks_of(path: Path) -> list[Block]:
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        before = next((ln.strip() for ln in reversed(lines[:start]) if ln.strip()), "")
        found.append(
            Block(
                path,
                start + 1,
                match.group(1).lower(),
                "\n".join(body) + "\n",
                before.startswith(ILLUSTRATIVE),
            )
        )
        i += 1
    return found


ALL = [block for path in DOCS for block in blocks_of(path)]
RUN = [b for b in ALL if b.lang in RUNNABLE and not b.illustrative]


def _shipped() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on `base`: mappings merge key by key, anything else is replaced."""
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _experiment_config() -> dict[str, Any]:
    """docs/experiments.md's configuration block: the docs' gateway runs the experiment it describes."""
    for block in blocks_of(ROOT / "docs" / "experiments.md"):
        if block.lang == "yaml":
            data = yaml.safe_load(block.text)
            if "experiments" in (data.get("model_routing") or {}):
                return data
    raise AssertionError("docs/experiments.md has no experiments block")


@pytest.fixture(scope="module")
def stack():
    with MockUpstream("docs") as mock:
        env = {**LITELLM_ENV, "GRID_MOCK_URL": f"{mock.url}/v1", "GRID_MOCK_ANTHROPIC_URL": mock.url}
        with GatewayProcess(_merge(_shipped(), _experiment_config()), env=env) as gw:
            yield gw, mock


def _localize(text: str, gw: GatewayProcess, mock: MockUpstream) -> str:
    text = re.sub(r"http://localhost:8000", gw.url, text)
    text = re.sub(r"(?<![\w/])localhost:8000", gw.url.removeprefix("http://"), text)
    return re.sub(r"(?<![\w/])localhost:8100", mock.url.removeprefix("http://"), text)


def test_every_code_block_has_a_known_language_or_is_marked():
    """A new block is either run here or marked illustrative on purpose, never forgotten."""
    unknown = [b.name for b in ALL if b.lang and b.lang not in RUNNABLE and not b.illustrative]
    assert not unknown, f"blocks neither runnable nor marked `{ILLUSTRATIVE}: why -->`: {unknown}"


def test_illustrative_blocks_are_few():
    marked = [b.name for b in ALL if b.illustrative]
    assert len(marked) <= 12, marked
    assert len(RUN) >= 15, [b.name for b in RUN]


@pytest.mark.parametrize("block", [b for b in RUN if b.lang == "python"], ids=lambda b: b.name)
def test_python_example_runs(block: Block, stack):
    gw, mock = stack
    client = openai_client(gw, key="anything-when-auth-is-off")
    namespace: dict[str, Any] = {"client": client, "msgs": user("Give me a haiku about load balancers.")}
    exec(compile(_localize(block.text, gw, mock), block.name, "exec"), namespace)  # noqa: S102 - our docs


@pytest.mark.parametrize("block", [b for b in RUN if b.lang == "bash"], ids=lambda b: b.name)
def test_curl_example_succeeds(block: Block, stack):
    gw, mock = stack
    commands = [ln for ln in block.text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert commands and commands[0].startswith(RUN_COMMANDS), (
        f"{block.name}: only {RUN_COMMANDS} run; mark others"
    )
    script = _localize(block.text, gw, mock).replace("curl ", "curl -sS --fail-with-body --max-time 20 ")
    script = script.replace(".venv/bin/gateway ", f"{sys.executable} -m gateway ")  # this test's venv
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRID_", "OPENAI_", "ANTHROPIC_"))}
    env["GRID_MASTER_KEY"] = "sk-docs-master"  # what the reader exports (the shipped config has auth off)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, f"{block.name}\n{script}\n{result.stdout}\n{result.stderr}"
    mock.reset()  # the faults the examples set stay theirs


@pytest.mark.parametrize("block", [b for b in RUN if b.lang == "yaml"], ids=lambda b: b.name)
def test_yaml_example_loads(block: Block):
    data = yaml.safe_load(block.text)
    assert isinstance(data, dict), block.name
    if not set(data) <= KNOWN_SECTIONS:
        return  # not a GRID config (a Kustomize patch): parsing is the check
    env = {
        **ENV_DEFAULTS,
        "OPENAI_API_KEY": "sk-doc",
        "ANTHROPIC_API_KEY": "sk-doc",
        "GRID_MASTER_KEY": "sk-m",
    }
    env |= {"GRID_ADMIN_KEY": "sk-a", "TEAM_A_KEY": "sk-team-a", "INTERNS_KEY": "sk-interns"}
    problems = Problems()
    config = data if "model_list" in data else _merge(_shipped(), data)
    snapshot = build_from_dict(config, env, problems)
    validate(snapshot, problems)
    assert not problems.errors, f"{block.name}: {[str(p) for p in problems.errors]}"


@pytest.mark.parametrize("block", [b for b in RUN if b.lang == "json"], ids=lambda b: b.name)
def test_json_example_parses(block: Block):
    json.loads(block.text)
