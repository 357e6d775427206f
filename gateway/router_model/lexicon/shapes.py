"""The shapes of a user turn that need no lexicon: a question, quotations, material after an
instruction, a persona to play, a language code on the first line.

Each is a cheap test first (a character searched for, a prefix), then a regex only where it can match.
"""

from __future__ import annotations

import re

from gateway.router_model.lexicon import signals
from gateway.router_model.lexicon.lexicon import words as _words

MIN_INSTRUCTION, MAX_INSTRUCTION = 2, 40  # words of a first paragraph that asks for work on what follows
PERSONA_CHARS = 600  # a persona is named near the start

_PERSONA = re.compile(
    r"\b(?i:you are|you're|du bist|tu es|eres|sei|você é)\s+(?:now\s+)?(?:called\s+|named\s+)?"
    r"((?:Captain|Dr\.?|Sir|Lady|Lord|Professor|Mr\.?|Mrs\.?|Ms\.?)\s+)?([A-Z][a-zà-ÿ]+)",
)
_BE_STARTS = ("be ", "play ", "sé ", "sois ", "sei ", "spiel")
# words one of which a text must hold for `persona` to find a persona in it (folded, as `scan` sees
# them): the openings above, and a word of each "you are" of `_PERSONA`
PERSONA_WORDS = frozenset("be play se sois sei spiel spiele you bist tu eres voce".split())
_BE_NAMED = re.compile(r"\s*(?i:be|play|sé|sois|sei|spiel|spiele)\s+([A-Z][a-zà-ÿ]+)\b")
# "You are Nova, a friendly assistant ...", "Du bist LexAssist, der HR-Assistent ...": a product's
# assistant under its name, not a character to play (looked for in the words after the name)
_ASSISTANT = re.compile(
    r"(?i:assist|helper|\bbot\b|chatbot|\bAI\b|\bIA\b|\bKI\b|copilot|tutor|ayudante|aide |helfer|agent\b)"
)
_NOT_PERSONAS = frozenset(
    "A An The ChatGPT Claude GPT Gemini Assistant AI Un Una Ein Eine Une Le La El Der Die Das Very Now "
    "Here Going Right Welcome Able Not So Such Too Also Always Helpful Careful Honest Brief Concise Nice "
    "Kind Sure Quiet Patient Clear Specific Creative Polite".split()
)
_OPENERS = frozenset("ok okay so and but well hmm wait also then right alright".split())
QUESTION_START = frozenset(
    "what whats who whom whose when where why how which is are was were do does did can could should would "
    "will shall may might que quien cuando donde cual como por quel quelle qui quand ou pourquoi comment "
    "est was wer wann wo warum wie welche welcher ist sind kann chi dove perche qual quem onde".split()
)
# Quotations: an opening quote after a space, colon or bracket (not an apostrophe inside a word); a
# single-quoted passage may hold apostrophes ("'I'm late'"). The text is matched with a space before it.
_QUOTED = re.compile(
    r"[\s:(\[](?:'(?:[^'\n]|'(?=\w)){2,200}?'(?!\w)|\"[^\"\n]{2,200}\"|«[^»]{2,200}»|“[^”]{2,200}”|"
    r"„[^“”]{2,200}[“”]|「[^」]{1,200}」)"
)
_QUOTE_GATE = signals.CharClass("'\"«“„「")
_INSTRUCTION = re.compile(r"([^:\n]{10,160}?)[:：]\s+(\S.{15,})", re.DOTALL)
_MATERIAL = frozenset(
    "text texts message messages transcript notes note email emails mail paragraph paragraphs article "
    "list sentence sentences log logs data review reviews following below this these document file "
    "tweet post chat conversation thread letter report table record records input string passage "
    "texto mensaje notas correo parrafo lista frase datos siguiente texte notes courriel paragraphe "
    "phrase donnees suivant nachricht notizen absatz liste satz daten folgenden".split()
)
_LANGUAGE_CODES = frozenset(
    "en es fr de it pt nl pl sv da no nb fi ru uk ja zh ko ar tr el cs hu ro he hi id th vi ca".split()
)
_CODE_WORDS = frozenset("hi it no id he".split())
_LANGUAGE_LINE = re.compile(
    r"\s*(?:([A-Za-z]{2})(?:[-_][A-Za-z]{2,4})?\s*(?:→|->|=>|>|/|to)\s*)?"  # a source and an arrow, or not
    r"([A-Za-z]{2})([-_][A-Za-z]{2,4})?\s*:?[ \t]*\n"
)


