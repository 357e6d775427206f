"""The 12 tasks model=auto tells apart, in the order every probability vector uses (both classifiers,
the selector's profiles and the trained weights' columns). No import beyond this: the selector
reads it without loading either classifier."""

from __future__ import annotations

TASKS = (
    "code_generation",
    "code_review",
    "math",
    "reasoning",
    "creative_writing",
    "roleplay",
    "extraction",
    "summarization",
    "translation",
    "analysis",
    "question_answering",
    "general_chat",
)
