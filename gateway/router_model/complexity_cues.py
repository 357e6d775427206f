"""Words that move a request's complexity score (`analysis._complexity`), apart from which task it is.

Notation: comma-separated, `*` a prefix, spaces a phrase.
"""

from __future__ import annotations

# Words that make a request harder (raise complexity) or lighter (lower it).
HARD_CUES = (
    "prove, proof, rigorous*, formal*, derive, optimi*, efficient*, complexity, scalab*, distributed, "
    "concurren*, thread*, architect*, design, production, edge case*, step by step, in depth, "
    "detailed, comprehensive, thorough*, advanced, multi step, tradeoff*, trade off*, constraint*, "
    "requirement*, performance, security, migrat*, benchmark*, theorem*, eigen*, integral*, "
    "asymptotic*, dynamic programming, recursion, concurrency, transaction*, consisten*, nuanced, "
    "critically, evaluate, justify, compare"
)
EASY_CUES = (
    "simple, simply, quick*, brief*, short, one sentence, one word, just, only, eli5, easy, basic, "
    "hi, hello, hey, thanks, thank, ok, okay, yes, no, roughly"
)
