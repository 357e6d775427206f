"""The cue lexicon, compiled once, and the scan that scores a text's words against it.

`taxonomy.LEXICON` is data written for people; here it becomes dictionaries built for one lookup per
word: exact words; stems, bucketed by their first `STEM_KEY` letters and closed over shorter stems
(so the longest matching stem carries every stem's weights); phrases, keyed by their first two words.
Text is folded the way the lexicon is written: lower case, Latin accents removed, apostrophes split.
"""

from __future__ import annotations

import re
import unicodedata

from gateway.router_model import complexity_cues
from gateway.router_model.lexicon import names, other_languages, taxonomy
from gateway.router_model.lexicon.taxonomy import TASKS

LEAD_WORDS = 10  # the first words of a turn carry the request ("Translate ...", "Summarize ...")
LEAD_BOOST = 1.4
DEEP_WORDS = 60  # past this many words a cue is more likely pasted content than the request
DEEP_FACTOR = 0.5
STEM_KEY = 4  # stems are bucketed by this many leading letters (shorter stems are spelled out)

INDEX = {task: i for i, task in enumerate(TASKS)}
CG, CR, MATH, REASON, CREATIVE, ROLE, EXTRACT, SUMMARY, TRANSLATE, ANALYSIS, QA, CHAT = range(len(TASKS))
HARD, EASY = len(TASKS), len(TASKS) + 1  # two more counters in the score vector, for complexity
SLOTS = len(TASKS) + 2

Weights = tuple[tuple[int, float], ...]

# "You are a ..." phrases: roleplay cues from a user, but how most system prompts begin
IDENTITY = frozenset(
    tuple(p.split())
    for p in (
        "you are a",
        "you are an",
        "you re a",
        "you re an",
        "you are my",
        "you re my",
        "tu es un",
        "tu es une",
        "eres un",
        "eres una",
        "du bist ein",
        "du bist eine",
        "sei un",
    )
)


def _fold_table() -> dict[int, str]:
    """Latin letters with accents -> without (é -> e, ß -> ss), Indic vowel signs -> nothing, and
    apostrophes -> spaces."""
    table: dict[int, str] = {}
    # Latin-1, Latin Extended-A and -B, and Latin Extended Additional (Vietnamese: ấ, ộ, ữ)
    for code in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00)):
        char = chr(code)
        base = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        if base and base != char:
            table[code] = base.lower()
    # letters with no decomposition: German ß, Polish ł, Turkish ı, Vietnamese đ, Nordic ø æ, French œ
    table.update(
        {
            ord(c): b
            for c, b in zip(
                "ßłŁıđĐøØæÆœŒ", ("ss", "l", "l", "i", "d", "d", "o", "o", "ae", "ae", "oe", "oe"), strict=True
            )
        }
    )
    # the vowel signs and viramas of Indic scripts, which `\w` does not match: left out, as accents
    # are, so that "अनुवाद" stays one word (the lexicon is folded the same way)
    for code in range(0x900, 0xE00):
        if unicodedata.category(chr(code)) in ("Mn", "Mc"):
            table[code] = ""
    for quote in "'’`´":
        table[ord(quote)] = " "
    return table


_FOLD = _fold_table()
# Words: what `\w` matches, without the characters of Chinese, Japanese and Korean (their cues are
# substrings: `other_languages.UNSPACED`), so that "用Python写" holds the word "python". One negated
# class: as fast as `\w+`.
_WORD = re.compile(r"[^\W\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")


_ACCENTED = re.compile("[" + "".join(sorted(chr(c) for c in _FOLD)) + "]")


def _fold_char(match: re.Match[str]) -> str:
    return _FOLD[ord(match.group())]


def fold(text: str) -> str:
    """Lower case without accents: how the lexicon is written."""
    lowered = text.lower()
    return lowered if lowered.isascii() else _ACCENTED.sub(_fold_char, lowered)


# --- the compiled lexicon ------------------------------------------------------------------------


