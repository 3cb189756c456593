"""Unigram language-model tokenizers (Kudo 2018), trained the way SentencePiece's Unigram trainer
does (see ``crates/core/src/train/unigram.rs`` for the algorithm and its determinism).

The corpus is cut into words at spaces (a word carries its leading space as ``▁``, or its
trailing one with ``treat_whitespace_as_suffix``) and counted by the parallel counter; the Rust
trainer seeds, runs EM and prunes. The vocabulary is laid out as SentencePiece lays it out:
``<unk>``, ``<s>``, ``</s>``, the user-defined symbols, the 256 byte pieces ``<0x00>``..``<0xFF>``
(with ``byte_fallback``), then the learned pieces, best score first.

The result is a frozen :class:`~tokenforge.Tokenizer` built from the SentencePiece model the
pieces make (:mod:`tokenforge.formats.sentencepiece`), so it is exactly what loading the saved
``.model`` gives: ``save("tokenizer.json")`` writes the HF Unigram document (``Replace(" ", "▁")``
+ ``Prepend("▁")`` normalizer, so the Viterbi search runs over the whole text as SentencePiece's
does) and ``save("tokenizer.model")`` the ``.model``, both with the same ids. Normalization is the
identity (SentencePiece's ``identity`` rule, no whitespace collapsing); normalize the corpus
beforehand for NFKC.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .. import _core
from ..errors import InvalidArgumentError
from ..formats import sentencepiece
from ..formats.hf_json import parse_hf_json
from ..formats.sentencepiece import PieceType
from ..spec import PreTokenizerStep, SplitStep, TokenizerSpec
from ..tokenizer import Tokenizer
from ..validation import as_tokens
from .config import TrainConfig, check_positive, check_tokens
from .counts import Counts, check_unnormalized_counts
from .driver import Fitted, Run, freeze_tokenizer

__all__ = ["UnigramConfig", "fit", "sentencepiece_fitted", "special_pieces"]

#: Words with their leading space (SentencePiece's default) or their trailing one. A space that
#: starts no word is a word of its own ("▁"), as consecutive spaces are in SentencePiece.
WORDS_PREFIX = r"[ ]?[^ \r\n]+|[ ]|[\r\n]+"
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
        return {"words": (SplitStep(_WORDS_SUFFIX if self.treat_whitespace_as_suffix else WORDS_PREFIX),)}

    @property
    def excluded(self) -> tuple[str, ...]:
        return self.user_defined_symbols

    def check_counts(self, counts: Counts) -> None:
        check_unnormalized_counts(
            counts,
            "unigram",
            self.count_tables(),
            line_boundaries=self.line_boundaries,
            excluded=self.user_defined_symbols,
            excluded_option="user_defined_symbols",
            recount="count with algorithm='unigram' and the same treat_whitespace_as_suffix",
        )

    @classmethod
    def options_from_counts(cls, counts: Counts) -> dict[str, Any]:
        return {"line_boundaries": counts.line_boundaries, "user_defined_symbols": counts.excluded}

    def fit(self, counts: Counts, run: Run) -> Fitted:
        return fit(self, counts, run)


def special_pieces(
    unk_piece: str, bos_piece: str, eos_piece: str, user_defined: Sequence[str], byte_fallback: bool
) -> list[tuple[str, float, int]]:
    """The pieces before the learned ones, laid out as SentencePiece lays them out: ``<unk>``,
    ``<s>``, ``</s>``, the user-defined symbols, the 256 byte pieces (with ``byte_fallback``)."""
    pieces = [(unk_piece, 0.0, PieceType.UNKNOWN), (bos_piece, 0.0, PieceType.CONTROL)]
    pieces.append((eos_piece, 0.0, PieceType.CONTROL))
    pieces += [(s, 0.0, PieceType.USER_DEFINED) for s in user_defined]
    if byte_fallback:
        pieces += [(f"<0x{b:02X}>", 0.0, PieceType.BYTE) for b in range(256)]
    return pieces


def _f32(score: float) -> float:
    """The score as the ``.model`` stores it (float32), so tokenizer.json holds the same value and
    HF and SentencePiece compare the same numbers."""
    return float(struct.unpack("<f", struct.pack("<f", score))[0])


def sentencepiece_fitted(
    pieces: Sequence[tuple[str, float, int]],
    trainer: Mapping[str, Any],
    training: dict[str, Any],
    summary: str,
    name: str,
) -> Fitted:
    """A :class:`Fitted` whose tokenizer is the SentencePiece Unigram model of ``pieces`` (the
    ``trainer`` spec fields beside the defaults; identity normalization with the dummy ``▁``).
    The model is written and read back, so the tokenizer equals ``tf.load`` of its ``.model``."""
    unk_id = next(i for i, (_p, _s, kind) in enumerate(pieces) if kind == PieceType.UNKNOWN)
    control = [i for i, (_p, _s, kind) in enumerate(pieces) if kind == PieceType.CONTROL]
    spec = {
        "model_type": 1,
        "vocab_size": len(pieces),
        "unk_id": unk_id,
        "bos_id": control[0] if control else -1,
        "eos_id": control[1] if len(control) > 1 else -1,
        "unk_piece": pieces[unk_id][0],
        "bos_piece": pieces[control[0]][0] if control else "<s>",
        "eos_piece": pieces[control[1]][0] if len(control) > 1 else "</s>",
        **trainer,
    }
    normalizer = {
        "name": "identity",
        "add_dummy_prefix": True,
        "remove_extra_whitespaces": False,
        "escape_whitespaces": True,
    }
    draft = sentencepiece.SentencePieceModel(
        tuple((p, _f32(s), k) for p, s, k in pieces), spec, normalizer, None
    )
    model = sentencepiece.parse_model(sentencepiece.serialize_model(draft), source=name)

    def freeze(
        model: sentencepiece.SentencePieceModel, metadata: dict[str, Any], samples: Sequence[str]
    ) -> Tokenizer:
        spec: TokenizerSpec = parse_hf_json(sentencepiece.to_hf_doc(model), source=name, name=name)
        # The SentencePiece block (piece types, the .model tail) sits beside the training metadata.
        return freeze_tokenizer(spec, {**metadata, **(spec.metadata or {})}, samples)

    return Fitted(model, training, summary, freeze=freeze)


def fit(config: UnigramConfig, counts: Counts, run: Run) -> Fitted:
    run.progress.start("unigram", total=None, unit="rounds")
    rounds = 0

    def on_round(pieces: int, objective: float) -> None:
        nonlocal rounds
        rounds += 1
        run.progress.update(rounds, pieces=pieces, objective=round(objective, 4))

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
        on_round if run.progress.enabled else None,
    )
    run.progress.finish(stats["em_rounds"])
    if len(learned) > config.piece_budget:
        raise InvalidArgumentError(
            f"the corpus needs {stats['required_chars']} single characters to reach "
            f"character_coverage={config.character_coverage}, more than the {config.piece_budget} pieces "
            "vocab_size leaves; raise vocab_size or lower character_coverage"
        )
    c = config
    pieces = special_pieces(c.unk_piece, c.bos_piece, c.eos_piece, c.user_defined_symbols, c.byte_fallback)
    taken = {p for p, _s, _k in pieces}
    pieces += [(p, s, PieceType.NORMAL) for p, s in learned if p not in taken]
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
    trainer = {
        "character_coverage": config.character_coverage,
        "seed_sentencepiece_size": config.seed_sentencepiece_size,
        "shrinking_factor": config.shrinking_factor,
        "num_sub_iterations": config.num_sub_iterations,
        "max_sentencepiece_length": config.max_piece_length,
        "split_by_unicode_script": config.split_by_unicode_script,
        "split_by_number": config.split_by_number,
        "treat_whitespace_as_suffix": config.treat_whitespace_as_suffix,
        "split_digits": config.split_digits,
        "byte_fallback": config.byte_fallback,
    }
    summary = f"trained {len(pieces)} pieces ({training['learned_tokens']} learned); stop: {stop}"
    return sentencepiece_fitted(pieces, trainer, training, summary, run.name)
