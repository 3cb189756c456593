"""Intrinsic tokenizer metrics: the definitions, one function each, and the per-part accumulator.

Conventions shared by every metric here (the "declare your units" rule of METHODS.md):

* Text is encoded with ``encode_ordinary_batch``: special tokens are never inserted and never
  counted (no BOS/EOS), and special-looking text is encoded as text.
* Bytes are UTF-8 bytes of the input; characters are Unicode code points (UTF-32 units) of the
  input.
* Words are whitespace-delimited chunks with punctuation and symbols (Unicode categories P* and
  S*) stripped from both ends; chunks that are only punctuation are not words. For scripts
  written without spaces (Han, kana, Thai, Lao, Khmer, Myanmar, Tibetan, ...) the unit is the
  character instead (combining marks belong to the character before them). Which unit a
  language used is reported next to its numbers.
* Tokens are matched to words by byte offsets (never by decoding tokens and comparing strings),
  so tokens that span several words (SuperBPE-style) are handled: such a token belongs to every
  word it overlaps. Tokens that do not spell the text byte for byte (SentencePiece ``▁``, WordPiece
  ``##``, normalisers, unknown pieces) are placed on the text by :func:`align_tokens`; where even
  that fails, words are found in the text the tokens spell.
"""

from __future__ import annotations

import itertools
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np

from ..errors import InvalidArgumentError

__all__ = [
    "PartStats",
    "bytes_per_token",
    "chars_per_token",
    "continued_words",
    "fertility",
    "is_unspaced",
    "renyi_efficiency",
    "renyi_entropy",
    "single_token_retention",
    "throughput",
    "tokens_per_unit",
    "unit_spans",
    "vocabulary_utilization",
]

# Average characters per whitespace chunk above which a text counts as written without spaces.
# On the shipped UDHR the spaced languages reach 15 (Greenlandic) and the unspaced ones start at
# 21 (Khmer); Chinese and Japanese are above 40.
UNSPACED_CHUNK_CHARS = 20.0

_OTHER, _SPACE, _EDGE, _MARK = 0, 1, 2, 3


@lru_cache(maxsize=1)
def _char_classes() -> np.ndarray:
    """Class of every code point: space (``str.isspace``), edge (punctuation and symbols, P*/S*),
    mark (M*) or other. Built once (a fraction of a second); words are then found with numpy
    over code point arrays instead of a Python loop or a regex with thousands of ranges."""
    table = np.zeros(0x110000, dtype=np.uint8)
    # Planes 0-3 and 14 hold every assigned punctuation, symbol, mark and space code point; the
    # rest is unassigned or private use, so the scan skips it.
    for cp in itertools.chain(range(0x40000), range(0xE0000, 0xE1000)):
        ch = chr(cp)
        cat = unicodedata.category(ch)[0]
        if ch.isspace():
            table[cp] = _SPACE
        elif cat in "PS":
            table[cp] = _EDGE
        elif cat == "M":
            table[cp] = _MARK
    return table


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def _unit_arrays(cps: np.ndarray, unspaced: bool) -> tuple[np.ndarray, np.ndarray]:
    """Start and end character indices of the units of a code point array."""
    if cps.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    cls = _char_classes()[cps]
    if unspaced:
        base = np.flatnonzero(cls == _OTHER)
        if base.size == 0:
            return base, base
        # A unit runs from its base character over the marks that follow it.
        not_mark = np.flatnonzero(cls != _MARK)
        nxt = np.searchsorted(not_mark, base, side="right")
        ends = np.where(nxt < not_mark.size, not_mark[np.minimum(nxt, not_mark.size - 1)], cps.size)
        return base.astype(np.int64), ends.astype(np.int64)
    core = np.flatnonzero((cls == _OTHER) | (cls == _MARK))
    if core.size == 0:
        return core, core
    spaces = np.concatenate(([0], np.cumsum(cls == _SPACE)))
    # Two consecutive core characters belong to one word unless a space lies between them.
    gap = spaces[core[1:]] - spaces[core[:-1] + 1] > 0
    starts = core[np.concatenate(([True], gap))]
    ends = core[np.concatenate((gap, [True]))] + 1
    return starts.astype(np.int64), ends.astype(np.int64)


