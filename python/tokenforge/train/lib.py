"""LiB, "Less-is-Better" lexicon learning (Yang, Frank & van den Bosch, CogALex 2020): a vocabulary
that minimises both the chunk tokens needed to read the corpus and the chunk types stored.

The corpus is counted as lines (or as words with ``within_words``), whitespace escaped as
SentencePiece escapes it (``▁``, a dummy ``▁`` in front); the Rust trainer
(``crates/core/src/train/less_is_better.rs``) reads the line occurrences in a seeded shuffled
order, article by article, with the memorize / evaluate / forget loop, and keeps the best-ranked
chunks plus every character needed for ``character_coverage``.

Segmentation. LiB's own reader takes the longest chunk unless its shorter alternative's greedy
path reaches a common end with fewer chunks (or as many with a smaller summed rank). That
two-path rule has no equivalent in HF ``tokenizers`` or SentencePiece, and a longest-match model
(HF WordPiece) turns a whole word with an unseen character into ``[UNK]`` and has no byte
fallback. So the vocabulary is saved as a Unigram model whose scores are the log-frequencies of
the chunks in LiB's own segmentation of the training corpus: the Viterbi search then prefers, as
LiB's rule does, fewer and more useful (frequent, low-rank) chunks, over the whole text rather than
between two greedy paths, with byte fallback for unseen characters; and the result is a
``tokenizer.json`` and a SentencePiece ``.model`` with identical ids (see :mod:`.unigram`).
The ids follow the lexicon's rank (after the special and byte pieces).

The defaults are the paper's settings (the authors' ``ray306/LiB`` code): α = ``in_rate`` 0.25,
ω = ``out_rate`` 0.0001, τ₀ = ``life`` 10 articles, Δ = ``update_rate`` 0.2, chunks of at most 12
characters, articles of 500 sentences. The lexicon's size is emergent; ``vocab_size`` caps it by
rank (fewer pieces when the lexicon ends up smaller: ``stop`` in the metadata says which).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from .. import _core
from ..errors import InvalidArgumentError
from ..formats.sentencepiece import PieceType
from ..spec import PreTokenizerStep, SplitStep
from .config import TrainConfig, check_positive, check_tokens
from .counts import Counts, check_unnormalized_counts
from .driver import Fitted, Run
from .unigram import WORDS_PREFIX, sentencepiece_fitted, special_pieces

__all__ = ["LibConfig", "fit"]

#: Lines as counted pieces (line breaks are pieces of their own and are skipped by the trainer).
_LINES = r"[^\r\n]+|[\r\n]+"

#: Zero counts get this many tokens when chunk scores are computed (additive smoothing).
_SMOOTHING = 0.5


@dataclass(frozen=True, kw_only=True)
class LibConfig(TrainConfig):
    """LiB's options; the defaults are the paper's settings.

    ``vocab_size`` counts every id (``<unk>``, ``<s>``, ``</s>``, the 256 byte pieces with
    ``byte_fallback``, the chunks). ``in_rate`` (α) is the chance that two adjacent chunks are
    memorized as one, ``life`` (τ₀) the probation in articles of a new chunk or of one at the
    lexicon's tail, ``out_rate`` (ω) the share of the tail put on probation after each article,
    ``update_rate`` (Δ) how far (share of its rank) a reward or punishment moves a chunk.
    ``max_chunk_length`` is in characters (None: unlimited). ``article_sentences`` lines make
    one article; the corpus is read ``passes`` times, each in a new order drawn from ``seed``.
    (Rereading a small corpus does not help: measured on the 0.5 MB Brown sample at 2k pieces,
    one pass gives 3.02 characters per LiB token, 34 passes 2.12, because a sentence read again
    within a probation life releases the chance chunks it made.)
    ``within_words`` keeps chunks inside words (a space starts a word) instead of letting them
    span words as in the paper.
    ``inspect_context`` follows the authors' later revision of LiB: a chunk records the chunks
    around it when memorized and leaves probation only when met in another context; met again
    with one side repeating, the chunk joined to that side is memorized instead (a chunk seen
    only as part of something longer never stands alone). Off by default, as in the paper; it
    changes the vocabulary (Jaccard 0.23 against the default's on the Brown paragraphs at 4k) and
    costs training time, +22% on the 4.8 MB UDHR (docs/training.md has the measurements).
    """

    algorithm: ClassVar[str] = "lib"

    in_rate: float = 0.25
    out_rate: float = 0.0001
    life: int = 10
    update_rate: float = 0.2
    max_chunk_length: int | None = 12
    article_sentences: int = 500
    passes: int = 1
    seed: int = 0
    within_words: bool = False
    inspect_context: bool = False
    character_coverage: float = 0.9995
    byte_fallback: bool = True
    unk_piece: str = "<unk>"
    bos_piece: str = "<s>"
    eos_piece: str = "</s>"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "life", "article_sentences", "passes")
        check_positive(self, "max_chunk_length", optional=True)
        for name in ("in_rate", "out_rate", "update_rate"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise InvalidArgumentError(f"{name} must be a number between 0 and 1, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 1 << 64:
            raise InvalidArgumentError(f"seed must be an integer in [0, 2**64), got {self.seed!r}")
        if not 0.0 < self.character_coverage <= 1.0:
            raise InvalidArgumentError(
                f"character_coverage must be in (0, 1], got {self.character_coverage!r}"
            )
        check_tokens((self.unk_piece, self.bos_piece, self.eos_piece))
        if self.piece_budget < 1:
            raise InvalidArgumentError(
                f"vocab_size={self.vocab_size} is too small: the special pieces"
                f"{' and 256 byte pieces' if self.byte_fallback else ''} already take "
                f"{self.vocab_size - self.piece_budget} ids"
            )

    @property
    def piece_budget(self) -> int:
        """Number of chunks to keep."""
        return self.vocab_size - 3 - (256 if self.byte_fallback else 0)

    @property
    def table(self) -> str:
        return "words" if self.within_words else "lines"

    def count_tables(self) -> dict[str, tuple[PreTokenizerStep, ...]]:
        return {self.table: (SplitStep(WORDS_PREFIX if self.within_words else _LINES),)}

    def check_counts(self, counts: Counts) -> None:
        check_unnormalized_counts(
            counts,
            "lib",
            self.count_tables(),
            line_boundaries=self.line_boundaries,
            excluded=(),
            excluded_option="symbols (lib cuts out none)",
            recount="count with algorithm='lib' (and the same within_words)",
        )

    @classmethod
    def options_from_counts(cls, counts: Counts) -> dict[str, Any]:
        return {"line_boundaries": counts.line_boundaries}

    def fit(self, counts: Counts, run: Run) -> Fitted:
        return fit(self, counts, run)


def fit(config: LibConfig, counts: Counts, run: Run) -> Fitted:
    started = False

    def on_article(done: int, total: int, lexicon: int) -> None:
        nonlocal started
        if not started:  # the article count is known once the trainer has read the table
            run.progress.start("lib", total=total, unit="articles")
            started = True
        run.progress.update(done, lexicon=lexicon)

    chunks, stats = _core.train_lib(
        counts.table(config.table),
        config.piece_budget,
        float(config.in_rate),
        float(config.out_rate),
        config.life,
        float(config.update_rate),
        config.max_chunk_length or 0,
        config.article_sentences,
        config.passes,
        config.character_coverage,
        config.within_words,
        config.seed,
        run.threads,
        run.keep_counts,
        on_article if run.progress.enabled else None,
        inspect_context=config.inspect_context,
    )
    if started:
        run.progress.finish(stats["articles"])
    c = config
    pieces = special_pieces(c.unk_piece, c.bos_piece, c.eos_piece, (), c.byte_fallback)
    taken = {p for p, _s, _k in pieces}
    kept = [(chunk, n) for chunk, n in chunks if chunk not in taken]
    total = sum(n for _chunk, n in kept) + _SMOOTHING * len(kept)
    pieces += [(chunk, math.log((n + _SMOOTHING) / total), PieceType.NORMAL) for chunk, n in kept]
    learned = len(kept)
    stop = "vocab_size" if len(chunks) == c.piece_budget else "lexicon exhausted (every chunk kept)"
    training = {
        "learned_tokens": learned,
        "stop": stop,
        "lexicon_size": stats["lexicon_size"],
        "dropped_on_probation": stats["on_probation"],
        "articles": stats["articles"],
        "passes": stats["passes"],
        "sentences": stats["sentences"],
        "required_chars": stats["required_chars"],
        "seen_chars": stats["seen_chars"],
        # LiB's own measure on the training corpus: characters per token under its segmentation.
        "chars_per_token": round(stats["chars"] / stats["tokens"], 4) if stats["tokens"] else None,
        "scores": f"log of (LiB segmentation count + {_SMOOTHING}), normalized",
    }
    trainer: dict[str, Any] = {
        "character_coverage": c.character_coverage,
        "split_by_whitespace": c.within_words,
        "byte_fallback": c.byte_fallback,
    }
    if c.max_chunk_length is not None:
        trainer["max_sentencepiece_length"] = c.max_chunk_length
    summary = (
        f"trained {len(pieces)} pieces ({learned} LiB chunks of a {stats['lexicon_size']}-chunk "
        f"lexicon after {stats['articles']} articles); stop: {stop}"
    )
    return sentencepiece_fitted(pieces, trainer, training, summary, run.name)
