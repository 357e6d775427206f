"""The classifier's features: hashed character and word n-grams plus a few structural signals.

One function, `features(...)`, shared by training and serving, so the two cannot drift apart. It
returns the active feature indices and their values (a sparse row). Everything is vectorised with
numpy over the text's code points; nothing depends on Python's randomised `hash`, so the same text
gives the same indices in every process and on every machine.

Blocks (each L2-normalised, then scaled by its weight):
- the last user turn: its first `HEAD` and last `TAIL` characters (instructions sit before or
  after a paste), lower-cased: character 2–4-grams, word unigrams and bigrams;
- the system prompt (first `SYSTEM_CHARS`): the same n-grams in their own hash space;
- the previous user turn (first `PREVIOUS_CHARS`): words only, in their own space;
- a turn longer than `HEAD_WORDS_CHARS`: its opening again, words only, in its own space (the
  instruction above a paste is otherwise diluted by the pasted text's n-grams);
- structure, at fixed indices after the hashed space: code fences and code-shaped lines, notation,
  digits, questions, scripts (CJK, Cyrillic, ...), length, conversation shape, tools, images, JSON.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import numpy as np

BITS = 18
D = 1 << BITS  # hashed dimensions
HEAD = 400
TAIL = 200
SYSTEM_CHARS = 600
PREVIOUS_CHARS = 300
SYSTEM_WEIGHT = 0.7
HEAD_WORDS_CHARS = 150  # a longer turn's first characters count again, as words, in their own space
HEAD_WEIGHT = 1.0
PREVIOUS_WEIGHT = 0.4
NGRAMS = (2, 3, 4)

_P = np.uint64(0x100000001B3)
_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xC2B2AE3D27D4EB4F)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S31 = np.uint64(31)
_SHIFT = np.uint64(64 - BITS)

# ASCII word characters; beyond ASCII every letter counts, but not general or CJK punctuation
_WORD = np.zeros(128, dtype=bool)
for _c in "abcdefghijklmnopqrstuvwxyz0123456789_":
    _WORD[ord(_c)] = True

_CODE_LINE = re.compile(
    r"(?m)^\s*(?:def |class |import |from \S+ import|function |const |let |var |return\b|if \(|for \(|#include|public |private |SELECT |fn |func |package |using |\}|\{|<\w+[ >/])"
)
_CODE_TOKENS = re.compile(r"[;{}]\s*$|=>|->|::|\+=|==|!=|\(\)|\w\(\w*\)|\w\.\w+\(", re.M)
_MATH = re.compile(
    r"\d\s*[-+*/×÷^=<>]\s*\(?\d|[∫∑√π≤≥≠∞∂θλ]|\\(?:frac|sqrt|int|sum|cdot|times|pi)|\b[xyzn]\s*\^|\b\d+\s*[xyz]\b"
)
_DIGIT = re.compile(r"\d")
_CJK = re.compile("[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_CYRILLIC_ARABIC_INDIC = re.compile("[\u0400-\u04ff\u0590-\u06ff\u0900-\u0dff\u0e00-\u0e7f]")
_COLON_BLOCK = re.compile(r":[ \t]*\n")
_FIRST_PERSON = re.compile(r"(?:i|i'm|my|we|our|me)\b")
_ACTION = re.compile(r"(?:^|\s)\*[^*\n]{2,60}\*")

STRUCTURE = (
    "fence",
    "code_lines",
    "code_tokens",
    "math",
    "digits",
    "question_end",
    "questions",
    "length",
    "lines",
    "non_ascii",
    "cjk",
    "other_script",
    "action",
    "quote",
    "colon_block",
    "has_system",
    "system_length",
    "turns",
    "earlier_user",
    "prior_code",
    "tools",
    "images",
    "json",
    "first_person",
)
N_STRUCTURE = len(STRUCTURE)
DIM = D + N_STRUCTURE


def _index(h: np.ndarray) -> np.ndarray:
    """Multiplicative (Fibonacci) hashing: the top `BITS` bits of h times an odd constant."""
    return ((h * _K1) >> _SHIFT).astype(np.int64)


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.uint64)


def _hashed(text: str, salt: int, chars: bool) -> np.ndarray:
    """Hashed n-gram indices of a (lower-cased, space-collapsed) text: character n-grams (when
    `chars`) and word unigrams and bigrams, each kind salted apart in the hash space."""
    c = _codes(" " + text + " ")
    n = len(c)
    parts = []
    base = np.uint64(salt * 0x1000193)  # (each constant below is reduced mod 2**64 in Python)
    if chars:
        h = c
        for k in range(2, NGRAMS[-1] + 1):  # the k-gram hashes from the (k-1)-gram ones
            if n < k:
                break
            h = h[:-1] * _P + c[k - 1 :]
            if k >= NGRAMS[0]:
                parts.append(_index(h + np.uint64((salt * 0x1000193 + k * 0xC2B2AE3D27D4EB4F) % 2**64)))
    # words: maximal runs of word characters; a run's hash is a sum of position-salted characters
    if text.isascii():  # the common case: one table lookup
        word = _WORD[c.astype(np.intp)]
    else:
        small = c < 128
        word = np.where(
            small,
            _WORD[np.where(small, c, 0).astype(np.intp)],
            ~(
                ((c >= 0x2000) & (c <= 0x206F))
                | ((c >= 0x3000) & (c <= 0x303F))
                | ((c >= 0xFF00) & (c <= 0xFF20))
                | ((c >= 0x80) & (c <= 0xBF))
            ),
        )
    if word.any():
        edges = np.diff(word.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)  # exclusive
        run_start = np.zeros(n, dtype=np.int64)
        run_start[starts] = starts
        offset = (np.arange(n, dtype=np.int64) - np.maximum.accumulate(run_start)).astype(np.uint64)
        v = (c + _K1) * (offset * _K2 + _P)
        v[~word] = 0
        s = np.concatenate((np.zeros(1, dtype=np.uint64), np.cumsum(v, dtype=np.uint64)))
        words = (s[ends] - s[starts]) * _M1
        words ^= words >> _S31
        parts.append(_index(words + np.uint64((salt * 0x1000193 + 0x94D049BB133111EB) % 2**64)))
        if len(words) > 1:
            parts.append(_index(words[:-1] * _P + words[1:] + base))
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(parts)


def clip(text: str, head: int = HEAD, tail: int = TAIL) -> str:
    if len(text) > head + tail:
        text = text[:head] + " … " + text[-tail:] if tail else text[:head]
    return " ".join(text.lower().split())


def structure(
    last_user: str,
    system: str,
    earlier: int,
    prior_code: bool,
    turns: int,
    tools: bool,
    images: bool,
    json: bool,
) -> list[float]:
    """The structural signals, each squashed to about [0, 1]."""
    t = last_user if len(last_user) <= HEAD + TAIL else last_user[:HEAD] + "\n" + last_user[-TAIL:]
    n = len(t) or 1
    lines = t.count("\n") + 1
    stripped = t.rstrip()
    first = stripped[:200].lower()
    return [
        1.0 if "```" in t else 0.0,
        min(len(_CODE_LINE.findall(t)) / lines, 1.0),
        min(len(_CODE_TOKENS.findall(t)) / 5, 1.0),
        min(len(_MATH.findall(t)) / 3, 1.0),
        min(len(_DIGIT.findall(t)) / n * 10, 1.0),
        1.0 if stripped.endswith(("?", "？", "؟")) else 0.0,
        min((t.count("?") + t.count("？")) / 3, 1.0),
        min(math.log1p(len(last_user)) / 9, 1.5),
        min(math.log1p(lines) / 4, 1.5),
        0.0 if t.isascii() else min((len(t.encode()) - n) / n * 1.5, 1.0),
        1.0 if _CJK.search(t) else 0.0,
        1.0 if _CYRILLIC_ARABIC_INDIC.search(t) else 0.0,
        1.0 if _ACTION.search(t) else 0.0,
        min((t.count('"') + t.count("“") + t.count("«") + t.count("「")) / 4, 1.0),
        1.0 if _COLON_BLOCK.search(t) or "\n\n" in stripped else 0.0,
        1.0 if system else 0.0,
        min(math.log1p(len(system)) / 8, 1.2),
        min(math.log1p(turns) / 3, 1.2),
        min(earlier / 2, 1.0),
        1.0 if prior_code else 0.0,
        1.0 if tools else 0.0,
        1.0 if images else 0.0,
        1.0 if json else 0.0,
        1.0 if _FIRST_PERSON.match(first) else 0.0,
    ]


def _block(indices: np.ndarray, weight: float) -> tuple[np.ndarray, np.ndarray]:
    """The block's occurrences, each `weight / sqrt(occurrences)`
    (repeats add up: a term's count, scaled by the block's size)"""
    return indices, np.full(len(indices), weight / math.sqrt(len(indices) or 1), dtype=np.float32)


@lru_cache(maxsize=1024)
def _context(
    text: str, salt: int, chars: int, chars_kept: int, weight: float
) -> tuple[np.ndarray, np.ndarray]:
    """A system prompt's or an earlier turn's block: every request of an application or a
    conversation resends them, so each is hashed once."""
    return _block(_hashed(clip(text, chars_kept, 0), salt, bool(chars)), weight)


def features(
    last_user: str,
    system: str = "",
    previous: str = "",
    *,
    earlier: int = 0,
    prior_code: bool = False,
    turns: int = 1,
    tools: bool = False,
    images: bool = False,
    json: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """The sparse feature row of a request: (indices, values; indices may repeat across blocks),
    and the structural signals by name order of `STRUCTURE` (the complexity score reads some)."""
    idx = [_block(_hashed(clip(last_user), 1, True), 1.0)]
    if len(last_user) > HEAD_WORDS_CHARS:  # a long turn: its opening (the instruction) on its own too
        idx.append(_block(_hashed(clip(last_user, HEAD_WORDS_CHARS, 0), 4, False), HEAD_WEIGHT))
    if system:
        idx.append(_context(system, 2, 1, SYSTEM_CHARS, SYSTEM_WEIGHT))
    if previous:
        idx.append(_context(previous, 3, 0, PREVIOUS_CHARS, PREVIOUS_WEIGHT))
    dense = structure(last_user, system, earlier, prior_code, turns, tools, images, json)
    idx.append((np.arange(D, DIM, dtype=np.int64), np.asarray(dense, dtype=np.float32)))
    return np.concatenate([i for i, _ in idx]), np.concatenate([v for _, v in idx]), dense