def is_unspaced(texts: Sequence[str]) -> bool:
    """True when ``texts`` look like a script written without spaces between words: the mean
    word length (words as in :func:`unit_spans`) exceeds :data:`UNSPACED_CHUNK_CHARS`."""
    chars = words = 0
    for text in texts:
        starts, ends = _unit_arrays(_code_points(text), False)
        words += starts.size
        chars += int((ends - starts).sum())
    return words > 0 and chars / words > UNSPACED_CHUNK_CHARS


def unit_spans(text: str, unspaced: bool = False) -> list[tuple[int, int]]:
    """Character spans ``[start, end)`` of the counting units of ``text``: words (a whitespace
    chunk from its first to its last character that is not punctuation or a symbol), or for
    unspaced scripts characters (a non-punctuation character with its combining marks)."""
    starts, ends = _unit_arrays(_code_points(text), unspaced)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def byte_offsets(text: str) -> np.ndarray:
    """``offsets[i]`` = UTF-8 byte offset of character ``i`` (length ``len(text) + 1``).

    Lone surrogates (from ``surrogateescape`` decoding of invalid bytes) count as one byte.
    """
    cps = _code_points(text)
    widths = 1 + (cps >= 0x80).astype(np.int64) + (cps >= 0x800) + (cps >= 0x10000)
    widths[(cps >= 0xDC80) & (cps <= 0xDCFF)] = 1
    out = np.zeros(len(cps) + 1, dtype=np.int64)
    np.cumsum(widths, out=out[1:])
    return out


def tokens_per_unit(
    token_lengths: np.ndarray, unit_starts: np.ndarray, unit_ends: np.ndarray
) -> tuple[np.ndarray, int]:
    """For byte spans of units and the byte lengths of a text's tokens (in order), the number of
    tokens overlapping each unit, and the number of tokens that overlap at least one unit.

    A token overlaps a unit when their byte ranges intersect; a token reaching into two words
    counts for both (so ``sum(per_unit)`` can exceed the second value).
    """
    ends = np.cumsum(token_lengths)
    return tokens_per_unit_spans(ends - token_lengths, ends, unit_starts, unit_ends)


def tokens_per_unit_spans(
    starts: np.ndarray, ends: np.ndarray, unit_starts: np.ndarray, unit_ends: np.ndarray
) -> tuple[np.ndarray, int]:
    """:func:`tokens_per_unit` for tokens given as ``[start, end)`` spans, in order and not
    overlapping (gaps allowed; an empty span overlaps nothing)."""
    if len(unit_starts) == 0:
        return np.zeros(0, dtype=np.int64), 0
    first = np.searchsorted(ends, unit_starts, side="right")
    last = np.searchsorted(starts, unit_ends, side="left") - 1
    counts = np.maximum(last - first + 1, 0)
    cover = np.zeros(len(starts) + 1, dtype=np.int64)
    valid = counts > 0
    np.add.at(cover, first[valid], 1)
    np.add.at(cover, last[valid] + 1, -1)
    in_units = int(np.count_nonzero(np.cumsum(cover)[:-1] > 0))
    return counts, in_units


@lru_cache(maxsize=1 << 16)
def _fold(ch: str) -> str:
    """A character as :func:`align_tokens` compares it: compatibility-decomposed, without
    combining marks or whitespace, case-folded (what NFKC, lower-casing and accent stripping
    normalisers leave of it)."""
    decomposed = unicodedata.normalize("NFKD", ch)
    return "".join(c for c in decomposed if not unicodedata.combining(c) and not c.isspace()).casefold()


