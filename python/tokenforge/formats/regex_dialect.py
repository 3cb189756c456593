"""Translating pre-tokenization regexes between tiktoken's dialect (Rust ``fancy-regex``) and HF
``tokenizers``' (Oniguruma, Ruby syntax).

They differ on one construct real patterns use: a bounded quantifier followed by ``+``. In
fancy-regex ``\\p{N}{1,3}+`` is possessive (tiktoken's cl100k pattern relies on that); Oniguruma
reads it as a repeat of a repeat, ``(?:\\p{N}{1,3})+``, which lets "123456" be one piece. Both
engines agree on atomic groups and on ``?+``, ``*+``, ``++``, so:

* writing a tokenizer.json turns ``A{n,m}+`` into the atomic group ``(?>A{n,m})``;
* reading one turns ``A{n,m}+`` into ``(?:A{n,m})+``, the meaning HF gives it.
"""

from __future__ import annotations

import re

from ..errors import InvalidVocabularyError

__all__ = ["engine_to_hf", "hf_to_engine"]

_BOUNDED = re.compile(r"\{\d+(?:,\d*)?\}")


def _possessive_bounded(pattern: str) -> list[tuple[int, int, int]]:
    """``(atom_start, quantifier_start, end)`` of every ``ATOM{n,m}+`` outside character classes;
    ``end`` is the index just past the trailing ``+``."""
    found: list[tuple[int, int, int]] = []
    groups: list[int] = []
    last_atom = -1
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            start = i
            if i + 2 < n and pattern[i + 1] in "pPx" and pattern[i + 2] == "{":
                close = pattern.find("}", i + 3)
                if close < 0:
                    raise InvalidVocabularyError(f"unterminated escape in pattern {pattern!r}")
                i = close + 1
            else:
                i += 2
            last_atom = start
            continue
        if c == "[":
            start = i
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1  # a leading ']' is literal
            depth = 1
            while i < n and depth:
                if pattern[i] == "\\":
                    i += 2
                    continue
                if pattern[i] == "[":
                    depth += 1
                elif pattern[i] == "]":
                    depth -= 1
                i += 1
            if depth:
                raise InvalidVocabularyError(f"unterminated character class in pattern {pattern!r}")
            last_atom = start
            continue
        if c == "(":
            groups.append(i)
            i += 1
            last_atom = -1
            continue
        if c == ")":
            if not groups:
                raise InvalidVocabularyError(f"unbalanced ')' in pattern {pattern!r}")
            last_atom = groups.pop()
            i += 1
            continue
        if c == "{":
            m = _BOUNDED.match(pattern, i)
            if m is not None:
                end = m.end()
                if end < n and pattern[end] == "+" and last_atom >= 0:
                    found.append((last_atom, i, end + 1))
                    i = end + 1
                else:
                    i = end
                last_atom = -1
                continue
        if c in "*+?|":
            last_atom = -1 if c == "|" else last_atom
            i += 1
            continue
        last_atom = i
        i += 1
    return found


def _rewrite(pattern: str, make: str) -> str:
    spans = _possessive_bounded(pattern)
    if not spans:
        return pattern
    out: list[str] = []
    pos = 0
    for atom, quant, end in spans:
        out.append(pattern[pos:atom])
        body = pattern[atom:quant] + pattern[quant : end - 1]
        out.append(f"(?>{body})" if make == "atomic" else f"(?:{body})+")
        pos = end
    out.append(pattern[pos:])
    return "".join(out)


def engine_to_hf(pattern: str) -> str:
    """The Oniguruma spelling of a fancy-regex pattern (possessive bounded repeats -> atomic groups)."""
    return _rewrite(pattern, "atomic")


def hf_to_engine(pattern: str) -> str:
    """The fancy-regex spelling of an Oniguruma pattern (``A{n,m}+`` -> ``(?:A{n,m})+``)."""
    return _rewrite(pattern, "repeat")