def is_question(text: str, words: list[str]) -> bool:
    """A question mark at the end (or "¿" at the start, or a full-width "？" anywhere in the text
    read), else a question word among the first words after openers ("ok so is ...") in a turn that
    does not end as a statement."""
    stripped = text.rstrip()
    if stripped.endswith(("?", "？", "؟")) or stripped.startswith("¿"):
        return True
    if "？" in stripped:  # (no search at all in a text without wide characters)
        return True  # Chinese and Japanese ask, then say more: "...决めるのですか？...知りたいです。"
    if stripped.endswith((".", "!", ":")):
        return False
    for word in words[:3]:  # "ok so is a tomato a fruit or not"
        if word in QUESTION_START:
            return True
        if word not in _OPENERS:
            return False
    return False


def material_start(said: str) -> int:
    """Where material to work on starts in `said`: after an instruction's colon ("Give me each speaker
    in this transcript: A: hi B: hello"), or after the blank line that ends a short first paragraph
    ("tl;dr pls\n\n<a memo>"); 0 when nothing in it is material."""
    if ":" in said or "：" in said:
        split = _INSTRUCTION.match(said)
        if split and _is_material(split.group(1), split.group(2)):
            return split.start(2)
    return paragraph_cut(said) if "\n\n" in said else 0


def paragraph_cut(text: str) -> int:
    """Where the material starts when a short first paragraph (the instruction) is followed by a
    longer text; 0 when it is not so."""
    cut = text.find("\n\n")
    if cut < 3 or cut > 300:
        return 0
    first = text.count(" ", 0, cut) + 1  # words, near enough
    return cut + 2 if MIN_INSTRUCTION <= first <= MAX_INSTRUCTION and text.count(" ", cut) >= 2 * first else 0


def _is_material(before: str, after: str) -> bool:
    """Does the colon introduce material (a transcript, notes, a text) rather than more request?"""
    words = _words(before)
    return len(words) >= 3 and (after.startswith("\n") or words[-1] in _MATERIAL)


def unquoted(text: str) -> str:
    """`text` without its quotations (the same object when there is none)."""
    if "'" not in text and '"' not in text and (text.isascii() or not _QUOTE_GATE.found_in(text)):
        return text  # two searches for a character (memchr) answer most texts
    stripped = _QUOTED.sub(" ", " " + text)
    return text if len(stripped) == len(text) + 1 else stripped


def language_line(text: str) -> bool:
    """The first line is a language code, or a pair of them ("EN→ES", "en-GB:", "de > fr")."""
    line = _LANGUAGE_LINE.match(text)
    if line is None:
        return False
    source, target, region = line.groups()
    if source is None and region is None and target.lower() in _CODE_WORDS:
        return False  # "Hi:", "It:" alone open a line of prose
    return target.lower() in _LANGUAGE_CODES and (source is None or source.lower() in _LANGUAGE_CODES)


def persona(text: str) -> bool:
    """`You are Luna, ...` / `Du bist Hans` / `Be Socrates`: a named character to play (not "You are
    a helpful assistant")."""
    text = text[:PERSONA_CHARS]
    low = text.lower()
    if low.startswith(_BE_STARTS):
        lead = _BE_NAMED.match(text)
        if lead and lead.group(1) not in _NOT_PERSONAS:
            return True
    if not (
        "you" in low or "du bist" in low or "tu es" in low or "eres" in low or "sei " in low or "ocê" in low
    ):
        return False
    return any(
        (m.group(1) or m.group(2) not in _NOT_PERSONAS) and not _ASSISTANT.search(text, m.end(), m.end() + 60)
        for m in _PERSONA.finditer(text)
    )