def align_tokens(text: str, surfaces: Sequence[str], unknown: Sequence[bool]) -> np.ndarray | None:
    """Character spans ``[start, end)`` in ``text`` of tokens whose surfaces do not spell it
    exactly, shape ``(n, 2)``; None when they cannot be placed.

    Text and surfaces are compared folded (:func:`_fold`, whitespace dropped), so normalisers
    that change case, accents, compatibility forms or spaces do not matter. An unknown token
    covers at least one character, up to where the next known token's text is found. A token with
    no visible text (a lone ``▁``) gets an empty span.
    """
    folded = [_fold(ch) for ch in text]
    skeleton = "".join(folded)
    owner = np.repeat(np.arange(len(text), dtype=np.int64), [len(f) for f in folded])
    parts = ["".join(_fold(ch) for ch in s) for s in surfaces]
    bounds = np.zeros((len(parts), 2), dtype=np.int64)
    pos = 0
    for k, part in enumerate(parts):
        if unknown[k]:
            ahead = next((parts[j] for j in range(k + 1, len(parts)) if parts[j] and not unknown[j]), "")
            end = skeleton.find(ahead, pos + 1) if ahead else len(skeleton)
            if end <= pos:
                return None
        elif skeleton.startswith(part, pos):
            end = pos + len(part)
        else:
            return None
        bounds[k] = pos, end
        pos = end
    if pos != len(skeleton):
        return None
    # Skeleton positions -> characters; an empty span sits where the next character starts.
    padded = np.append(owner, len(text))
    spans = np.empty_like(bounds)
    spans[:, 0] = padded[bounds[:, 0]]
    spans[:, 1] = np.where(
        bounds[:, 1] > bounds[:, 0], padded[np.maximum(bounds[:, 1] - 1, 0)] + 1, spans[:, 0]
    )
    return spans


# --- metric definitions -----------------------------------------------------------------------


def bytes_per_token(n_bytes: int, n_tokens: int) -> float | None:
    """UTF-8 bytes per token, B / |T| (higher = more compression).

    The unit of SuperBPE (Liu et al. 2025, "SuperBPE: Space Travel for Language Models"), which
    reports it on a fixed evaluation file. None when there are no tokens.
    """
    return n_bytes / n_tokens if n_tokens else None


def chars_per_token(n_chars: int, n_tokens: int) -> float | None:
    """Unicode code points per token, |C| / |T|; the inverse of KL3M's tokens per character
    (Bommarito et al. 2025). None when there are no tokens."""
    return n_chars / n_tokens if n_tokens else None


def fertility(tokens_in_units: int, n_units: int) -> float | None:
    """Fertility (Rust et al. 2021, "How Good is Your Tokenizer?"): |T_w| / |W|, the number of
    tokens that belong to words divided by the number of words (tokens covering only
    whitespace or punctuation between words are not counted). Per character for scripts
    written without spaces (see the module docstring). None without words."""
    return tokens_in_units / n_units if n_units else None


def continued_words(per_unit: np.ndarray) -> float | None:
    """Proportion of continued words (Rust et al. 2021): #{w : |tok(w)| ≥ 2} / |W|, with each
    word tokenized in context (as part of the running text). None without words."""
    return float(np.count_nonzero(per_unit >= 2)) / len(per_unit) if len(per_unit) else None


def single_token_retention(per_unit: np.ndarray) -> float | None:
    """Single-token retention rate (TokLens): the share of words kept whole as one token,
    1 − proportion of continued words."""
    pcw = continued_words(per_unit)
    return None if pcw is None else 1.0 - pcw


def vocabulary_utilization(counts: np.ndarray, vocab_size: int) -> float | None:
    """Vocabulary utilization |U| / |V|: the share of the (non-special) vocabulary that occurs
    when encoding the corpus. ``counts[i]`` is the frequency of id ``i``."""
    if vocab_size <= 0:
        return None
    return float(np.count_nonzero(counts)) / vocab_size


