"""Unigram language-model tokenizers (Kudo 2018), trained the way SentencePiece's Unigram trainer
does (see ``crates/core/src/train/unigram.rs`` for the algorithm and its determinism).

The corpus is cut into words at spaces (a word carries its leading space as ``▁``, or its
trailing one with ``treat_whitespace_as_suffix``) and counted by the parallel counter; the Rust
trainer seeds, runs EM and prunes. The vocabulary is laid out as SentencePiece lays it out:
``<unk>``, ``<s>``, ``</s>``, the user-defined symbols, the 256 byte pieces ``<0x00>``..``<0xFF>``
(with ``byte_fallback``), then the learned pieces, best score first.

The result is a :class:`TrainedUnigram` that writes an HF ``tokenizer.json`` (Unigram model,
``Prepend("▁")`` + ``Replace(" ", "▁")`` normalizer, so the Viterbi search runs over the whole
text exactly as SentencePiece's does) and a SentencePiece ``.model`` with the same ids.
Normalization is the identity (SentencePiece's ``identity`` rule, no whitespace collapsing), so
both files encode the same text the same way; normalize the corpus beforehand for NFKC.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .. import _core
from ..errors import InvalidArgumentError
from ..spec import PreTokenizerStep, SplitStep
from ..validation import as_tokens
from .config import TrainConfig, check_positive, check_tokens
from .counts import Counts
from .driver import Fitted, Run

__all__ = ["TrainedUnigram", "UnigramConfig", "fit"]

WHITESPACE_MARK = "\u2581"
#: Words with their leading space (SentencePiece's default) or their trailing one. A space that
#: starts no word is a word of its own ("▁"), as consecutive spaces are in SentencePiece.
_WORDS_PREFIX = r"[ ]?[^ \r\n]+|[ ]|[\r\n]+"
_WORDS_SUFFIX = r"[^ \r\n]+[ ]?|[ ]|[\r\n]+"


@dataclass(frozen=True, kw_only=True)
class UnigramConfig(TrainConfig):
    """SentencePiece's Unigram trainer options, with SentencePiece's defaults except
    ``byte_fallback`` (on: unknown characters become byte pieces instead of ``<unk>``).

    ``vocab_size`` counts every id: ``<unk>``, ``<s>``, ``</s>``, the user-defined symbols, the
    256 byte pieces (with ``byte_fallback``) and the learned pieces. ``character_coverage`` is the
    share of character occurrences the single-character pieces must cover (0.9995; use 1.0 for
    small alphabets, 0.9995 for CJK). ``user_defined_symbols`` are always one piece and are cut
    out of the text before counting. ``max_piece_length`` is in characters. ``split_digits``
    makes every digit a piece of its own; ``split_by_number`` keeps digits out of pieces with
    letters; ``split_by_unicode_script`` keeps scripts apart. ``seed_sentencepiece_size``,
    ``shrinking_factor`` and ``num_sub_iterations`` drive the EM/pruning loop.
    """

    algorithm: ClassVar[str] = "unigram"

    max_piece_length: int = 16
    character_coverage: float = 0.9995
    byte_fallback: bool = True
    split_digits: bool = False
    split_by_number: bool = True
    split_by_unicode_script: bool = True
    treat_whitespace_as_suffix: bool = False
    user_defined_symbols: tuple[str, ...] = ()
    unk_piece: str = "<unk>"
    bos_piece: str = "<s>"
    eos_piece: str = "</s>"
    seed_sentencepiece_size: int = 1_000_000
    shrinking_factor: float = 0.75
    num_sub_iterations: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        # a bare string is refused, not split into one symbol per character
        object.__setattr__(
            self, "user_defined_symbols", as_tokens(self.user_defined_symbols, "user_defined_symbols")
        )
        check_positive(self, "max_piece_length", "seed_sentencepiece_size", "num_sub_iterations")
        if not 0.0 < self.character_coverage <= 1.0:
            raise InvalidArgumentError(
                f"character_coverage must be in (0, 1], got {self.character_coverage!r}"
            )
        if not 0.0 < self.shrinking_factor < 1.0:
            raise InvalidArgumentError(f"shrinking_factor must be in (0, 1), got {self.shrinking_factor!r}")
        check_tokens((self.unk_piece, self.bos_piece, self.eos_piece), self.user_defined_symbols)
        if self.piece_budget < 1:
            raise InvalidArgumentError(
                f"vocab_size={self.vocab_size} is too small: the special pieces, "
                f"{len(self.user_defined_symbols)} user-defined symbols"
                f"{' and 256 byte pieces' if self.byte_fallback else ''} already take "
                f"{self.vocab_size - self.piece_budget} ids"
            )

    @property
    def meta_pieces(self) -> tuple[str, ...]:
        return (self.unk_piece, self.bos_piece, self.eos_piece, *self.user_defined_symbols)

    @property
    def piece_budget(self) -> int:
        """Number of pieces to learn."""
        return self.vocab_size - len(self.meta_pieces) - (256 if self.byte_fallback else 0)

    def count_tables(self) -> dict[str, tuple[PreTokenizerStep, ...]]:
        return {"words": (SplitStep(_WORDS_SUFFIX if self.treat_whitespace_as_suffix else _WORDS_PREFIX),)}

    @property
    def excluded(self) -> tuple[str, ...]:
        return self.user_defined_symbols

    def check_counts(self, counts: Counts) -> None:
        for name, steps in self.count_tables().items():
            counts.table(name)
            if counts.pretokenizers[name] != steps:
                raise InvalidArgumentError(
                    "these counts were made for the other whitespace side (treat_whitespace_as_suffix)"
                )
        if counts.normalizers:
            raise InvalidArgumentError(
                f"unigram trains on unnormalized counts; these have {counts.normalizers}"
            )
        if sorted(counts.excluded) != sorted(self.user_defined_symbols):
            raise InvalidArgumentError(
                "the counts were made with other user-defined symbols cut out "
                f"({list(counts.excluded)[:5]}); count again with the same user_defined_symbols"
            )
        if counts.line_boundaries != self.line_boundaries:
            raise InvalidArgumentError(
                f"line_boundaries={self.line_boundaries} differs from the counts' ({counts.line_boundaries})"
            )

    @classmethod
    def options_from_counts(cls, counts: Counts) -> dict[str, Any]:
        return {"line_boundaries": counts.line_boundaries, "user_defined_symbols": counts.excluded}

    def fit(self, counts: Counts, run: Run) -> Fitted:
        return fit(self, counts, run)


# Piece kinds, with SentencePiece's ModelProto.SentencePiece.Type numbers.
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, BYTE = 1, 2, 3, 4, 6


@dataclass(frozen=True)
class TrainedUnigram:
    """A trained Unigram vocabulary: ``pieces`` as ``(piece, score, kind)`` in id order (kinds are
    SentencePiece's piece types). Immutable; write it with :meth:`save` (HF ``tokenizer.json``)
    and :meth:`save_sentencepiece` (``.model``)."""

    name: str
    pieces: tuple[tuple[str, float, int], ...]
    config: UnigramConfig
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def n_vocab(self) -> int:
        return len(self.pieces)

    @property
    def vocab(self) -> dict[str, int]:
        return {piece: i for i, (piece, _score, _kind) in enumerate(self.pieces)}

    def to_hf_json(self) -> dict[str, Any]:
        """The HF ``tokenizer.json`` document (metadata under ``model.tokenforge``).

        HF and SentencePiece give the same ids for every text except right after a user-defined
        symbol: HF normalizes the text between added tokens piece by piece, so it prefixes ``▁``
        to the text that follows the symbol, where SentencePiece does not. (Marking the symbols
        ``normalized`` instead loses the ``▁`` before them; a Metaspace pre-tokenizer instead
        drops the ``▁`` of a leading space, which is far more common.)"""
        if self.config.treat_whitespace_as_suffix:
            raise InvalidArgumentError(
                "tokenizer.json cannot express treat_whitespace_as_suffix (HF has no appending "
                "normalizer); save the SentencePiece .model instead"
            )
        added = [
            {
                "id": i,
                "content": piece,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": kind != USER_DEFINED,
            }
            for i, (piece, _score, kind) in enumerate(self.pieces)
            if kind in (UNKNOWN, CONTROL, USER_DEFINED)
        ]
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": {
                "type": "Sequence",
                "normalizers": [
                    {"type": "Prepend", "prepend": WHITESPACE_MARK},
                    {"type": "Replace", "pattern": {"String": " "}, "content": WHITESPACE_MARK},
                ],
            },
            "pre_tokenizer": None,
            "post_processor": None,
            "decoder": {
                "type": "Sequence",
                "decoders": [
                    {"type": "Replace", "pattern": {"String": WHITESPACE_MARK}, "content": " "},
                    {"type": "ByteFallback"},
                    {"type": "Fuse"},
                    {"type": "Strip", "content": " ", "start": 1, "stop": 0},
                ],
            },
            "model": {
                "type": "Unigram",
                "unk_id": 0,
                "vocab": [[piece, score] for piece, score, _kind in self.pieces],
                "byte_fallback": self.config.byte_fallback,
                "tokenforge": self.metadata,
            },
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes ``tokenizer.json`` (a directory gets ``tokenizer.json`` inside) atomically."""
        target = Path(path)
        if target.is_dir():
            target = target / "tokenizer.json"
        text = json.dumps(self.to_hf_json(), ensure_ascii=False, indent=1) + "\n"
        return _write_atomic(target, text.encode("utf-8"))

    def save_sentencepiece(self, path: str | os.PathLike[str]) -> Path:
        """Writes a SentencePiece ``.model`` (ModelProto) with the same pieces and ids."""
        return _write_atomic(Path(path), self.sentencepiece_model())

    def sentencepiece_model(self) -> bytes:
        """The SentencePiece ``ModelProto`` bytes."""
        c = self.config
        out = bytearray()
        for piece, score, kind in self.pieces:
            body = _string(1, piece) + _key(2, 5) + struct.pack("<f", score)
            if kind != NORMAL:
                body += _varint_field(3, kind)
            out += _message(1, body)
        trainer = (
            _varint_field(3, 1)  # model_type UNIGRAM
            + _varint_field(4, len(self.pieces))
            + _key(10, 5)
            + struct.pack("<f", c.character_coverage)
            + _varint_field(14, c.seed_sentencepiece_size)
            + _key(15, 5)
            + struct.pack("<f", c.shrinking_factor)
            + _varint_field(17, c.num_sub_iterations)
            + _varint_field(20, c.max_piece_length)
            + _varint_field(21, c.split_by_unicode_script)
            + _varint_field(23, c.split_by_number)
            + _varint_field(24, c.treat_whitespace_as_suffix)
            + _varint_field(25, c.split_digits)
            + b"".join(_string(31, s) for s in c.user_defined_symbols)
            + _varint_field(35, c.byte_fallback)
            + _varint_field(40, 0)
            + _varint_field(41, 1)
            + _varint_field(42, 2)
            + _varint_field(43, -1)
            + _string(45, c.unk_piece)
            + _string(46, c.bos_piece)
            + _string(47, c.eos_piece)
        )
        out += _message(2, trainer)
        normalizer = (
            _string(1, "identity")
            + _varint_field(3, True)  # add_dummy_prefix
            + _varint_field(4, False)  # remove_extra_whitespaces
            + _varint_field(5, True)  # escape_whitespaces
        )
        out += _message(3, normalizer)
        return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint((number << 3) | wire)


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # protobuf int32: negative numbers take ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _varint_field(number: int, value: int | bool) -> bytes:
    return _key(number, 0) + _varint(int(value))


def _string(number: int, text: str) -> bytes:
    data = text.encode("utf-8")
    return _key(number, 2) + _varint(len(data)) + data


def _message(number: int, body: bytes) -> bytes:
    return _key(number, 2) + _varint(len(body)) + body


def _write_atomic(target: Path, data: bytes) -> Path:
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def fit(config: UnigramConfig, counts: Counts, run: Run) -> Fitted:
    run.progress.start("unigram", total=None, unit="rounds")
    learned, stats = _core.train_unigram(
        counts.table("words"),
        config.piece_budget,
        config.max_piece_length,
        config.character_coverage,
        config.split_digits,
        config.split_by_number,
        config.split_by_unicode_script,
        config.treat_whitespace_as_suffix,
        config.seed_sentencepiece_size,
        config.shrinking_factor,
        config.num_sub_iterations,
        run.threads,
        run.keep_counts,
    )
    run.progress.finish(stats["em_rounds"])
    if len(learned) > config.piece_budget:
        raise InvalidArgumentError(
            f"the corpus needs {stats['required_chars']} single characters to reach "
            f"character_coverage={config.character_coverage}, more than the {config.piece_budget} pieces "
            "vocab_size leaves; raise vocab_size or lower character_coverage"
        )
    pieces: list[tuple[str, float, int]] = [
        (config.unk_piece, 0.0, UNKNOWN),
        (config.bos_piece, 0.0, CONTROL),
        (config.eos_piece, 0.0, CONTROL),
    ]
    pieces += [(s, 0.0, USER_DEFINED) for s in config.user_defined_symbols]
    if config.byte_fallback:
        pieces += [(f"<0x{b:02X}>", 0.0, BYTE) for b in range(256)]
    taken = {p for p, _s, _k in pieces}
    pieces += [(p, s, NORMAL) for p, s in learned if p not in taken]
    stop = "vocab_size" if len(learned) == config.piece_budget else "corpus exhausted (every piece kept)"
    training = {
        "learned_tokens": len(pieces) - len(config.meta_pieces) - (256 if config.byte_fallback else 0),
        "stop": stop,
        "words": stats["words"],
        "seed_substrings": stats["seeds"],
        "required_chars": stats["required_chars"],
        "seen_chars": stats["seen_chars"],
        "em_rounds": stats["em_rounds"],
        "tie_break": "score desc, then piece code points asc",
    }

    def freeze(
        spec: tuple[tuple[str, float, int], ...], metadata: dict[str, Any], _samples: Any
    ) -> TrainedUnigram:
        return TrainedUnigram(run.name, spec, config, metadata)

    summary = f"trained {len(pieces)} pieces ({training['learned_tokens']} learned); stop: {stop}"
    return Fitted(tuple(pieces), training, summary, freeze=freeze)
