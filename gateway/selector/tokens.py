"""Prompt token estimates with the tiktoken encodings LiteLLM bundles, never downloaded.

The installed LiteLLM wheel carries tiktoken's BPE files under `litellm/litellm_core_utils/tokenizers/`,
named by tiktoken's cache key (the SHA-1 of their download URL). We find the package with
`importlib.util.find_spec` (importing LiteLLM costs seconds and may touch the network), check each
file's SHA-256 against the hash tiktoken itself expects, and build a `tiktoken.Encoding` from it.
Without tiktoken or the files, a character heuristic stands in.

Counting is the most expensive step of an auto decision (8,000 characters take ~0.2 ms), and an
estimate is all the selector needs, so `estimate` counts only what can matter: a short text by its
length, texts up to `EXACT_CHARS` exactly, longer ones from evenly spaced samples scaled by length. `count` is exact, for the rare
prompt whose size is close to a candidate's context window.

Loading takes ~0.5 s, so `warm_up` starts it in a background thread at gateway start; until it is
ready, estimates use the heuristic rather than make a request wait.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from pathlib import Path
from typing import Any

from gateway.model_map import litellm_dir

log = logging.getLogger("grid.selector")

TOKENIZER_DIR = ("litellm_core_utils", "tokenizers")
SHORT_CHARS = 256  # shorter texts are estimated by length: a tokenizer call would change nothing
EXACT_CHARS = 1000  # texts up to this are counted exactly (~25-50 us)
SAMPLES = 3  # longer texts: this many evenly spaced samples...
SAMPLE_CHARS = 300  # ...of this many characters each
CHARS_PER_TOKEN = 4.0  # the heuristic: English prose averages ~4 characters per token

# tiktoken's own definitions (tiktoken_ext/openai_public.py): file name = sha1 of the URL.
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|"""
    r"""\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
# name, file (sha1 of the download URL), sha256 of the content, split pattern, end-of-text id
ENCODINGS = (
    (
        "o200k_base",
        "fb374d419588a4632f3f557e76b4b70aebbca790",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PAT,
        199999,
    ),
    (
        "cl100k_base",
        "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PAT,
        100257,
    ),
)


def tokenizer_dir() -> Path | None:
    """Where the installed LiteLLM keeps its tokenizer files, or None without LiteLLM."""
    package = litellm_dir()
    return package.joinpath(*TOKENIZER_DIR) if package is not None else None


def load_encoding(directory: Path | None = None) -> Any | None:
    """The first bundled encoding that is present and intact, as a `tiktoken.Encoding`; else None."""
    try:
        import tiktoken
    except ImportError:
        return None
    directory = directory if directory is not None else tokenizer_dir()
    if directory is None:
        return None
    for name, file, sha256, pattern, eot in ENCODINGS:
        try:
            data = (directory / file).read_bytes()
        except OSError:
            continue
        if hashlib.sha256(data).hexdigest() != sha256:
            log.warning("bundled tokenizer %s is corrupt; skipped", name)
            continue
        ranks = {
            base64.b64decode(tok): int(rank)
            for tok, rank in (line.split() for line in data.splitlines() if line)
        }
        encoding = tiktoken.Encoding(
            name, pat_str=pattern, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": eot}
        )
        # The Rust core copied the ranks; tiktoken keeps this dict only to pickle the encoding, which
        # we never do. Emptied, it gives back ~30 MB of the ~75 MB the encoding costs a process.
        ranks.clear()
        return encoding
    return None


class TokenCounter:
    """Counts tokens with the bundled encoding once it is loaded, with the heuristic until then."""

    def __init__(self) -> None:
        self._encoding: Any | None = None
        self._lock = threading.Lock()
        self._started = False
        self._done = threading.Event()
        self.name = "heuristic"

    @property
    def ready(self) -> bool:
        return self._encoding is not None

    def warm_up(self, *, wait: bool = False) -> None:
        """Load the encoding in a background thread (once); `wait` blocks until that is done."""
        with self._lock:
            start = not self._started
            self._started = True
        if start:
            threading.Thread(target=self._load, name="grid-tokenizer", daemon=True).start()
        if wait:
            self._done.wait()

    def _load(self) -> None:
        try:
            encoding = load_encoding()
        except Exception:  # a broken tokenizer must never break routing: the heuristic stays
            log.exception("could not load the bundled tokenizer; token counts are estimated")
            encoding = None
        if encoding is not None:
            self._encoding = encoding
            self.name = encoding.name
        self._done.set()

    def count(self, text: str) -> int:
        """Exact count (heuristic while the encoding is not loaded)."""
        if not text:
            return 0
        encoding = self._encoding
        if encoding is None:
            return heuristic(text)
        return len(encoding.encode_ordinary(text))

    def estimate(self, text: str) -> tuple[int, bool]:
        """(tokens, exact): by length under SHORT_CHARS (no context window is near, and the answer
        dominates the cost), exact up to EXACT_CHARS, else scaled from evenly spaced samples."""
        n = len(text)
        encoding = self._encoding
        if encoding is None or n < SHORT_CHARS:
            return heuristic(text), False
        if n <= EXACT_CHARS:
            return (len(encoding.encode_ordinary(text)) if text else 0), True
        step = (n - SAMPLE_CHARS) // (SAMPLES - 1)
        sampled = sum(
            len(encoding.encode_ordinary(text[i * step : i * step + SAMPLE_CHARS])) for i in range(SAMPLES)
        )
        return max(1, round(sampled * n / (SAMPLES * SAMPLE_CHARS))), False


def heuristic(text: str) -> int:
    """~4 characters per token, counting non-ASCII characters (CJK, emoji) as a token each."""
    if not text:
        return 0
    if text.isascii():
        return max(1, round(len(text) / CHARS_PER_TOKEN))
    wide = sum(1 for c in text if ord(c) > 0x2E7F)  # CJK and beyond: about one token per character
    return max(1, round((len(text) - wide) / CHARS_PER_TOKEN) + wide)


COUNTER = TokenCounter()  # one per process: the encoding is large and immutable
