"""Language-agnostic evidence about a request: code, error traces, mathematical notation, puzzles.

These run on every auto-routed request, on texts of any length, so each is bounded and cheap:
substring counts (`str.count` and `in` run in C at memory speed) over a capped probe of the text,
loops over the few hundred words already split for the cue scan, and the odd regex only where a
cheap test says it can match.
"""

from __future__ import annotations

import re
from itertools import compress, count

PROBE_HEAD, PROBE_TAIL = 1200, 300
PROBE_CHARS = PROBE_HEAD + PROBE_TAIL  # a text this long or shorter is its own probe

# Substrings typical of code, with how much each occurrence counts (at most 3 occurrences each).
_CODE_MARKS = (
    ("```", 1.0),
    (";\n", 0.3),
    ("{\n", 0.3),
    ("}\n", 0.25),
    ("==", 0.2),
    ("!=", 0.2),
    ("=>", 0.2),
    ("::", 0.15),
    ("();", 0.3),
    ("()", 0.15),
    ("&&", 0.2),
    ("||", 0.15),
    ("+=", 0.2),
    ("++", 0.15),
    ("def ", 0.3),
    ("return ", 0.25),
    ("import ", 0.15),
    ("function", 0.15),
    ("const ", 0.2),
    ("var ", 0.1),
    ("#include", 0.4),
    ("</", 0.2),
    ("/>", 0.2),
    ("print(", 0.3),
    ("printf", 0.3),
    ("println", 0.3),
    ("console.", 0.3),
    ("self.", 0.25),
    ("this.", 0.15),
    ("\n    ", 0.15),
    ("\n\t", 0.15),
    ("lambda", 0.2),
    ("SELECT ", 0.2),
    ("WHERE ", 0.15),
    ("$_", 0.3),
    ("elif ", 0.3),
    ("else:", 0.3),
    ("await ", 0.15),
    ("useEffect", 0.3),
    ("#!/", 0.4),
    ("apiVersion", 0.4),
    ("WORKDIR", 0.4),
    ("RUN ", 0.2),
    (" in range(", 0.4),
    ("for (", 0.3),
    ("if (", 0.2),
    ("while (", 0.3),
    ("[0-9]", 0.3),
    ("\\d", 0.3),
    ("^[", 0.3),
    ("):", 0.15),
    (");", 0.3),
    # shell: pipes into the usual filters, redirections, find's actions
    (" | xargs", 0.4),
    (" | grep ", 0.4),
    (" | awk ", 0.4),
    (" | sed ", 0.4),
    (" | sort", 0.3),
    ("2>&1", 0.4),
    (" -exec ", 0.4),
    (" -type f", 0.4),
    ("sudo ", 0.3),
    ("$(", 0.3),
    (" = ", 0.05),
    ("{", 0.15),
    ("}", 0.15),
)


class CharClass:
    """Whether a text holds any of a few characters. `re` steps through a character class at some
    70 instructions a character; an ASCII text is instead translated as bytes (a table lookup per
    byte, the class's characters to 0) and searched for a 0 byte: a few instructions a character."""

    def __init__(self, chars: str) -> None:
        self._table = bytes(0 if chr(b) in chars else 1 for b in range(256))
        self.regex = re.compile("[" + "".join(re.escape(c) for c in chars) + "]")  # for non-ASCII text

    def found_in(self, text: str) -> bool:
        if text.isascii():
            return 0 in text.encode().translate(self._table)
        return self.regex.search(text) is not None