def renyi_entropy(counts: np.ndarray, alpha: float = 2.5) -> float | None:
    """Rényi entropy in bits of the unigram token distribution,
    H_α = 1/(1−α) · log₂ Σ_u p(u)^α, with p(u) the relative frequency of token type u; Shannon
    entropy −Σ p log₂ p when α = 1 (Zouhar et al. 2023, "Tokenization and the Noiseless Channel",
    ACL). None for an empty distribution."""
    if alpha < 0:
        raise InvalidArgumentError(f"Rényi alpha must be >= 0, got {alpha}")
    c = np.asarray(counts, dtype=np.float64)
    c = c[c > 0]
    if c.size == 0:
        return None
    p = c / c.sum()
    if alpha == 1.0:
        return float(-(p * np.log2(p)).sum())
    return float(np.log2(np.power(p, alpha).sum()) / (1.0 - alpha))


def renyi_efficiency(counts: np.ndarray, alpha: float = 2.5, vocab_size: int | None = None) -> float | None:
    """Rényi efficiency (Zouhar et al. 2023): E_α = H_α / log₂|V|.

    ``vocab_size`` is |V|, by default the number of observed types — the convention of the
    authors' ``tokenization-scorer`` package (its ``vocab=`` argument overrides it). tokenforge's
    reports pass the tokenizer's non-special vocabulary size, the paper's |V|; the paper
    recommends α = 2.5 (the package's default is 3.0). None when |V| < 2 or nothing was seen.
    """
    h = renyi_entropy(counts, alpha)
    size = int(np.count_nonzero(np.asarray(counts))) if vocab_size is None else vocab_size
    if h is None or size < 2:
        return None
    return h / math.log2(size)


def throughput(n_bytes: int, seconds: float) -> float | None:
    """Encoding throughput in MB/s (10^6 UTF-8 bytes per wall-clock second)."""
    return n_bytes / seconds / 1e6 if seconds > 0 else None


# --- accumulation -----------------------------------------------------------------------------


@dataclass
class PartStats:
    """Sums over the segments of one corpus part encoded by one tokenizer; metrics are ratios of
    these sums (corpus totals, not means of per-segment ratios)."""

    segments: int = 0
    failed: int = 0
    n_bytes: int = 0
    n_chars: int = 0
    n_tokens: int = 0
    n_units: int = 0
    tokens_in_units: int = 0
    continued_units: int = 0
    partial_tokens: int = 0
    unk_tokens: int = 0
    lossy_segments: int = 0
    unit: str = "word"

    def add(self, other: PartStats) -> None:
        for f in fields(self):
            if f.name != "unit":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def bytes_per_token(self) -> float | None:
        return bytes_per_token(self.n_bytes, self.n_tokens)

    @property
    def chars_per_token(self) -> float | None:
        return chars_per_token(self.n_chars, self.n_tokens)

    @property
    def fertility(self) -> float | None:
        return fertility(self.tokens_in_units, self.n_units)

    @property
    def continued(self) -> float | None:
        return self.continued_units / self.n_units if self.n_units else None

    @property
    def retention(self) -> float | None:
        return None if self.continued is None else 1.0 - self.continued

    @property
    def byte_fallback_rate(self) -> float | None:
        """Share of tokens that are raw bytes or parts of a character (SentencePiece ``<0xNN>``
        pieces; byte-level BPE tokens whose bytes are not whole UTF-8 characters)."""
        return self.partial_tokens / self.n_tokens if self.n_tokens else None

    @property
    def unk_rate(self) -> float | None:
        """Share of tokens that are the unknown token (0 for byte-level BPE, which has none)."""
        return self.unk_tokens / self.n_tokens if self.n_tokens else None


@dataclass(frozen=True)
class SegmentUnits:
    """Byte spans of the counting units of one segment, computed once and shared by tokenizers."""

    text_bytes: bytes
    starts: np.ndarray
    ends: np.ndarray