class _Lexicon:
    """Exact words, stems (by prefix length) and phrases (by first word), each with its task weights."""

    def __init__(self) -> None:
        exact: dict[str, dict[int, float]] = {}
        stems: dict[str, dict[int, float]] = {}
        phrases: dict[str, dict[tuple[str, ...], dict[int, float]]] = {}
        for task, levels in (*taxonomy.LEXICON.items(), *other_languages.SPACED.items()):
            for weight, cues in levels.items():
                for cue in cues.split(","):
                    self._add(cue.strip(), INDEX[task], weight, exact, stems, phrases)
        for index, cues in ((HARD, complexity_cues.HARD_CUES), (EASY, complexity_cues.EASY_CUES)):
            for cue in cues.split(","):
                self._add(cue.strip(), index, 1.0, exact, stems, phrases)
        for lang in names.LANGUAGES:
            self._add(lang, TRANSLATE, 0.5, exact, stems, phrases)
            for prep, weight in names.LANGUAGE_PREPOSITIONS.items():
                self._add(f"{prep} {lang}", TRANSLATE, weight, exact, stems, phrases)
            self._add(f"{lang} version", TRANSLATE, 2.0, exact, stems, phrases)
            self._add(f"{lang} to", TRANSLATE, 1.0, exact, stems, phrases)
            self._add(f"{lang} for", TRANSLATE, 1.5, exact, stems, phrases)
            self._add(f"the {lang} for", TRANSLATE, 2.5, exact, stems, phrases)
        _close_over_stems(exact, stems)
        ids = iter(range(1 << 30))
        self.exact: dict[str, tuple[int, Weights]] = {
            w: (next(ids), tuple(v.items())) for w, v in exact.items()
        }
        # stems by their first STEM_KEY letters, longest first: one dict lookup finds the few to try
        by_key: dict[str, list[tuple[str, int, Weights]]] = {}
        for stem, weights in stems.items():
            by_key.setdefault(stem[:STEM_KEY], []).append((stem, next(ids), tuple(weights.items())))
        self.stems = {key: tuple(sorted(v, key=lambda e: -len(e[0]))) for key, v in by_key.items()}
        # phrases by their first word, then their second ("how" -> "do" -> ...), or by the first word
        # alone when the second is a stem ("unit test*")
        phrases_by: dict[str, dict[str, list[tuple[tuple[str, ...], int, Weights]]]] = {}
        loose: dict[str, list[tuple[tuple[str, ...], int, Weights]]] = {}
        identity: set[int] = set()
        for first, rests in phrases.items():
            for rest, weights in sorted(rests.items(), key=lambda kv: -len(kv[0])):
                cue_id = next(ids)
                if (first, *rest) in IDENTITY:
                    identity.add(cue_id)
                if rest[0].endswith("*"):
                    loose.setdefault(first, []).append((rest, cue_id, tuple(weights.items())))
                else:
                    seconds = phrases_by.setdefault(first, {})
                    seconds.setdefault(rest[0], []).append((rest[1:], cue_id, tuple(weights.items())))
        self.phrases = {
            first: {k: tuple(v) for k, v in seconds.items()} for first, seconds in phrases_by.items()
        }
        self.loose = {k: tuple(v) for k, v in loose.items()}
        self.identity_ids = frozenset(identity)
        self.languages = frozenset(names.LANGUAGES)
        self.programming = frozenset(names.PROGRAMMING)

    @staticmethod
    def _add(cue, task, weight, exact, stems, phrases) -> None:
        words = _WORD.findall(fold(cue.rstrip("*"))) if cue else []
        if not words:
            return
        stem = cue.endswith("*")
        if stem and len(words) == 1 and len(words[0]) < STEM_KEY:
            raise ValueError(f"stem {cue!r} is shorter than {STEM_KEY} letters: spell its forms out")
        if len(words) == 1:
            table = stems if stem else exact
            slot = table.setdefault(words[0], {})
        else:
            rest = tuple(words[1:-1]) + ((words[-1] + "*") if stem else words[-1],)
            slot = phrases.setdefault(words[0], {}).setdefault(rest, {})
        slot[task] = max(slot.get(task, 0.0), weight)


def _close_over_stems(exact: dict[str, dict[int, float]], stems: dict[str, dict[int, float]]) -> None:
    """Give each word and stem the weights of every shorter stem it starts with, so that one lookup
    per word (the exact word, else its longest stem) finds every cue the word matches."""
    lengths = sorted({len(s) for s in stems})
    for table in (exact, stems):
        for word, slot in table.items():
            for n in lengths:
                if n > len(word) or (table is stems and n == len(word)):
                    break
                shorter = stems.get(word[:n])
                if shorter:
                    for task, weight in shorter.items():
                        slot[task] = max(slot.get(task, 0.0), weight)


LEXICON = _Lexicon()


def _matches(words: list[str], start: int, rest: tuple[str, ...]) -> bool:
    if start + len(rest) > len(words):
        return False
    for offset, want in enumerate(rest):
        got = words[start + offset]
        if want[-1] == "*":
            if not got.startswith(want[:-1]):
                return False
        elif got != want:
            return False
    return True


_NOTHING = (None, None, (), 0)
_WORD_CACHE: dict[str, tuple[tuple[int, Weights] | None, dict | None, tuple, int]] = {}
WORD_CACHE_MAX = 50_000  # distinct words remembered (emptied when full: vocabulary is Zipfian)
_CLASSES: list[tuple[frozenset[str], tuple[str, ...]]] = [(frozenset(), ())]  # by bit (`word_class`)
NUMBER = 1  # the class of bit 0: numbers (`str.isdigit`), known to `scan` without a lookup


