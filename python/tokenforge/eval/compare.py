"""Vocabulary comparison: how the vocabularies of two or more tokenizers differ, and what that
does on the evaluated (held-out) text.

Meant for tokenizers trained at the same vocabulary size on the same corpus (BPE, Unigram, LiB,
the hybrid), as in ``bench/compare_vocab.py``, but computed for any set of two or more. Tokens are
compared as the text they stand for in running text (the :class:`~.adapters.VocabTable`
surface), so a SentencePiece ``▁the``, a byte-level ``Ġthe`` and a tiktoken `` the`` are the same
string. Special tokens, the unknown token and byte pieces (parts of UTF-8 characters, byte
fallback) are left out: every byte-level or byte-fallback vocabulary has the 256 bytes, which
would only add the same constant to every overlap.

Per vocabulary: the compared token strings, their length distribution in characters (one leading
and one trailing space, word-boundary markers, not counted, so `` the``, ``the `` and ``the``
all have 3) and the shares that begin (word-initial) or end (word-final, LiB's chunks that span
words) with a space. Per pair: shared strings and the Jaccard index |A ∩ B| / |A ∪ B|, of the
exact strings and of the strings without their word-boundary space (``core``: LiB's ``the `` and
BPE's `` the`` are one core string, ``the``). Per vocabulary, the strings no other vocabulary
has, most used on the evaluated corpora first. The held-out numbers (bytes/token, fertility,
%TR/%Pure where a lexicon exists) come from the tokenizers' :class:`~.result.CorpusResult` rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .adapters import VocabTable
    from .result import CorpusResult

__all__ = ["LENGTH_BUCKETS", "VocabularyComparison", "compare_vocabularies", "token_strings"]

#: Length histogram buckets: 1 .. LENGTH_BUCKETS - 1 characters, then LENGTH_BUCKETS or more.
LENGTH_BUCKETS = 16
#: Strings listed per vocabulary as only in it.
UNIQUE_EXAMPLES = 12
#: Sizes within this share of each other count as equal (a BPE trainer may stop a few merges short).
EQUAL_SIZE_TOLERANCE = 0.01


@dataclass
class VocabularyComparison:
    """The comparison of two or more vocabularies (JSON-ready: only str/int/float/list/dict).

    ``sizes``: non-special ids per tokenizer; ``compared``: the token strings compared (whole
    characters, not special, not unknown). ``pairs``: one ``{"a", "b", "shared", "union",
    "jaccard", "core_shared", "core_union", "core_jaccard"}`` per pair. ``lengths[t]``:
    ``histogram`` (counts for 1 .. 15 characters, then 16+), ``shares`` (the same over
    ``compared``), ``mean``, ``median``, ``word_initial`` and ``word_final`` (shares of strings
    with a leading / trailing space). ``held_out[corpus][t]``: that tokenizer's numbers on the
    corpus. ``unique[t]``: strings only ``t`` has, most used first.
    """

    tokenizers: list[str]
    sizes: dict[str, int]
    compared: dict[str, int]
    equal_size: bool
    shared_by_all: int
    pairs: list[dict[str, Any]]
    lengths: dict[str, dict[str, Any]]
    held_out: dict[str, dict[str, dict[str, Any]]]
    unique: dict[str, list[str]]
    notes: dict[str, str] = field(default_factory=dict)

    def jaccard(self, a: str, b: str, key: str = "jaccard") -> float:
        """The Jaccard index of ``a`` and ``b``; ``key="core_jaccard"`` without boundary spaces."""
        if a == b:
            return 1.0
        for p in self.pairs:
            if {p["a"], p["b"]} == {a, b}:
                return float(p[key])
        raise KeyError(f"no pair {a!r}, {b!r}")

    def to_markdown(self) -> list[str]:
        names = self.tokenizers
        out = ["## Vocabulary comparison", ""]
        out.append(
            "Token strings compared as running text (specials, unknown and byte pieces left out): "
            + ", ".join(f"{t} {self.compared[t]:,} of {self.sizes[t]:,}" for t in names)
            + f"; {self.shared_by_all:,} in every vocabulary."
        )
        for key, title in (("jaccard", "Jaccard"), ("core_jaccard", "Jaccard, no boundary space")):
            out += ["", f"| {title} | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
            for a in names:
                out.append(f"| {a} | " + " | ".join(f"{self.jaccard(a, b, key):.3f}" for b in names) + " |")
        out += ["", "| token length (chars) | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for i in range(LENGTH_BUCKETS):
            label = str(i + 1) if i + 1 < LENGTH_BUCKETS else f"{LENGTH_BUCKETS}+"
            out.append(
                f"| {label} | "
                + " | ".join(f"{100 * self.lengths[t]['shares'][i]:.1f}%" for t in names)
                + " |"
            )
        for key, label in (
            ("mean", "mean"),
            ("median", "median"),
            ("word_initial", "word-initial"),
            ("word_final", "word-final"),
        ):
            cells = [
                f"{100 * self.lengths[t][key]:.1f}%"
                if key.startswith("word_")
                else f"{self.lengths[t][key]:.2f}"
                for t in names
            ]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        for corpus, rows in self.held_out.items():
            out += ["", f"Held-out text `{corpus}`:", ""]
            out.append(
                "| tokenizer | non-special ids | bytes/token | chars/token | fertility | %TR | %Pure |"
            )
            out.append("|---|---:|---:|---:|---:|---:|---:|")
            for t in names:
                row = rows.get(t)
                if row is None:
                    continue
                cells = [
                    f"{self.sizes[t]:,}",
                    _f3(row["bytes_per_token"]),
                    _f3(row["chars_per_token"]),
                    _f3(row["fertility"]),
                    _pct(row["valid_word"]),
                    _pct(row["pure"]),
                ]
                out.append(f"| {t} | " + " | ".join(cells) + " |")
        out += ["", "Only in one vocabulary (most used on the evaluated text first):", ""]
        for t in names:
            out.append(f"- {t}: " + ", ".join(f"`{s!r}`" for s in self.unique[t]))
        for key, value in self.notes.items():
            out.append(f"- note ({key}): {value}")
        return out


def _f3(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def token_strings(table: VocabTable) -> dict[str, int]:
    """The compared token strings of a vocabulary, each with its lowest id."""
    out: dict[str, int] = {}
    for i, surface in enumerate(table.surfaces):
        if surface is None or table.special[i] or table.partial[i] or i == table.unk_id or not surface:
            continue
        try:
            text = surface.decode("utf-8")
        except UnicodeDecodeError:  # a decoder that changes bytes into non-text: not comparable
            continue
        out.setdefault(text, i)
    return out


def _core(text: str) -> str:
    """The string without its word-boundary space: one leading space (BPE, Unigram: `` the``) and
    one trailing space (LiB's chunks that span words end in one: ``the ``); a lone space stays."""
    if len(text) > 1 and text[0] == " ":
        text = text[1:]
    if len(text) > 1 and text[-1] == " ":
        text = text[:-1]
    return text


def _char_length(text: str) -> int:
    """Characters without the word-boundary space (see :func:`_core`)."""
    return len(_core(text))


def _lengths(strings: Sequence[str]) -> dict[str, Any]:
    lengths = np.array([_char_length(s) for s in strings], dtype=np.int64)
    hist = np.bincount(np.minimum(lengths, LENGTH_BUCKETS) - 1, minlength=LENGTH_BUCKETS)
    n = max(len(strings), 1)
    return {
        "histogram": [int(x) for x in hist],
        "shares": [float(x) / n for x in hist],
        "mean": float(lengths.mean()) if lengths.size else 0.0,
        "median": float(np.median(lengths)) if lengths.size else 0.0,
        "word_initial": sum(1 for s in strings if len(s) > 1 and s[0] == " ") / n,
        "word_final": sum(1 for s in strings if len(s) > 1 and s[-1] == " ") / n,
    }


def compare_vocabularies(
    tables: Mapping[str, VocabTable],
    results: Sequence[CorpusResult],
    usage: Mapping[str, np.ndarray] | None = None,
) -> VocabularyComparison:
    """Compares the vocabularies ``tables`` (label → table; two or more) and gathers their rows of
    ``results``. ``usage[label]`` (token counts by id over the evaluated corpora) orders the
    strings found in only one vocabulary."""
    names = list(tables)
    strings = {t: token_strings(tables[t]) for t in names}
    sets = {t: set(s) for t, s in strings.items()}
    cores = {t: {_core(x) for x in s} for t, s in strings.items()}
    pairs = []
    for a, b in itertools.combinations(names, 2):
        pair: dict[str, Any] = {"a": a, "b": b}
        for prefix, of in (("", sets), ("core_", cores)):
            shared = len(of[a] & of[b])
            union = len(of[a] | of[b])
            pair |= {
                f"{prefix}shared": shared,
                f"{prefix}union": union,
                f"{prefix}jaccard": shared / union if union else 1.0,
            }
        pairs.append(pair)
    every = set.intersection(*sets.values()) if sets else set()
    sizes = {t: tables[t].ordinary_size for t in names}
    unique: dict[str, list[str]] = {}
    for t in names:
        others = set().union(*(sets[o] for o in names if o != t))
        only = [s for s in strings[t] if s not in others]
        counts = (usage or {}).get(t)

        def used(s: str, ids: dict[str, int] = strings[t], counts: np.ndarray | None = counts) -> int:
            return int(counts[ids[s]]) if counts is not None and ids[s] < counts.size else 0

        only.sort(key=lambda s: (-used(s), -_char_length(s), s))
        unique[t] = only[:UNIQUE_EXAMPLES]
    held_out: dict[str, dict[str, dict[str, Any]]] = {}
    for r in results:
        if r.tokenizer not in tables:
            continue
        mo = r.morphology or {}
        held_out.setdefault(r.corpus, {})[r.tokenizer] = {
            "tokens": r.tokens,
            "bytes_per_token": r.bytes_per_token,
            "chars_per_token": r.chars_per_token,
            "fertility": r.fertility,
            "fertility_unit": r.fertility_unit,
            "continued": r.continued,
            "types_used": r.types,
            # %TR and %Pure: the morphology group's valid-word and pure shares, averaged over the
            # corpus's languages that have a lexicon (None without one or without -m morphology).
            "valid_word": mo.get("mean_valid_word"),
            "pure": mo.get("mean_pure"),
            "morphology_languages": mo.get("languages_valid_word", 0),
        }
    largest = max(sizes.values()) if sizes else 0
    equal = all(abs(largest - s) <= EQUAL_SIZE_TOLERANCE * largest for s in sizes.values())
    notes: dict[str, str] = {}
    if not equal:
        notes["sizes"] = (
            "the vocabularies differ in size by more than 1% ("
            + ", ".join(f"{t} {s:,}" for t, s in sizes.items())
            + "): a larger vocabulary shares more strings and compresses better by size alone"
        )
    if not any(row["valid_word"] is not None for rows in held_out.values() for row in rows.values()):
        notes["morphology"] = (
            "%TR/%Pure need the morphology metrics (-m morphology) and a lexicon for the corpus language"
        )
    return VocabularyComparison(
        tokenizers=names,
        sizes=sizes,
        compared={t: len(s) for t, s in strings.items()},
        equal_size=equal,
        shared_by_all=len(every),
        pairs=pairs,
        lengths={t: _lengths(list(strings[t])) for t in names},
        held_out=held_out,
        unique=unique,
        notes=notes,
    )