# Characters rare in prose but in nearly every piece of code; parentheses, #, + are common in prose.
_CODE_CHARS = CharClass(";{}=<>[]$\\`|&")
# Substrings of error output and stack traces (case as they are printed).
TRACE_MARKS = (
    "Traceback (most recent call last)",
    "Error:",
    "Error(",
    "Exception:",
    "Exception in ",
    "error:",
    "warning:",
    "egmentation fault",
    "core dumped",
    "npm ERR!",
    "panic:",
    "undefined is not",
    "annot read propert",
    "CrashLoopBackOff",
    "exit code",
    "NullPointer",
    "SIGSEGV",
    "undefined reference",
    "o module named",
    "command not found",
    "ERESOLVE",
    "stack overflow",
    "Stack overflow",
)
_TRACE = re.compile("|".join(re.escape(mark) for mark in TRACE_MARKS))
# Each mark, in lower case, holds one of these: a text with none of them holds no mark. Looking for
# them (`in`, at memory speed) spares most texts the regex, whose alternation `re` tries at every
# position (tests/test_selector_unit.py checks that every mark has its core).
TRACE_CORES = (
    "error",
    "exception",
    "traceback",
    "warning:",
    "fault",
    "dumped",
    "npm err",
    "panic:",
    "undefined",
    "annot read",
    "crashloop",
    "exit code",
    "nullpointer",
    "sigsegv",
    "module named",
    "not found",
    "eresolve",
    "overflow",
)
# Each mark holds, inside one of its words, one of these (lower case): a text none of whose words
# holds one has no mark (tests/test_selector_unit.py checks every mark).
TRACE_WORD_PARTS = (
    "traceback",
    "error",
    "exception",
    "warning",
    "egmentation",
    "dumped",
    "npm",
    "panic",
    "undefined",
    "propert",
    "crashloop",
    "exit",
    "nullpointer",
    "sigsegv",
    "module",
    "command",
    "eresolve",
    "overflow",
)
_OPERATORS = "+*/×÷^=−-"
_OPERATOR = CharClass(_OPERATORS)
_MATH_CHARS = CharClass(_OPERATORS + "\\(")  # an operator, or what an ASCII symbol starts with
_MATH_SYMBOLS = (
    "∑",
    "∫",
    "√",
    "π",
    "≤",
    "≥",
    "≠",
    "∞",
    "²",
    "³",
    "\\frac",
    "\\int",
    "\\sum",
    "\\sqrt",
    "\\lim",
    "\\pi",
    "\\cdot",
    "\\infty",
    "sin(",
    "cos(",
    "tan(",
    "log(",
    "ln(",
    "f(x)",
    "f'(x)",
    " dx",
    "lim_",
    "→0",
    "→ 0",
    "→∞",
)
_MATH_SYMBOL = re.compile("|".join(re.escape(symbol) for symbol in _MATH_SYMBOLS))
_ENUMERATOR = re.compile(r"(?:^|\s)\d{1,2}[).] ", re.MULTILINE)
_ARITH_WORDS = frozenset("times plus minus mal fois por x over multiplied divided".split())
_SPATIAL = frozenset(
    "behind front left right next between izquierda derecha medio gauche droite milieu links rechts "
    "mitte detras derriere delante devant hinter".split()
)
_QUANTIFIERS = frozenset(
    "all some no every none todos algunos ningun tous certains aucun alle einige kein".split()
)
_COPULAS = frozenset("are is were son es sont est sind ist".split())
RELATION_WORDS = _SPATIAL | _QUANTIFIERS | {"than"}  # without one of these, `relations` is 0
_POSSESSIVE = frozenset(
    "my this our mein meine meinen dieser diese diesen dieses mi mis este esta nuestro mon ma ce cette notre".split()
)
_CODE_NOUNS = frozenset(
    "script code codigo function funcion fonction funktion query consulta requete program programa programme "
    "programm app test tests build regex class component service server endpoint container pod pipeline "
    "deployment dockerfile cluster database api website loop method macro css html config".split()
)
_NOT_COUNTED = frozenset(
    "bullets bullet sentences sentence words word lines line points point paragraphs paragraph items item "
    "tips ideas examples steps names things options questions slogans minutes".split()
)


def probe(text: str) -> str:
    """The part of a long text the structural checks read: its head and its tail."""
    if len(text) <= PROBE_CHARS:
        return text
    return text[:PROBE_HEAD] + "\n" + text[-PROBE_TAIL:]


CODE_WORD_PARTS = ("def", "import", "return")  # the words of the keywords `code_strength` looks for


def code_strength(text: str, keywords: bool = True) -> float:
    """0..1: how much of `text` looks like code (a fence alone is enough). `keywords=False`: the
    caller knows that no word of `text` holds one of `CODE_WORD_PARTS`."""
    if not (
        _CODE_CHARS.found_in(text)
        or "()" in text
        or "\n " in text
        or "\n\t" in text
        or (keywords and ("def " in text or "import " in text or "return " in text))
    ):
        return 0.0  # none of the characters code is made of: most prose, answered in a microsecond
    total = 0.0
    for mark, weight in _CODE_MARKS:
        n = text.count(mark)
        if n:
            total += weight * min(n, 3)
            if total >= 1.0:
                return 1.0
    return total


def has_trace(text: str) -> bool:
    """An error message or a stack trace."""
    low = text.lower()
    for core in TRACE_CORES:
        if core in low:
            return _TRACE.search(text) is not None
    return False


def math_density(text: str) -> float:
    """0..1: mathematical notation in `text`: operators between numbers and variables (`3x + 7 = 22`,
    `x^2`, `1/(1+x)`), LaTeX commands and math symbols."""
    text = text[:800]
    if text.isascii():
        if not _MATH_CHARS.found_in(text) and " dx" not in text:
            return 0.0  # no operator and nothing a symbol is made of: most prose
        # every symbol has a non-ASCII character, a backslash, a bracket or " dx"
        maybe = "\\" in text or "(" in text or " dx" in text
    else:
        maybe = True
    hits = len(_MATH_SYMBOL.findall(text)) if maybe else 0
    if hits < 3 and _OPERATOR.found_in(text):
        for match in _OPERATOR.regex.finditer(text):
            if _is_math_operator(text, match.start()):
                hits += 1
                if hits >= 3:
                    break
    return min(1.0, hits / 3)


