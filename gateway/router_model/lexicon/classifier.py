"""Which kind of task a chat request is: cue lexicons plus language-agnostic structure, in linear time.

No model, no network: the request's text is folded (lower case, accents removed), split into words,
and each word is looked up once in dictionaries compiled from `taxonomy.LEXICON` and
`other_languages.SPACED` (see `lexicon`); Chinese, Japanese and Korean task words are substrings
(`other_languages.UNSPACED`). Structure that needs no vocabulary adds to the scores: code (fences,
code-shaped lines, operators), error traces, mathematical notation, questions, `*actions*`, a persona
named in the system prompt, material after an instruction, a language code, a long pasted text.

Where the cues are read, and how much they count:
- the last user turn decides: its first ~500 and last ~300 characters (the instruction is almost
  always at the start or the end of a long paste), the first words of each counting extra;
- the system prompt counts at `SYSTEM_WEIGHT` (it often states the task: "translate into German");
- earlier user turns count at `HISTORY_WEIGHT` ("now make it shorter" continues the last task).
Structure is read from a bounded probe of the last turn (`signals`), so the cost is bounded whatever
the prompt's length. What the structural checks need to know about the words (a programming language
named, kin terms, a word of an error message, a number) comes with the cue lookup itself, as word
classes (`lexicon.word_class`): no set is built over the words, and checks that cannot fire are not
run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from gateway.router_model.lexicon import other_languages, shapes, signals
from gateway.router_model.lexicon.lexicon import (
    ANALYSIS,
    CG,
    CHAT,
    CR,
    DEEP_FACTOR,
    EASY,
    EXTRACT,
    HARD,
    INDEX,
    LEAD_WORDS,
    LEXICON,
    MATH,
    NUMBER,
    QA,
    REASON,
    ROLE,
    SLOTS,
    SUMMARY,
    TRANSLATE,
    scan,
    word_class,
)
from gateway.router_model.lexicon.lexicon import words as _words
from gateway.router_model.lexicon.taxonomy import TASKS

HEAD_CHARS = 500
TAIL_CHARS = 300
PAYLOAD_FACTOR = 0.5
SYSTEM_WEIGHT = 0.8
SYSTEM_CHARS = 600
HISTORY_WEIGHT = 0.35
HISTORY_TURNS = 2
HISTORY_CHARS = 300
CODE_FLOOR = 0.2
DATA_WORDS = 50  # past this many words in a turn, its numbers count half as evidence of a calculation
SCENE = 1.0  # roleplay cues in the earlier user turns that set up a scene (one strong cue: "act as")
# what earlier turns asked, enough for a follow-up that asks nothing new to go on with it (one cue)
FOLLOW = 0.7
THRESHOLD = 1.2  # below this best score nothing specific was asked: a question or a chat

# --- structure -------------------------------------------------------------------------------------

_ACTION = re.compile(r"(?:^|\s)\*(?:[a-z]|I )[^*\n]{2,80}\*(?:\s|$)")  # *opens the door*, *I sit down*
# Words that open a turn which goes on with the conversation ("ok and ...", "thanks! now ...")
_CONTINUING = frozenset(
    "ok okay thanks thank thx cool great perfect nice and also but now then "
    "danke merci gracias grazie obrigado dzieki".split()
)
_NON_LATIN = re.compile("[\u0250-\u1fff\u2e80-\uffff]")
_DECIDING = frozenset(
    "should better which choose prefer worth deberia mejor cual devrais mieux lequel laquelle sollte "
    "besser welche meglio melhor beter recommend recommendation recommendations".split()
)
_OR = frozenset("or o ou oder vs".split())
_SECOND_PERSON = frozenset(
    "you u ya your yours tu toi vous ton ta tes du dir dich dein deine usted te ti voce".split()
)
_MAKING = frozenset(
    "write create generate implement build make add convert port rewrite scaffold design extend complete "
    "escribe crea genera implementa haz anade convierte ecris cree genere implemente fais ajoute "
    "convertis schreib schreibe erstelle generiere implementiere baue mach fuge konvertiere".split()
)
_KIN = frozenset(
    "father mother son daughter brother sister uncle aunt cousin grandfather grandmother husband wife "
    "nephew niece sibling siblings sons daughters brothers sisters padre madre hijo hija hermano hermana "
    "pere mere fils fille frere soeur vater mutter sohn tochter bruder schwester".split()
)
_SAYING = frozenset(
    "say said saying says mean means meaning word phrase dice dit sagt diz dire decir sagen heisst".split()
)
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")
# which of these classes of words a turn holds, as `scan` reports them (bits of one int)
PROGRAMMING = word_class(LEXICON.programming)
LANGUAGES = word_class(LEXICON.languages)
MAKING = word_class(_MAKING)
SAYING = word_class(_SAYING)
DECIDING = word_class(_DECIDING)
OR = word_class(_OR)
SECOND_PERSON = word_class(_SECOND_PERSON)
KIN = word_class(_KIN)
RELATION = word_class(signals.RELATION_WORDS)
TRACE_HINT = word_class(frozenset(), signals.TRACE_WORD_PARTS)
CODE_HINT = word_class(frozenset(), signals.CODE_WORD_PARTS)
PERSONA_HINT = word_class(shapes.PERSONA_WORDS)


@dataclass(slots=True)
class Signals:
    """What the classifier saw: the score per task and the structural evidence (for complexity). A
    value, built on every new request: not frozen, for the reason `scoring` gives."""

    scores: tuple[float, ...]
    code: float  # 0..1: how much of the turn is code
    math: float  # 0..1: density of mathematical notation
    trace: bool  # an error message or stack trace
    question: bool
    words: int  # words in the scanned zones of the last turn
    hard: float  # weighted count of cues that make a request harder ("prove", "edge cases")
    easy: float  # ... and lighter ("quick", "one sentence")


def classify(
    last_user: str, system: str = "", history: Sequence[str] = (), prior_code: bool = False
) -> tuple[str, Signals]:
    """The task of a request: its last user turn, system prompt and earlier user turns.

    `prior_code`: the conversation already holds code (an assistant answer with a fence), so "it
    crashes" is about that code. Returns the task and the signals behind it.
    """
    scores = [0.0] * SLOTS
    seen: set[int] = set()
    text = last_user
    said, head, words, classes, cut, start = _read_turn(text, scores, seen)
    earlier = [0.0] * SLOTS if history else None  # what the earlier user turns asked
    for turn in history[-HISTORY_TURNS:] if history else ():
        for i, value in _turn_scores(turn[:HISTORY_CHARS]):
            scores[i] += value
            earlier[i] += value
    sample = text if len(text) <= signals.PROBE_CHARS else signals.probe(text)
    non_latin = cjk_making = False
    if not sample.isascii():
        non_latin, cjk_making = _cjk_cues(sample, scores)
    # a verb that asks for something to be made, among the first words: "write", "erstelle", "写"
    making = cjk_making or (classes & MAKING != 0 and not _MAKING.isdisjoint(words[: LEAD_WORDS + 2]))
    # A short turn without quotations was read whole: the words read are all its words, and their
    # classes say whether code keywords, an error trace or a persona can be there at all (most
    # turns: none of them).
    whole = said is text and len(text) <= HEAD_CHARS + TAIL_CHARS
    code = signals.code_strength(sample, not whole or classes & CODE_HINT != 0)
    if code < CODE_FLOOR:
        code = 0.0  # an `=` or a `()` in prose is not code
    trace = (not whole or classes & TRACE_HINT != 0) and signals.has_trace(sample)
    math = signals.math_density(said[:cut] if cut else said)
    if cut:  # notation in the material counts for less: logs, tables and figures are full of it
        math = max(math, PAYLOAD_FACTOR * signals.math_density(said[cut:]))
    if math >= 1.0 and (code < 0.5 or "\\" in said):
        code = 0.0  # "lim_{x→0} (sin x − x) / x³", "$\\sum_{k=1}^{20}$": notation, not code
    question = shapes.is_question(said, head)
    _structure(
        scores, text, said, words, start, classes, code, trace, math, question, prior_code, making, non_latin
    )
    if system:  # after the turn's structure: "translate into German" then code is a translation
        for i, value in _system_scores(system[:SYSTEM_CHARS]):
            scores[i] += value
    if len(words) >= 4 and words[0] in _CONTINUING:
        # "ok and what currency do they use?", "thanks! and one more line", "ok so is a tomato a
        # fruit": the "ok" or "thanks" that opens a longer turn is not small talk
        scores[CHAT] *= 0.4
    if (not whole or classes & PERSONA_HINT) and shapes.persona(text):
        scores[ROLE] += 1.5
    best = scores.index(max(scores[: len(TASKS)]))  # the first best, as max(range, key=...) gives
    if scores[best] < THRESHOLD:
        best = QA if question and scores[QA] >= scores[CHAT] else CHAT
    if earlier is not None:
        if earlier[ROLE] >= SCENE and best in (CHAT, QA):
            best = ROLE  # "Hola, ¿me trae la carta?" to the waiter the user set up: a line of the scene
        elif scores[best] < THRESHOLD and not question:
            # "now same thing but top 10 per month": nothing new asked, the conversation's task goes on
            task = earlier.index(max(earlier[: len(TASKS)]))
            if earlier[task] >= FOLLOW and task != CHAT:
                best = task
            elif prior_code and len(words) >= 4:
                best = CG  # "now the same but per month", after an answer with code: change that code
    found = Signals(
        tuple(scores[: len(TASKS)]),
        code,
        math,
        trace,
        question,
        len(words),
        scores[HARD],
        scores[EASY],
    )
    return TASKS[best], found


def _nonzero(scores: list[float]) -> tuple[tuple[int, float], ...]:
    """The scores worth adding: most of a prompt's are zero (sparse: adding touches only these)."""
    return tuple((i, value) for i, value in enumerate(scores) if value)


