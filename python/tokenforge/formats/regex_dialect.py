"""Translating pre-tokenization regexes between tiktoken's dialect (Rust ``fancy-regex``) and HF
``tokenizers``' (Oniguruma, Ruby syntax).

They differ on one construct real patterns use: a bounded quantifier followed by ``+``. In
fancy-regex ``\\p{N}{1,3}+`` is possessive (tiktoken's cl100k pattern relies on that); Oniguruma
reads it as a repeat of a repeat, ``(?:\\p{N}{1,3})+``, which lets "123456" be one piece. Both
engines agree on atomic groups and on ``?+``, ``*+``, ``++``, so:

* writing a tokenizer.json turns ``A{n,m}+`` into the atomic group ``(?>A{n,m})``;
* reading one turns ``A{n,m}+`` into ``(?:A{n,m})+``, the meaning HF gives it.

Reading also translates Oniguruma constructs fancy-regex lacks or reads differently, with
Oniguruma's Unicode meanings (HF matches str, so POSIX brackets are Unicode, not ASCII):
``[[:alpha:]]`` and the other POSIX brackets, ``\\p{Alnum}``-style POSIX property names,
``\\p{^L}`` (negated property), ``\\R`` (a line break, atomic as in Oniguruma). ``\\X`` (grapheme
clusters) and the brackets ``graph``, ``print``, ``punct`` (defined by Oniguruma in terms no other
engine shares) are refused with :class:`UnsupportedTokenizerError` naming the construct, because
an approximation would give different pieces silently.
"""

from __future__ import annotations

import re

from ..errors import InvalidVocabularyError, UnsupportedTokenizerError

__all__ = ["engine_to_hf", "hf_to_engine"]

# The POSIX classes as HF's Oniguruma matches them on str (Unicode properties, checked against
# `tokenizers` 0.23 on every class's edge cases: U+0345 is alpha, U+0301 is not; Roman numeral
# U+2160 is upper; U+00AD and private-use characters are not cntrl), as class items of the
# regex crate's syntax.
_POSIX_CLASSES = {
    "alnum": r"\p{Alphabetic}\p{Nd}",
    "alpha": r"\p{Alphabetic}",
    "ascii": r"\x00-\x7F",
    "blank": r"\p{Zs}\t",
    "cntrl": r"\p{Cc}",
    "digit": r"\p{Nd}",
    "lower": r"\p{Lowercase}",
    "space": r"\p{White_Space}",
    "upper": r"\p{Uppercase}",
    "word": r"\p{Alphabetic}\p{M}\p{Nd}\p{Pc}",
    "xdigit": r"0-9A-Fa-f",
}
_UNSUPPORTED_POSIX = ("graph", "print", "punct")
_LINE_BREAK = r"(?>\r\n|[\n\x0B\f\r\x{85}\x{2028}\x{2029}])"
_PROPERTY = re.compile(r"\\([pP])\{(\^?)([^}]*)\}")
_POSIX_BRACKET = re.compile(r"\[:(\^?)([a-z]+):\]")


def _posix_items(name: str, pattern: str) -> str:
    if name in _UNSUPPORTED_POSIX:
        raise UnsupportedTokenizerError(
            f"the POSIX class [:{name}:] in pattern {pattern!r} is not supported (Oniguruma's Unicode "
            "definition has no equivalent in the engine); spell it with \\p{...} classes"
        )
    if name not in _POSIX_CLASSES:
        raise InvalidVocabularyError(f"unknown POSIX class [:{name}:] in pattern {pattern!r}")
    return _POSIX_CLASSES[name]


def _translate_oniguruma(pattern: str) -> str:
    """Oniguruma-only constructs in their engine spelling (see the module notes)."""
    out: list[str] = []
    depth = 0  # character-class nesting
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            m = _PROPERTY.match(pattern, i)
            if m is not None:
                negated = (m.group(1) == "P") != (m.group(2) == "^")
                name = m.group(3)
                posix = name.lower()
                if posix == "word":  # differs from [[:word:]] in Oniguruma (U+00B2 is \p{Word})
                    raise UnsupportedTokenizerError(
                        f"the property \\p{{{name}}} in pattern {pattern!r} is not supported; "
                        "use [[:word:]] or \\w"
                    )
                if posix in _POSIX_CLASSES or posix in _UNSUPPORTED_POSIX:
                    items = _posix_items(posix, pattern)
                    body = f"[^{items}]" if negated else (f"[{items}]" if depth == 0 else items)
                    out.append(body)
                else:
                    out.append(f"\\{'P' if negated else 'p'}{{{name}}}")
                i = m.end()
                continue
            if nxt == "R" and depth == 0:
                out.append(_LINE_BREAK)
                i += 2
                continue
            if nxt == "X":
                raise UnsupportedTokenizerError(
                    f"\\X (extended grapheme cluster) in pattern {pattern!r} is not supported"
                )
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if c == "[":
            m = _POSIX_BRACKET.match(pattern, i)
            if m is not None and depth > 0:
                items = _posix_items(m.group(2), pattern)
                out.append(f"[^{items}]" if m.group(1) else items)
                i = m.end()
                continue
            depth += 1
            out.append(c)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("\\]")  # a leading ']' is literal
                i += 1
            continue
        if c == "]" and depth > 0:
            depth -= 1
        out.append(c)
        i += 1
    return "".join(out)


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
    """The fancy-regex spelling of an Oniguruma pattern (``A{n,m}+`` -> ``(?:A{n,m})+``, POSIX
    brackets, ``\\p{^L}``, ``\\R``; see the module notes)."""
    return _rewrite(_translate_oniguruma(pattern), "repeat")
