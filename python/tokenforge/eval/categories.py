"""Qtok-style vocabulary categories (Chelombitko, Safronov, Komissarov 2024, "Qtok: A
Comprehensive Framework for Evaluating Multilingual Tokenizer Quality", arXiv 2410.12989).

A vocabulary-level analysis: every token *type* gets one category, from its bytes.

* ``control`` — special tokens, and tokens that look like ``<...>`` or ``[...]`` (except common
  HTML tags).
* ``byte`` — one byte that is not a character by itself (byte-level fallback; Qtok's
  ``pure_unicode``); ``partial`` — several bytes that are not whole UTF-8 characters (Qtok's
  ``unicode_flanks``).
* one-character tokens: ``char_alpha`` (a letter, with its script) or ``char_other``.
* tokens starting with a space: ``spaced_alpha`` when the rest is letters of one script (a
  word-initial piece), else ``spaced_other``.
* other tokens: ``inner_alpha`` (letters of one script: a word-inner piece) or ``inner_other``.

The script of a letter is the first word of its Unicode name (``LATIN SMALL LETTER A`` → Latin),
as Qtok does; combining marks take no part in the decision. Counts are types, not frequencies:
they describe the vocabulary, not how much text it compresses.

Qtok's per-language shares of Latin and Cyrillic tokens come from a langid-built token map;
:func:`language_shares` instead attributes each multi-character Latin/Cyrillic token to the
languages of a parallel corpus whose text uses it (1/n to each of n languages).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

__all__ = ["CATEGORIES", "VocabCategories", "categorize", "classify_token", "language_shares", "script_of"]

CATEGORIES = (
    "spaced_alpha",
    "inner_alpha",
    "char_alpha",
    "spaced_other",
    "inner_other",
    "char_other",
    "byte",
    "partial",
    "control",
)

_HTML = re.compile(
    r"^</?(a|b|i|u|p|br|div|span|li|ul|ol|td|tr|th|table|h[1-6]|img|em|strong|code|pre)\b", re.I
)
_CONTROL = re.compile(r"^(<[^<>\s][^<>]*>|\[[A-Za-z_|][^\[\]]*\])$")
# First words of Unicode names that are not a script.
_NOT_SCRIPTS = {"FULLWIDTH", "HALFWIDTH", "SMALL", "CIRCLED", "PARENTHESIZED", "SQUARED", "MATHEMATICAL"}


@lru_cache(maxsize=65536)
def script_of(ch: str) -> str | None:
    """The script of a letter (first word of its Unicode name, title-cased), None otherwise."""
    if unicodedata.category(ch)[0] != "L":
        return None
    words = unicodedata.name(ch, "").split()
    while words and words[0] in _NOT_SCRIPTS:
        words = words[1:]
    if not words:
        return "Unknown"
    first = words[0]
    if first == "CJK":
        return "Han"
    if first == "MODIFIER":
        return "Common"
    return first.title()


def classify_token(data: bytes | None, special: bool = False) -> tuple[str, str | None]:
    """``(category, script)`` of one token from its bytes (script None for non-alpha categories)."""
    if special or data is None:
        return "control", None
    if data.isascii() and data and data[:1] not in (b"<", b"[") and data[-1:] not in (b">", b"]"):
        # Fast path for the ASCII majority of most vocabularies (same rules as below).
        text = data.decode("ascii")
        if len(text) == 1:
            return ("char_alpha", "Latin") if text.isalpha() else ("char_other", None)
        spaced = text[0] == " "
        body = text.lstrip(" ") if spaced else text
        if body.isalpha():
            return ("spaced_alpha" if spaced else "inner_alpha"), "Latin"
        return ("spaced_other" if spaced else "inner_other"), None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return ("byte" if len(data) == 1 else "partial"), None
    if not text:
        return "control", None
    stripped = text.strip()
    if _CONTROL.match(stripped) and not _HTML.match(stripped):
        return "control", None
    if len(text) == 1:
        script = script_of(text)
        return ("char_alpha", script) if script else ("char_other", None)
    spaced = text[0] == " "
    body = text.lstrip(" ") if spaced else text
    scripts = set()
    alpha = bool(body)
    for ch in body:
        cat = unicodedata.category(ch)
        if cat[0] == "M":
            continue
        if cat[0] != "L":
            alpha = False
            break
        scripts.add(script_of(ch))
    if alpha and len(scripts) == 1:
        return ("spaced_alpha" if spaced else "inner_alpha"), scripts.pop()
    return ("spaced_other" if spaced else "inner_other"), None


@dataclass
class VocabCategories:
    """Category counts and the script distribution of alphabetic tokens for one vocabulary."""

    total: int
    counts: dict[str, int]
    scripts: dict[str, int]
    word_initial: int
    word_inner: int
    token_category: list[str] = field(default_factory=list, repr=False)
    token_script: list[str | None] = field(default_factory=list, repr=False)

    def shares(self) -> dict[str, float]:
        return {k: v / self.total for k, v in self.counts.items()} if self.total else {}

    def script_shares(self, fold_below: float = 0.01) -> dict[str, float]:
        """% of alphabetic tokens per script, scripts at or below ``fold_below`` folded into Other
        (Qtok folds at 1%)."""
        alpha = sum(self.scripts.values())
        if not alpha:
            return {}
        out: dict[str, float] = {}
        other = 0.0
        for script, n in sorted(self.scripts.items(), key=lambda kv: -kv[1]):
            share = n / alpha
            if share <= fold_below:
                other += share
            else:
                out[script] = share
        if other:
            out["Other"] = other
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "total": self.total,
            "counts": self.counts,
            "scripts": self.scripts,
            "script_shares": self.script_shares(),
            "word_initial": self.word_initial,
            "word_inner": self.word_inner,
        }


def categorize(token_bytes: Sequence[bytes | None], special: np.ndarray | Sequence[bool]) -> VocabCategories:
    """Categories of every existing id (``token_bytes[i]`` None = unused id, skipped)."""
    counts: Counter[str] = Counter()
    scripts: Counter[str] = Counter()
    cats: list[str] = []
    token_scripts: list[str | None] = []
    total = 0
    for i, data in enumerate(token_bytes):
        if data is None:
            cats.append("")
            token_scripts.append(None)
            continue
        cat, script = classify_token(data, bool(special[i]))
        total += 1
        counts[cat] += 1
        if script:
            scripts[script] += 1
        cats.append(cat)
        token_scripts.append(script)
    return VocabCategories(
        total=total,
        counts={c: counts.get(c, 0) for c in CATEGORIES},
        scripts=dict(scripts.most_common()),
        word_initial=counts["spaced_alpha"],
        word_inner=counts["inner_alpha"],
        token_category=cats,
        token_script=token_scripts,
    )


def language_shares(
    used: Mapping[str, np.ndarray],
    categories: VocabCategories,
    token_bytes: Sequence[bytes | None],
    scripts: Sequence[str] = ("Latin", "Cyrillic"),
    fold_below: float = 0.005,
) -> dict[str, dict[str, float]]:
    """Per script, the share of its multi-character alphabetic tokens attributed to each language.

    ``used[lang]`` holds the ids that occur in that language's text. A token used by n languages
    adds 1/n to each; languages at or below ``fold_below`` are folded into Other (Qtok: 0.5%).
    """
    users: dict[int, list[str]] = {}
    for lang, ids in used.items():
        for i in np.unique(ids).tolist():
            users.setdefault(i, []).append(lang)
    out: dict[str, dict[str, float]] = {}
    for script in scripts:
        weights: Counter[str] = Counter()
        for i, langs in users.items():
            if categories.token_script[i] != script or categories.token_category[i] == "char_alpha":
                continue
            data = token_bytes[i] or b""
            if len(data.decode("utf-8", "replace").strip()) < 2:
                continue
            for lang in langs:
                weights[lang] += 1.0 / len(langs)
        total = sum(weights.values())
        if not total:
            continue
        shares: dict[str, float] = {}
        other = 0.0
        for lang, w in weights.most_common():
            if w / total <= fold_below:
                other += w / total
            else:
                shares[lang] = w / total
        if other:
            shares["Other"] = other
        out[script] = shares
    return out
