"""The hybrid morphological tokenizer of "Tokens with Meaning" (Bayram et al. 2025, arXiv
2508.14292): its config and trainer. The result is a :class:`~tokenforge.hybrid.HybridTokenizer`
(the segmentation rules are in ``crates/core/src/model/hybrid.rs``).

Training, on the counts of the corpus's pieces (one parallel pass, the shared counter):

1. Segment every distinct piece with the whole root dictionary and count how often each root
   is used (weighted by the piece's count).
2. Keep the roots the corpus uses, most used first, at most ``max_roots`` and at most what the
   vocabulary leaves after the markers, the affixes, the fallback's 256 bytes and the special
   tokens. Roots the corpus never uses get no id.
3. Segment again with the kept roots; what no root or affix covers (the residue: unknown words,
   unparsed word ends, digits, punctuation, whitespace other than single spaces and newlines)
   is counted with each piece's count.
4. Train byte-level BPE on the residue counts (the same trainer as ``algorithm="bpe"``) with the
   remaining ids.

The defaults are the paper's Turkish setup: roots from the Zemberek lexicon and
:data:`~tokenforge.data.turkish.TURKISH_AFFIXES` (``roots="turkish"``, ``affixes="turkish"``,
fetched by ``make turkish-data``), at most 20,000 roots as in the paper's 32,768-id release.
Other languages pass their own ``roots`` (forms, or ``(form, alternate, trigger)``) and affix
templates.

Where this differs from the authors' release (``malibayram/turkish-tokenizer``): segmentation
looks for a root whose remainder is a complete affix chain before falling back to the longest
root (theirs is greedy longest-match with a fixed root > suffix > BPE priority at every
position); the fallback is merge-based BPE on the residue instead of a longest-match table;
decoding is exact by construction; all-caps and mixed-case words go to the fallback with their
case instead of a marker per capital letter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from .. import _core
from ..errors import CorpusError, InvalidArgumentError
from ..hybrid import MARKERS, PIECE_PATTERN, HybridSpec, HybridTokenizer
from ..spec import PreTokenizerStep, SplitStep
from ..validation import as_tokens
from .bpe import byte_stage
from .config import TrainConfig, check_positive, check_tokens
from .counts import Counts, check_unnormalized_counts
from .driver import Fitted, Run
from .selftest import FIXED_SAMPLES

__all__ = ["HybridConfig", "fit", "freeze"]

RootArg = tuple[tuple[str, str | None, str | None], ...]


@dataclass(frozen=True, kw_only=True)
class HybridConfig(TrainConfig):
    """Hybrid morphological tokenizer.

    ``vocab_size`` counts every id: 3 markers, the kept roots, the affixes, the fallback BPE
    (256 bytes + merges) and ``special_tokens`` (last). ``roots``: ``"turkish"`` (the Zemberek
    lexicon) or a sequence of lower-case forms or ``(form, alternate, trigger)`` triples
    (trigger ``"vowel"``: the alternate stands before a vowel-initial affix; ``"progressive"``:
    before ``(I)yor``). ``affixes``: ``"turkish"`` or a sequence of templates (``lAr``, ``DA``,
    ``(y)I``; notation in :mod:`tokenforge.data.turkish`). ``max_roots`` caps the root ids
    (the paper: 20,000). ``min_frequency`` and ``max_token_length`` (bytes) apply to the
    fallback BPE.
    """

    algorithm: ClassVar[str] = "hybrid"

    roots: str | RootArg = "turkish"
    affixes: str | tuple[str, ...] = "turkish"
    max_roots: int = 20_000
    special_tokens: tuple[str, ...] = ()
    min_frequency: int = 2
    max_token_length: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        # A bare string is refused, not split into characters.
        object.__setattr__(self, "special_tokens", as_tokens(self.special_tokens, "special_tokens"))
        check_tokens(self.special_tokens)
        check_positive(self, "max_roots", "min_frequency")
        check_positive(self, "max_token_length", optional=True)
        if isinstance(self.roots, str):
            if self.roots != "turkish":
                raise InvalidArgumentError(
                    f"roots must be 'turkish' or a sequence of roots, got {self.roots!r}"
                )
        else:
            object.__setattr__(self, "roots", _root_triples(self.roots))
        if isinstance(self.affixes, str):
            if self.affixes != "turkish":
                raise InvalidArgumentError(
                    f"affixes must be 'turkish' or a sequence of templates, got {self.affixes!r}"
                )
        else:
            affixes = tuple(self.affixes)
            if not affixes or not all(isinstance(a, str) and a for a in affixes):
                raise InvalidArgumentError("affixes must be a non-empty sequence of non-empty templates")
            object.__setattr__(self, "affixes", affixes)
        if self.fallback_floor > self.vocab_size:
            raise InvalidArgumentError(
                f"vocab_size={self.vocab_size} is too small: the markers, the fallback's 256 bytes and "
                f"{len(self.special_tokens)} special tokens take {self.fallback_floor} ids before any "
                "root or affix"
            )

    @property
    def fallback_floor(self) -> int:
        """Ids taken whatever the dictionaries: markers, the 256 fallback bytes, special tokens."""
        return len(MARKERS) + 256 + len(self.special_tokens)

    def count_tables(self) -> dict[str, tuple[PreTokenizerStep, ...]]:
        return {"pieces": (SplitStep(PIECE_PATTERN),)}

    @property
    def excluded(self) -> tuple[str, ...]:
        return self.special_tokens

    def check_counts(self, counts: Counts) -> None:
        check_unnormalized_counts(
            counts,
            "hybrid",
            self.count_tables(),
            line_boundaries=self.line_boundaries,
            excluded=self.special_tokens,
            excluded_option="special_tokens",
            recount="count with algorithm='hybrid' (the hybrid piece pattern)",
        )

    @classmethod
    def options_from_counts(cls, counts: Counts) -> dict[str, Any]:
        return {"line_boundaries": counts.line_boundaries, "special_tokens": counts.excluded}

    def fit(self, counts: Counts, run: Run) -> Fitted:
        return fit(self, counts, run)


def _root_triples(roots: Sequence[Any]) -> RootArg:
    out: list[tuple[str, str | None, str | None]] = []
    for item in roots:
        if isinstance(item, str):
            out.append((item, None, None))
        elif (
            isinstance(item, Sequence)
            and len(item) in (1, 3)
            and all(x is None or isinstance(x, str) for x in item)
        ):
            out.append((item[0], None, None) if len(item) == 1 else (item[0], item[1], item[2]))
        else:
            raise InvalidArgumentError(f"a root is a form or (form, alternate, trigger), got {item!r}")
    if not out:
        raise InvalidArgumentError("roots is empty: give at least one root (or roots='turkish')")
    return tuple(out)


def _resolve(config: HybridConfig) -> tuple[RootArg, tuple[str, ...], dict[str, Any]]:
    """The root triples and affix templates, and where they came from (for the metadata)."""
    source: dict[str, Any] = {}
    if config.roots == "turkish":
        from ..data.turkish import TURKISH_FILES, turkish_roots

        roots: RootArg = tuple((r.form, r.alternate, r.trigger) for r in turkish_roots())
        lexicon = TURKISH_FILES["zemberek-lexicon.csv"]
        source["roots"] = {"source": lexicon.requirement, "file": lexicon.member, "sha256": lexicon.sha256}
    else:
        roots = config.roots  # type: ignore[assignment]
        source["roots"] = {"source": "config"}
    if config.affixes == "turkish":
        from ..data.turkish import TURKISH_AFFIXES

        affixes: tuple[str, ...] = TURKISH_AFFIXES
        source["affixes"] = {"source": "tokenforge.data.turkish.TURKISH_AFFIXES"}
    else:
        affixes = config.affixes  # type: ignore[assignment]
        source["affixes"] = {"source": "config"}
    return roots, affixes, source


def fit(config: HybridConfig, counts: Counts, run: Run) -> Fitted:
    table = counts.table("pieces")
    if len(table) == 0:
        raise CorpusError("the corpus has no text to train on")
    roots, affixes, source = _resolve(config)
    run.progress.start("segment", total=2, unit="passes")
    probe = _core.CoreHybrid(list(roots), list(affixes), None, PIECE_PATTERN)
    _residue, uses = probe.residues(table)
    run.progress.update(1)
    room = config.vocab_size - config.fallback_floor - len(affixes)
    if room < 0:
        raise InvalidArgumentError(
            f"vocab_size={config.vocab_size} is too small for {len(affixes)} affixes "
            f"(needs at least {config.fallback_floor + len(affixes)})"
        )
    used = sorted((i for i, n in enumerate(uses) if n > 0), key=lambda i: (-uses[i], roots[i][0]))
    kept = [roots[i] for i in used[: min(config.max_roots, room)]]
    segmenter = _core.CoreHybrid(kept, list(affixes), None, PIECE_PATTERN)
    residue, _uses = segmenter.residues(table)
    run.progress.finish(2)
    covered = sum(uses[i] for i in used[: len(kept)])
    budget = config.vocab_size - config.fallback_floor - len(affixes) - len(kept)
    # The residue table is the trainer's own (made above), so it is handed over, never copied.
    stage = byte_stage(
        residue,
        budget=budget,
        min_frequency=config.min_frequency,
        max_token_length=config.max_token_length,
        max_token_chars=None,
        run=run,
        phase="fallback",
        keep_counts=False,
    )
    vocab = [(bytes([b]), b) for b in range(256)] + sorted(stage.new_vocab.items(), key=lambda x: x[1])
    spec = HybridSpec(
        roots=tuple(kept),
        affixes=tuple(affixes),
        fallback_vocab=tuple(vocab),
        fallback_merges=tuple((left, right) for left, right, _id, _count in stage.merges),
        special_tokens=config.special_tokens,
        name=run.name,
    )
    training = {
        "dictionaries": source,
        "roots_in_dictionary": len(roots),
        "roots_used_by_corpus": len(used),
        "roots_kept": len(kept),
        "root_uses_kept": covered,
        "affixes": len(affixes),
        "fallback_learned_tokens": len(stage.new_vocab),
        "fallback_stop": stage.reason,
        "stop": stage.reason,
        "learned_tokens": len(kept) + len(stage.new_vocab),
        "line_boundaries": config.line_boundaries,
    }
    n_vocab = len(MARKERS) + len(kept) + len(affixes) + len(vocab) + len(config.special_tokens)
    summary = (
        f"hybrid: {len(kept)} roots (of {len(used)} the corpus uses), {len(affixes)} affixes, "
        f"{len(vocab)} fallback tokens, {n_vocab} ids; fallback stop: {stage.reason}"
    )
    return Fitted(spec, training, summary, freeze=freeze)


def freeze(spec: HybridSpec, metadata: dict[str, Any], samples: Sequence[str]) -> HybridTokenizer:
    """The tokenizer with its metadata, self-test samples included (as for BPE)."""
    plain = HybridTokenizer(spec)
    texts = list(FIXED_SAMPLES) + [s for s in samples if s not in FIXED_SAMPLES]
    if spec.special_tokens:
        texts.append(" x ".join(spec.special_tokens[:8]))
    metadata["self_test"] = {
        "allowed_special": "all",
        "samples": [{"text": t, "ids": plain.encode(t, allowed_special="all")} for t in texts],
    }
    return HybridTokenizer(replace(spec, metadata=metadata))