# System prompts repeat across an application's requests, and each request of a conversation resends
# the earlier turns: their scores are remembered (a few hundred short strings at most).
@lru_cache(maxsize=512)
def _system_scores(system: str) -> tuple[tuple[int, float], ...]:
    scores = [0.0] * SLOTS
    # "You are a/an ..." opens most system prompts: only a named persona there means roleplay
    scan(_words(system), SYSTEM_WEIGHT, scores, set(LEXICON.identity_ids))
    if shapes.persona(system):
        scores[ROLE] += 3.0
    return _nonzero(scores)


@lru_cache(maxsize=1024)
def _turn_scores(turn: str) -> tuple[tuple[int, float], ...]:
    scores = [0.0] * SLOTS
    scan(_words(turn), HISTORY_WEIGHT, scores, set())
    return _nonzero(scores)


# What `_read_turn` read: the text (quotations removed), its first words, all the words read, the
# word classes among them, and where material to work on starts in the text and in the words (0, 0:
# nothing read is material)
_Turn = tuple[str, list[str], list[str], int, int, int]


def _read_turn(text: str, scores: list[float], seen: set[int]) -> _Turn:
    """Scan the last user turn's cues. What follows an instruction as material (after its colon, or
    after the blank line that ends a short first paragraph) is weaker evidence of what is asked:
    "tl;dr pls\n\n<a memo>", "get me every request id that failed\n\n<logs>"."""
    if len(text) > HEAD_CHARS + TAIL_CHARS:
        head_text, tail_text = shapes.unquoted(text[:HEAD_CHARS]), shapes.unquoted(text[-TAIL_CHARS:])
        tail = _words(tail_text)
        cut = shapes.paragraph_cut(head_text) if "\n\n" in head_text else 0
        if cut:
            instruction, head, classes = _scan_material(head_text, cut, scores, seen)
            start = len(instruction)
        else:
            head = _words(head_text)
            classes, start = scan(head, 1.0, scores, seen), 0
        scan(tail[-LEAD_WORDS:], 1.0, scores, seen)  # an instruction after a paste ends the turn
        classes |= scan(tail, DEEP_FACTOR, scores, seen, lead=0)
        return head_text + "\n" + tail_text, head, head + tail, classes, cut, start
    said = shapes.unquoted(text)
    cut = shapes.material_start(said)
    if not cut:
        words = _words(said)
        return said, words, words, scan(words, 1.0, scores, seen), 0, 0
    head, words, classes = _scan_material(said, cut, scores, seen)
    return said, head, words, classes, cut, len(head)


