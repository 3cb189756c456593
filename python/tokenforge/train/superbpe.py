"""SuperBPE (Liu et al. 2025): ``transition`` merges of BPE with a subword pre-tokenizer, then
training continues on whole lines cut only by the superword pre-tokenizer, with tokens of at most
4 words and none containing ``": "`` (the paper's released "mw4" tokenizers).

Both tables are counted in one pass over the corpus; stage 2 encodes every superword piece with
the stage-1 model and continues from there (the mechanism :func:`tokenforge.extend` uses too).

Fidelity to the authors' trainer (the ``tokenizers-superbpe`` fork of HF tokenizers 0.20.1; the
point-by-point comparison is in ``docs/superbpe.md``):

* Same: lines are separate sequences that keep their ``\n`` (superwords may end in a newline,
  never cross one), counted once per distinct piece; the stage-2 filters apply only to new
  merges, a token of more than 4 words (non-empty parts between spaces, the fork's split on
  ``Ġ``) or containing ``": "`` is rejected and the pair never returns; the inherited merges keep
  their order, and those whose pair never occurs in the superword pieces are dropped (the fork's
  replay skips them; their ids go to superwords, the metadata counts them); 64-bit counts.
* Different, kept on purpose: ``transition`` is the number of stage-1 merges, whereas the fork's
  recipe (``head -n t merges.txt``, whose first line is ``#version``) inherits t-1; stage 1 is
  trained to ``transition`` merges instead of to the full size and truncated (greedy BPE gives
  the same first merges); the 256 bytes are always tokens (the fork's alphabet is the bytes seen);
  ties between equal counts go to the smaller (left, right) bytes, the fork's to the smaller
  token ids; the default pre-tokenizers are the authors' current recommendation (Nov 2025), not
  the paper-era ``Digits`` + GPT-2 split (pass that regex to reproduce the paper);
  ``min_frequency`` defaults to 2 (HF's default 0); special tokens take ids after the learned
  ones, as the authors' post-processing does.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import InvalidArgumentError
from ..spec import PreTokenizerStep
from .bpe import BpeConfig, MergeStage, assemble, first_stage, run_merges
from .config import resolve_pretokenizer
from .counts import Counts
from .driver import Fitted, Run

__all__ = ["SUPERWORD_MAX_WORDS", "SuperBpeConfig", "fit"]

#: SuperBPE word limit (the paper's released "mw4" tokenizers).
SUPERWORD_MAX_WORDS = 4


@dataclass(frozen=True, kw_only=True)
class SuperBpeConfig(BpeConfig):
    """:class:`~.bpe.BpeConfig` plus the second stage: ``transition`` (the paper's *t*, the number
    of stage-1 tokens; default 3/4 of the learned tokens), ``superword_pretokenizer`` (default
    ``"superword"``), and the merge filters (at most ``max_words_per_token`` words, no ``": "``).
    ``pretokenizer`` defaults to ``"superbpe_stage1"``."""

    algorithm: ClassVar[str] = "superbpe"
    default_pretokenizer: ClassVar[str] = "superbpe_stage1"

    superword_pretokenizer: tuple[PreTokenizerStep, ...] = ()
    transition: int | None = None
    max_words_per_token: int = SUPERWORD_MAX_WORDS
    forbid_colon_space: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        steps = resolve_pretokenizer(self.superword_pretokenizer or "superword")
        object.__setattr__(self, "superword_pretokenizer", steps)
        if self.transition is None:
            object.__setattr__(self, "transition", max(1, self.merge_budget * 3 // 4))
        assert self.transition is not None
        if not isinstance(self.transition, int) or self.transition < 1:
            raise InvalidArgumentError("superbpe needs transition >= 1 (the number of stage-1 merges)")
        if self.transition >= self.merge_budget:
            raise InvalidArgumentError(
                f"transition ({self.transition}) must be below the number of learned tokens "
                f"({self.merge_budget} for vocab_size={self.vocab_size}); "
                "at or above it SuperBPE is plain BPE"
            )

    def count_tables(self) -> dict[str, tuple[PreTokenizerStep, ...]]:
        return {"subword": self.pretokenizer, "superword": self.superword_pretokenizer}

    def fit(self, counts: Counts, run: Run) -> Fitted:
        return fit(self, counts, run)

    @classmethod
    def options_from_counts(cls, counts: Counts) -> dict[str, Any]:
        return {
            **super().options_from_counts(counts),
            "superword_pretokenizer": counts.pretokenizers.get("superword", ()),
        }


def fit(config: SuperBpeConfig, counts: Counts, run: Run) -> Fitted:
    assert config.transition is not None
    counts.table("superword")  # a clear error before stage 1 runs when the table is missing
    stage1 = first_stage(config, counts, run, config.transition)
    vocab: dict[bytes, int] = {bytes([b]): b for b in range(256)}
    vocab.update(stage1.new_vocab)
    stage2 = run_merges(
        counts.table("superword"),
        base=(list(vocab.items()), [(left, right) for left, right, _i, _c in stage1.merges], False),
        next_id=256 + len(stage1.new_vocab),
        budget=config.merge_budget - len(stage1.new_vocab),
        min_frequency=config.min_frequency,
        max_token_length=config.max_token_length,
        max_token_chars=config.max_token_chars,
        max_words=config.max_words_per_token,
        forbid_colon_space=config.forbid_colon_space,
        drop_unseen_base_merges=True,
        threads=run.threads,
        progress=run.progress,
        phase="super",
        keep_counts=run.keep_counts,
    )
    stage1, stage2 = drop_unseen(stage1, stage2)
    return assemble(config, run, [stage1, stage2], ["subword", "superword"], config.superword_pretokenizer)


def drop_unseen(stage1: MergeStage, stage2: MergeStage) -> tuple[MergeStage, MergeStage]:
    """Removes the stage-1 merges that stage 2 dropped (their pair never occurs in the superword
    pieces, see the module docstring) and closes the gaps their tokens leave in the ids, which
    keeps the order of all other tokens."""
    dropped = set(stage2.dropped_base_merges)
    kept = [m for i, m in enumerate(stage1.merges) if i not in dropped]
    live = {token_id for _l, _r, token_id, _c in kept}
    gone = sorted(token_id for token_id in stage1.new_vocab.values() if token_id not in live)

    def renumber(token_id: int) -> int:
        return token_id - bisect.bisect_left(gone, token_id)

    def moved(
        merges: list[tuple[int, int, int, int]], vocab: dict[bytes, int], reason: str, **extra: Any
    ) -> MergeStage:
        return MergeStage(
            [(renumber(a), renumber(b), renumber(t), c) for a, b, t, c in merges],
            {token: renumber(t) for token, t in vocab.items()},
            reason,
            extra=extra,
        )

    inherited = {token: t for token, t in stage1.new_vocab.items() if t in live}
    return (
        moved(kept, inherited, stage1.reason, dropped_unseen=len(stage1.merges) - len(kept)),
        moved(stage2.merges, stage2.new_vocab, stage2.reason),
    )