def word_class(members: frozenset[str], parts: tuple[str, ...] = ()) -> int:
    """Register a class of words whose presence `scan` reports, so that a caller learns it without
    set operations or substring searches over the text: the `members`, and every word holding one
    of `parts` ("error" for "typeerror"). Returns the class's bit. Classes are registered at import,
    before any text is scanned; a word's classes are worked out once, when it is first seen."""
    if any(word.isdigit() for word in members):
        raise ValueError("a word class holds no numbers: `scan` does not look numbers up")
    _CLASSES.append((members, parts))
    _WORD_CACHE.clear()
    return 1 << (len(_CLASSES) - 1)


# Numbers are not Zipfian (every order number, amount and year is new) and no cue is one: they are
# neither looked up nor remembered. (Phrases with a number, "in 50", are found from the word before.)
_NUMBERS_ARE_CUES = any(
    word.isdigit() for word in (*LEXICON.exact, *LEXICON.stems, *LEXICON.phrases, *LEXICON.loose)
)


def _lookup(word: str) -> tuple[tuple[int, Weights] | None, dict | None, tuple, int]:
    """What the lexicon knows about one word: its cue (exact, else its longest stem), the phrases
    that start with it by their second word, the phrases that start with it and go on with a stem,
    and its word classes."""
    hit = LEXICON.exact.get(word)
    if hit is None and len(word) >= STEM_KEY:
        for stem, cue_id, weights in LEXICON.stems.get(word[:STEM_KEY], ()):
            if word.startswith(stem):
                hit = (cue_id, weights)
                break
    classes = 0
    for bit, (members, parts) in enumerate(_CLASSES):
        if word in members or any(part in word for part in parts):
            classes |= 1 << bit
    if word.isdigit():
        classes |= NUMBER
    found = (hit, LEXICON.phrases.get(word), LEXICON.loose.get(word, ()), classes)
    return _NOTHING if found == _NOTHING else found


def scan(words: list[str], factor: float, scores: list[float], seen: set[int], lead: int = LEAD_WORDS) -> int:
    """Add the weights of every cue in `words` to `scores`; a cue counts once (`seen`). Returns the
    word classes (`word_class`) present among the words.

    Per word: one lookup in a memo of what each word means to the lexicon (filled on first sight);
    for a word that starts phrases, one lookup of the next word among their second words.
    """
    cache = _WORD_CACHE
    last = len(words) - 1
    lead_factor, deep_factor = factor * LEAD_BOOST, factor * DEEP_FACTOR
    present = 0
    for i, word in enumerate(words):
        known = cache.get(word)
        if known is None:
            if word.isdigit() and not _NUMBERS_ARE_CUES:
                present |= NUMBER
                continue
            if len(cache) >= WORD_CACHE_MAX:
                cache.clear()
            known = cache[word] = _lookup(word)
        if known is _NOTHING:
            continue
        hit, seconds, loose, classes = known
        if classes:
            present |= classes
        if hit is not None and hit[0] in seen:
            hit = None
        entries = seconds.get(words[i + 1]) if seconds is not None and i < last else None
        if hit is None and not entries and not loose:
            continue  # most words that start a phrase are not followed by its second word
        f = lead_factor if i < lead else (factor if i < DEEP_WORDS else deep_factor)
        if hit is not None:
            seen.add(hit[0])
            for task, weight in hit[1]:
                scores[task] += weight * f
        if entries:
            for rest, cue_id, weights in entries:
                if cue_id not in seen and (not rest or _matches(words, i + 2, rest)):
                    seen.add(cue_id)
                    for task, weight in weights:
                        scores[task] += weight * f
        if loose and i < last:
            for rest, cue_id, weights in loose:
                if cue_id not in seen and _matches(words, i + 1, rest):
                    seen.add(cue_id)
                    for task, weight in weights:
                        scores[task] += weight * f
    return present


# ASCII text: every byte that `\w` does not match ([A-Za-z0-9_]) becomes a space and capitals become
# small letters, in one translation; the words are what `split` leaves: the same words as
# `_WORD.findall` of the lowered text, at a fraction of the cost.
_LOWER_WORD = bytes(
    b + 32 if 65 <= b <= 90 else (b if (48 <= b <= 57 or 97 <= b <= 122 or b == 95) else 32)
    for b in range(256)
)


# Politeness that sits between the words of a request ("spiel bitte einen ...", "can you please
# summarize"): left out, so the request's phrases are found whole. No cue holds one (a test checks).
FILLERS = frozenset("please pls plz kindly bitte svp stp porfa alsjeblieft aub".split())


def words(text: str) -> list[str]:
    """The text's words, folded (lower case, no accents) as the lexicon is written, without `FILLERS`."""
    if text.isascii():
        found = text.encode().translate(_LOWER_WORD).decode().split()
    else:
        found = _WORD.findall(fold(text.lower()))
    if FILLERS.isdisjoint(found):
        return found
    return [word for word in found if word not in FILLERS]