def _scan_material(
    text: str, cut: int, scores: list[float], seen: set[int]
) -> tuple[list[str], list[str], int]:
    """Scan an instruction (`text` up to `cut`) and the material after it, whose words count for
    `PAYLOAD_FACTOR`; returns the instruction's words, all the words and their word classes."""
    head, material = _words(text[:cut]), _words(text[cut:])
    classes = scan(head, 1.0, scores, seen) | scan(material, PAYLOAD_FACTOR, scores, seen, lead=0)
    return head, head + material, classes


def _structure(
    scores, text, said, words, start, classes, code, trace, math, question, prior_code, making, non_latin
) -> None:
    """Evidence that needs no vocabulary. `text` is the whole last turn, `said` the part read for
    cues (quotations removed: a quoted greeting is something to translate, not a greeting);
    `classes`: the word classes among `words` (most texts hold few: sets are built only for those)."""
    programming = len(LEXICON.programming.intersection(words)) if classes & PROGRAMMING else 0
    languages = len(LEXICON.languages.intersection(words)) if classes & LANGUAGES else 0
    if code:
        scores[CR] += 2.4 * code
        scores[CG] += 1.0 * code
        math *= 0.3  # `i = 0` is code, not algebra
        for task in (QA, CHAT, ANALYSIS, SUMMARY, EXTRACT):
            scores[task] *= 1.0 - 0.4 * code
        if code >= 0.3 and not making:
            # code shown without asking for new code: to be checked or explained (the code's own
            # words, "Dockerfile", "SELECT", "server", are not a request to write one)
            scores[CR] += 1.5
            scores[CG] *= 0.7
        if text.rstrip().endswith(('"""', "'''")):
            scores[CG] += 3.0  # a signature and its docstring, no body yet (HumanEval): write the body
    elif prior_code:
        scores[CR] += 0.8
        scores[CG] += 1.8 if making else 0.8  # "now make it keep only 7 backups": change that code
    elif not (programming or trace):
        scores[CR] *= 0.5  # "review", "fix", "wrong" without any code are about something else
    if trace:
        scores[CR] += 2.5
        scores[CG] *= 0.6  # an error report is about code that exists
    if programming:
        scores[CG] += min(2.0, 1.2 * programming)
        scores[CR] += min(0.9, 0.5 * programming)
        if signals.own_code(words) and not making:
            scores[CR] += 1.5  # "my script", "this query": about code the asker already has
    if (code or programming) and not languages and scores[TRANSLATE] > 0:
        scores[CG] += scores[TRANSLATE]  # "translate this Python to Go" is a coding task
        scores[TRANSLATE] = 0.0
    elif languages and said is not text:
        scores[TRANSLATE] += 1.5  # a quotation and a language: what is it in that language
    if languages and classes & SAYING:
        scores[TRANSLATE] += 1.5  # "how would a Spanish speaker say ...", "what does X mean in German"
    _quantities(scores, said, words, start, classes, math, code, question)
    # a short turn whose quotations were left out of the words read: all its words, quotations too
    everything = _words(text) if said is not text and len(text) <= HEAD_CHARS + TAIL_CHARS else None
    if question:
        scores[QA] += 0.8
        if words and words[0] in shapes.QUESTION_START:
            scores[QA] += 0.3
        if classes & DECIDING and classes & OR:
            scores[ANALYSIS] += 1.5  # "should we X or Y?": a decision to weigh
        if len(words) <= 10 and classes & SECOND_PERSON:
            scores[CHAT] += 1.5  # "how are you?", "tu vas bien ?": about the assistant itself
        kin = len(_KIN.intersection(words)) if classes & KIN else 0
        if kin < 2 and everything is not None:
            # a quoted statement's kin terms count too: "... says: 'that man's father is my father's son'"
            kin = len(_KIN.intersection(everything))
        if kin >= 2:
            scores[REASON] += 2.5  # "what is John to Mary's son's father?": a kinship riddle
    # a riddle asked, or quoted for help: 'my kid brought this one home: "I have cities but no houses
    # ... What am I?"' (the words read leave quotations out)
    if (question and signals.riddle(words)) or (everything is not None and signals.riddle(everything)):
        scores[REASON] += 3.0
    if classes & RELATION and signals.relations(words) >= 2:
        scores[REASON] += 2.5  # "A is taller than B", "all X are Y": a relational puzzle, a syllogism
    if "*" in text and _ACTION.search(text[: HEAD_CHARS + TAIL_CHARS]):
        scores[ROLE] += 4.0  # *pushes the door open*: acting out a scene
    if not said.isascii() and _EMOJI.search(said):
        scores[CHAT] += 0.8
    if len(words) > 25:
        scores[CHAT] *= 0.4  # small talk is short; greetings in a long text open a message or email
    if len(text) > 700 and not code:
        scores[SUMMARY] += 0.6  # a long paste with little said about it is usually to be condensed
        scores[EXTRACT] += 0.2
    if non_latin and not any(scores[t] >= THRESHOLD for t in range(len(TASKS))):
        scores[TRANSLATE] += 0.3
    if len(words) <= 3 and not question and not non_latin:
        scores[CHAT] += 0.6
    if "\n" in text[:16] and shapes.language_line(text):
        scores[TRANSLATE] += 3.5  # "EN→ES\n<text>", "pt-BR:\n<text>": a localisation request