def segment_units(text: str, unspaced: bool) -> SegmentUnits:
    starts, ends = _unit_arrays(_code_points(text), unspaced)
    offsets = byte_offsets(text)
    return SegmentUnits(text.encode("utf-8", "surrogatepass"), offsets[starts], offsets[ends])


def _token_byte_spans(
    text: str, ids: Sequence[int], surfaces: Sequence[bytes | None], partial: np.ndarray, unk_id: int | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """UTF-8 byte spans (starts, ends) in ``text`` of tokens placed by :func:`align_tokens`.
    A run of byte-fallback tokens is placed as the characters it spells, then split between
    its tokens byte by byte (they are those bytes)."""
    groups: list[list[int]] = []  # token positions; a run of partial tokens is one group
    for k, i in enumerate(ids):
        if groups and partial[i] and partial[ids[groups[-1][-1]]]:
            groups[-1].append(k)
        else:
            groups.append([k])
    pieces = [b"".join(surfaces[ids[k]] or b"" for k in g).decode("utf-8", "replace") for g in groups]
    spans = align_tokens(text, pieces, [len(g) == 1 and ids[g[0]] == unk_id for g in groups])
    if spans is None:
        return None
    offsets = byte_offsets(text)
    starts = np.empty(len(ids), dtype=np.int64)
    ends = np.empty(len(ids), dtype=np.int64)
    for g, (a, b) in zip(groups, offsets[spans].tolist(), strict=True):
        if len(g) == 1:
            starts[g[0]], ends[g[0]] = a, b
            continue
        cuts = np.minimum(a + np.cumsum([len(surfaces[ids[k]] or b"") for k in g]), b)
        starts[g] = np.concatenate(([a], cuts[:-1]))
        ends[g] = cuts
    return starts, ends


def measure_segment(
    text: str,
    ids: Sequence[int],
    units: SegmentUnits | None,
    token_bytes: Sequence[bytes | None],
    lengths: np.ndarray,
    partial: np.ndarray,
    unk_id: int | None,
    unspaced: bool,
) -> PartStats:
    """The sums of one encoded segment. ``token_bytes`` are the tokens' surfaces (the text each
    stands for, :attr:`VocabTable.surfaces`); ``units`` are the precomputed units of ``text``
    (None to skip word metrics). When the tokens do not spell the text byte for byte, the words
    are found again in the text they spell; that segment counts as lossy (normalisation, unknown
    tokens) unless the only difference is SentencePiece's dummy-prefix space."""
    arr = np.asarray(ids, dtype=np.int64)
    st = PartStats(segments=1, unit="char" if unspaced else "word")
    st.n_bytes = len(text.encode("utf-8", "surrogatepass"))
    st.n_chars = len(text)
    st.n_tokens = len(arr)
    if len(arr):
        st.partial_tokens = int(np.count_nonzero(partial[arr]))
        if unk_id is not None:
            st.unk_tokens = int(np.count_nonzero(arr == unk_id))
    if units is None:
        return st
    tok_lengths = lengths[arr] if len(arr) else np.zeros(0, dtype=np.int64)
    spelled = b"".join(token_bytes[i] or b"" for i in ids)
    if spelled == units.text_bytes:
        per_unit, in_units = tokens_per_unit(tok_lengths, units.starts, units.ends)
    else:
        st.lossy_segments = int(spelled != b" " + units.text_bytes)
        placed = _token_byte_spans(text, ids, token_bytes, partial, unk_id)
        if placed is not None:
            per_unit, in_units = tokens_per_unit_spans(*placed, units.starts, units.ends)
        else:
            units = segment_units(spelled.decode("utf-8", "surrogateescape"), unspaced)
            per_unit, in_units = tokens_per_unit(tok_lengths, units.starts, units.ends)
    st.n_units = len(per_unit)
    st.tokens_in_units = in_units
    st.continued_units = int(np.count_nonzero(per_unit >= 2))
    return st