def _is_math_operator(text: str, at: int) -> bool:
    """An operator with operands: a digit on one side and a digit, variable or bracket on the other."""
    op = text[at]
    before = text[at - 1] if at >= 1 else ""
    if before == " " and at >= 2:
        before = text[at - 2]
    after = text[at + 1] if at + 1 < len(text) else ""
    if after == " " and at + 2 < len(text):
        after = text[at + 2]
    if op in "-−":  # a minus needs spaces on both sides and digits: `5 - 3`, not `2024-03-12`
        return (
            text[at - 1 : at] == " " and text[at + 1 : at + 2] == " " and before.isdigit() and after.isdigit()
        )
    if op == "^":
        return bool(before) and (before.isalnum() or before == ")") and (after.isalnum() or after == "(")
    if op == "/":
        return before.isdigit() and (after.isdigit() or after == "(")
    operands = (before.isdigit() and (after.isalnum() or after == "(")) or (
        after.isdigit() and (before.isalpha() or before == ")")
    )
    return operands and len(before) == 1 and len(after) == 1 and (before.isascii() or before.isdigit())


def quantities(words: list[str]) -> tuple[int | None, bool]:
    """How many numbers among `words` are quantities ("12 apples"), not counts of answer parts ("3
    bullets"), None when there is no number at all; and whether the words hold arithmetic ("17 times
    23", "100 divided by 4"). The number words (`str.isdecimal`: what a regex's digit class matches) are
    picked out by C iterators; only they are looked at in Python. (The classifier asks only when
    `scan` saw a number. This is faster than the regex over the joined words it replaced: 0.6 against
    0.7 us for a short turn, 7 against 21 us for 165 words, and ~1.5 us less with cold caches.)"""
    amounts, arithmetic, found = 0, False, False
    last = len(words) - 1
    for i in compress(count(), map(str.isdecimal, words)):
        found = True
        following = words[i + 1] if i < last else ""
        amounts += following not in _NOT_COUNTED
        if following in _ARITH_WORDS and i + 1 < last and not arithmetic:
            second = words[i + 2]
            third = words[i + 3] if i + 2 < last else ""
            arithmetic = (third if second == "by" and third else second).isdigit()
    return (amounts, arithmetic) if found else (None, False)


def enumerators(text: str) -> int:
    """List markers (`1) ... 2) ...`, `1. ...`): numbers that count items, not quantities."""
    return len(_ENUMERATOR.findall(text)) if ")" in text or ". " in text else 0


def relations(words: list[str]) -> int:
    """Relations between people or things ("taller than", "behind", "all X are Y"): puzzle material."""
    count = 0
    for i, word in enumerate(words):
        spatial = word in _SPATIAL
        compared = (
            word == "than"
            and i > 0
            and (words[i - 1].endswith("er") or words[i - 2 : i - 1] in (["more"], ["less"]))
        )
        quantified = word in _QUANTIFIERS and i + 2 < len(words) and words[i + 2] in _COPULAS
        count += spatial or compared or quantified
    return count


# A riddle's closing question, in the lexicon's languages (folded words); the verbs of "what has ... but"
_RIDDLE_ENDS = frozenset(
    tuple(end.split())
    for end in "what am i,who am i,que soy,quien soy,que suis je,qui suis je,was bin ich,wer bin ich,"
    "cosa sono,chi sono,chi sono io,que sou eu,quem sou eu".split(",")
)
_RIDDLE_VERBS = frozenset("has have can gets goes runs comes".split())
# ... not when the next word makes it a plain question: "what has changed", "what can I", "what goes well"
_NOT_RIDDLE = frozenset("i you we they he she it the be been gone done made become well".split())


def riddle(words: list[str]) -> bool:
    """The shapes of a riddle: "What has keys but can't open locks?", "... I have no mouth. What am I?"."""
    if len(words) < 6:
        return False  # "who am I?" alone is a question about the asker
    if words[0] == "what" and words[1] in _RIDDLE_VERBS and "but" in words:
        return words[2] not in _NOT_RIDDLE and not words[2].endswith("ed")
    return tuple(words[-3:]) in _RIDDLE_ENDS or tuple(words[-2:]) in _RIDDLE_ENDS


def own_code(words: list[str]) -> bool:
    """`my script`, `this query`, `mein Python-Programm`: code the asker already has."""
    for i, word in enumerate(words):
        if word in _POSSESSIVE and (
            (i + 1 < len(words) and words[i + 1] in _CODE_NOUNS)
            or (i + 2 < len(words) and words[i + 2] in _CODE_NOUNS)
        ):
            return True
    return False