def _quantities(
    scores: list[float],
    said: str,
    words: list[str],
    start: int,
    classes: int,
    math: float,
    code: float,
    question: bool,
) -> None:
    """Notation, numbers and arithmetic words: evidence of a calculation (the numbers of material,
    from `words[start]` on when `start`, count half)."""
    scores[MATH] += 2.5 * (math * 0.3 if code else math)  # `i = 0` is code, not algebra
    if code or not classes & NUMBER:
        return
    numbers, arithmetic = signals.quantities(words)
    if numbers is None:
        return
    if start:
        numbers -= PAYLOAD_FACTOR * (signals.quantities(words[start:])[0] or 0)
    count = numbers - signals.enumerators(said)
    if count:
        amounts = min(1.2, 0.3 * count) + (1.6 if question and count >= 2 else 0.0)
        # in a long turn numbers are mostly data (offers, plans, minutes), not a sum to work out
        scores[MATH] += amounts if len(words) <= DATA_WORDS else amounts * 0.5
    if arithmetic:
        scores[MATH] += 2.5


def _cjk_cues(sample: str, scores: list[float]) -> tuple[bool, bool]:
    """Task words in scripts written without spaces. Returns whether the text is mostly not Latin
    script, and whether it holds a verb of making (`other_languages.UNSPACED_MAKING`)."""
    sample = sample[:400]
    if sample.isascii():
        return False, False
    for task, cues in other_languages.UNSPACED.items():
        if any(c in sample for c in cues):
            scores[INDEX[task]] += other_languages.UNSPACED_WEIGHTS.get(task, other_languages.UNSPACED_WEIGHT)
    if len(sample) <= other_languages.UNSPACED_SHORT and any(
        c in sample for c in other_languages.UNSPACED_CHAT
    ):
        scores[CHAT] += other_languages.UNSPACED_WEIGHT
    making = any(c in sample for c in other_languages.UNSPACED_MAKING)
    return len(_NON_LATIN.findall(sample)) > len(sample) / 3, making
