"""The training drivers: ``train`` (BPE, SuperBPE, character-level BPE), ``extend`` and ``count``.

Each driver streams the corpus once through the Rust counter, hands the counts to the Rust trainer
in chunks of merges (so progress is reported and Ctrl-C works between chunks), and freezes the
result into a :class:`~tokenforge.Tokenizer` whose spec carries explicit merges (HF semantics)
and a ``tokenforge`` metadata block.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .. import _core
from ..errors import InvalidArgumentError
from ..spec import AddedToken, PreTokenizerStep, TokenizerSpec
from ..tokenizer import Tokenizer
from ..validation import as_size, as_tokens
from .config import Algorithm, PreTokenizerArg, TrainConfig, preset_name, resolve_pretokenizer, steps_to_json
from .counts import Counts, count_corpus
from .progress import Progress, ProgressArg
from .selftest import make_self_test

__all__ = ["count", "extend", "train"]

#: Merges per call into the engine between progress reports. Each call releases the GIL; 512
#: merges take a few milliseconds, so reports stay smooth and the call overhead is invisible.
STEP_MERGES = 512
#: SuperBPE word limit and colon rule (the paper's released "mw4" tokenizers).
SUPERWORD_MAX_WORDS = 4
METADATA_FORMAT = 1


def _threads(num_threads: int | None) -> int:
    if num_threads is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)
    if not isinstance(num_threads, int) or isinstance(num_threads, bool) or num_threads < 1:
        raise InvalidArgumentError(f"num_threads must be a positive integer, got {num_threads!r}")
    return num_threads


def _progress(progress: ProgressArg | Progress) -> Progress:
    return progress if isinstance(progress, Progress) else Progress(progress)


class _Stage:
    """Result of one trainer run: merges, the new tokens and why it stopped."""

    def __init__(self, merges: list[tuple[int, int, int, int]], new_vocab: dict[bytes, int], reason: str):
        self.merges = merges
        self.new_vocab = new_vocab
        self.reason = reason

    @property
    def last_count(self) -> int | None:
        return self.merges[-1][3] if self.merges else None


def _run_trainer(
    counter: Any,
    *,
    base: tuple[list[tuple[bytes, int]], list[tuple[int, int]] | None, bool] | None,
    next_id: int,
    budget: int,
    min_frequency: int,
    max_token_length: int | None,
    max_token_chars: int | None,
    max_words: int | None,
    forbid_colon_space: bool,
    skip_existing: bool,
    threads: int,
    progress: Progress,
    phase: str,
    keep_counts: bool,
) -> _Stage:
    # The trainer takes the table over (no copy) unless the caller's Counts must stay usable.
    trainer = _core.CoreBpeTrainer(
        counter,
        base,
        next_id,
        budget,
        min_frequency,
        max_token_length,
        max_token_chars,
        max_words,
        forbid_colon_space,
        skip_existing,
        threads,
        keep_counts,
    )
    progress.start(phase, total=budget, unit="merges")
    while trainer.step(STEP_MERGES):
        progress.update(trainer.new_tokens)
    merges = trainer.merges()
    new_vocab: dict[bytes, int] = {}
    for _left, _right, token_id, _count in merges:
        if token_id >= next_id:
            new_vocab.setdefault(trainer.token_bytes(token_id), token_id)
    learned = trainer.new_tokens
    reason = "vocab_size" if learned >= budget else f"no pair left that occurs at least {min_frequency} times"
    progress.finish(learned, words=trainer.word_count)
    return _Stage(merges, new_vocab, reason)


def _vocab_sha256(vocab: dict[bytes, int]) -> str:
    h = hashlib.sha256()
    for token, token_id in sorted(vocab.items(), key=lambda kv: kv[1]):
        h.update(token_id.to_bytes(4, "little") + len(token).to_bytes(4, "little") + token)
    return h.hexdigest()


def _finish(spec: TokenizerSpec, metadata: dict[str, Any], samples: Sequence[str]) -> Tokenizer:
    """Builds the tokenizer, encodes the self-test samples with it, and returns the tokenizer with
    the complete metadata block."""
    plain = Tokenizer(spec)
    metadata["self_test"] = make_self_test(plain, samples)
    return Tokenizer(replace(spec, metadata=metadata))


def _library_version() -> str:
    from .. import __version__

    return __version__


def _load_counts(from_counts: Counts | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> Counts:
    if isinstance(from_counts, Counts):
        return from_counts
    if isinstance(from_counts, str | os.PathLike):
        return Counts.load(from_counts)
    return Counts.load_many(from_counts)


def _padding(start: int, total: int, multiple: int | None, taken: set[str]) -> list[AddedToken]:
    """Reserved special tokens that round the vocabulary up to a multiple (never matched by text
    unless allowed, so they do not change any encoding)."""
    if not multiple or total % multiple == 0:
        return []
    out: list[AddedToken] = []
    i = 0
    while (total + len(out)) % multiple:
        name = f"<|reserved_{i}|>"
        i += 1
        if name in taken:
            continue
        out.append(AddedToken(name, start + len(out), special=True))
    return out


def train(
    inputs: Any = None,
    *,
    vocab_size: int,
    algorithm: Algorithm = "bpe",
    pretokenizer: PreTokenizerArg | None = None,
    special_tokens: Sequence[str] = (),
    domain_tokens: Sequence[str] = (),
    min_frequency: int = 2,
    max_token_length: int | None = None,
    max_token_chars: int | None = None,
    transition: int | None = None,
    superword_pretokenizer: PreTokenizerArg | None = None,
    normalizers: Sequence[str] | None = None,
    line_boundaries: bool = True,
    pad_to_multiple_of: int | None = None,
    max_memory: int | None = None,
    field: str = "text",
    from_counts: Counts | str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    num_threads: int | None = None,
    progress: ProgressArg | Progress = None,
    name: str = "trained",
) -> Tokenizer:
    """Trains a byte-level BPE tokenizer on a corpus.

    ``inputs``: a path, directory or glob (``.txt``, ``.jsonl`` with ``field``, ``.gz``), a list of
    them, or an iterable of texts; or ``from_counts=`` a ``.tfc`` file / :class:`Counts` instead.

    ``algorithm``:

    * ``"bpe"``: byte-level BPE; ``pretokenizer`` defaults to ``"cl100k"``.
    * ``"superbpe"``: SuperBPE (Liu et al. 2025): ``transition`` merges of BPE with the subword
      pre-tokenizer (default ``"superbpe_stage1"``), then training continues on whole lines cut only
      by ``superword_pretokenizer`` (default ``"superword"``), with tokens of at most 4 words and
      none containing ``": "``. ``transition`` defaults to 3/4 of the learned tokens.
    * ``"charbpe"``: KL3M-style small vocabularies of short tokens: NFKC normalization and
      ``max_token_chars`` 3 (4 above 8192 tokens) unless given.

    ``vocab_size`` counts every id (256 bytes, learned, domain and special tokens); learned tokens
    get ids 256.., then ``domain_tokens`` (never split, always matched, like HF added tokens), then
    ``special_tokens``, then reserved padding specials up to a multiple of ``pad_to_multiple_of``.

    Training stops early when no pair occurs ``min_frequency`` times. Every line is a hard boundary
    (as when HF trains on files) unless ``line_boundaries=False``. Ties between equally frequent
    pairs go to the smaller (left bytes, right bytes), so results never depend on threads or hash
    order. ``max_memory`` (bytes) caps the counting tables by pruning rare pieces (their counts may
    be underestimated by the reported threshold sum; frequent pieces are unaffected).
    """
    threads = _threads(num_threads)
    report = _progress(progress)
    counts: Counts | None = None
    # A Counts object the caller passed in stays usable (trained from again); counts read here
    # are handed to the trainer without a copy.
    keep = isinstance(from_counts, Counts)
    if from_counts is not None:
        if inputs is not None:
            raise InvalidArgumentError("pass either inputs or from_counts, not both")
        counts = _load_counts(from_counts)
    elif inputs is None:
        raise InvalidArgumentError("nothing to train on: pass inputs (paths or texts) or from_counts=")

    if algorithm == "superbpe":
        default_pre = "superbpe_stage1"
    else:
        default_pre = "cl100k"
    if counts is not None:
        if pretokenizer is not None and resolve_pretokenizer(pretokenizer) != counts.pretokenizers.get(
            "subword"
        ):
            raise InvalidArgumentError("pretokenizer differs from the one the counts were made with")
        counts.table("subword")  # raises a clear error when the table is missing
        pre_steps = counts.pretokenizers["subword"]
        norm = counts.normalizers
        if normalizers is not None and tuple(normalizers) != norm:
            raise InvalidArgumentError(f"normalizers {tuple(normalizers)} differ from the counts' {norm}")
        line_boundaries = counts.line_boundaries
    else:
        pre_steps = resolve_pretokenizer(pretokenizer if pretokenizer is not None else default_pre)
        norm = (
            tuple(normalizers) if normalizers is not None else (("NFKC",) if algorithm == "charbpe" else ())
        )
    super_steps: tuple[PreTokenizerStep, ...] | None = None
    if algorithm == "superbpe":
        if counts is not None:
            counts.table("superword")
            super_steps = counts.pretokenizers["superword"]
        else:
            super_steps = resolve_pretokenizer(superword_pretokenizer or "superword")
    vocab_size = as_size(vocab_size, "vocab_size", minimum=1, maximum=2**32)
    if algorithm == "charbpe" and max_token_chars is None:
        max_token_chars = 3 if vocab_size <= 8192 else 4
    special_tokens = as_tokens(special_tokens, "special_tokens")
    domain_tokens = as_tokens(domain_tokens, "domain_tokens")
    budget = vocab_size - 256 - len(special_tokens) - len(domain_tokens)
    if algorithm == "superbpe" and transition is None:
        transition = max(1, budget * 3 // 4)
    config = TrainConfig(
        vocab_size=vocab_size,
        algorithm=algorithm,
        pretokenizer=pre_steps,
        superword_pretokenizer=super_steps,
        transition=transition,
        special_tokens=tuple(special_tokens),
        domain_tokens=tuple(domain_tokens),
        min_frequency=min_frequency,
        max_token_length=max_token_length,
        max_token_chars=max_token_chars,
        max_words_per_token=SUPERWORD_MAX_WORDS if algorithm == "superbpe" else None,
        forbid_colon_space=algorithm == "superbpe",
        normalizers=norm,
        line_boundaries=line_boundaries,
        pad_to_multiple_of=pad_to_multiple_of,
        max_memory=max_memory,
        field=field,
    )
    excluded = (*config.domain_tokens, *config.special_tokens)
    samples: list[str] = []
    if counts is None:
        tables = {"subword": config.pretokenizer}
        if super_steps is not None:
            tables["superword"] = super_steps
        counts, samples = count_corpus(
            inputs,
            tables,
            normalizers=config.normalizers,
            excluded=excluded,
            line_boundaries=config.line_boundaries,
            max_memory=config.max_memory,
            field=config.field,
            num_threads=threads,
            progress=report,
        )
    else:
        missing = [t for t in config.domain_tokens if t not in counts.excluded]
        if missing:
            raise InvalidArgumentError(
                f"domain tokens {missing[:5]} were not excluded when these counts were made, so their text "
                "was counted as ordinary text; count again with the same domain tokens"
            )
    corpus_meta = counts.summary()

    stage1_budget = config.transition if algorithm == "superbpe" else config.merge_budget
    assert stage1_budget is not None
    common = {
        "min_frequency": config.min_frequency,
        "max_token_length": config.max_token_length,
        "max_token_chars": config.max_token_chars,
        "threads": threads,
        "progress": report,
        "keep_counts": keep,
    }
    stage1 = _run_trainer(
        counts.table("subword"),
        base=None,
        next_id=256,
        budget=stage1_budget,
        max_words=None,
        forbid_colon_space=False,
        skip_existing=False,
        phase="merge",
        **common,
    )
    vocab: dict[bytes, int] = {bytes([b]): b for b in range(256)}
    vocab.update(stage1.new_vocab)
    merges = [(left, right) for left, right, _id, _count in stage1.merges]
    stages: list[dict[str, Any]] = [
        {
            "name": "subword",
            "merges": len(stage1.merges),
            "learned": len(stage1.new_vocab),
            "stop": stage1.reason,
        }
    ]
    reason = stage1.reason
    last_count = stage1.last_count
    final_steps = config.pretokenizer
    if algorithm == "superbpe":
        next_id = 256 + len(stage1.new_vocab)
        stage2 = _run_trainer(
            counts.table("superword"),
            base=(list(vocab.items()), list(merges), False),
            next_id=next_id,
            budget=config.merge_budget - len(stage1.new_vocab),
            max_words=config.max_words_per_token,
            forbid_colon_space=config.forbid_colon_space,
            skip_existing=False,
            phase="super",
            **common,
        )
        vocab.update(stage2.new_vocab)
        merges.extend((left, right) for left, right, _id, _count in stage2.merges)
        stages.append(
            {
                "name": "superword",
                "merges": len(stage2.merges),
                "learned": len(stage2.new_vocab),
                "stop": stage2.reason,
            }
        )
        reason = stage2.reason
        last_count = stage2.last_count
        assert super_steps is not None
        final_steps = super_steps

    next_id = 256 + sum(s["learned"] for s in stages)
    added = [AddedToken(t, next_id + i, special=False) for i, t in enumerate(config.domain_tokens)]
    next_id += len(added)
    added += [AddedToken(t, next_id + i, special=True) for i, t in enumerate(config.special_tokens)]
    next_id += len(config.special_tokens)
    added += _padding(next_id, next_id, config.pad_to_multiple_of, set(excluded))

    metadata: dict[str, Any] = {
        "format": METADATA_FORMAT,
        "library": "tokenforge",
        "version": _library_version(),
        "kind": "trained",
        "config": config.to_json(),
        "corpus": corpus_meta,
        "training": {
            "learned_tokens": sum(s["learned"] for s in stages),
            "merges": len(merges),
            "stop": reason,
            "last_merge_count": last_count,
            "stages": stages,
            "tie_break": "count desc, then left token bytes asc, then right token bytes asc",
            "line_boundaries": config.line_boundaries,
        },
    }
    spec = TokenizerSpec(
        name=name,
        vocab=vocab,
        pre_tokenizer=final_steps,
        merges=tuple(merges),
        normalizers=config.normalizers,
        added_tokens=tuple(added),
        ignore_merges=False,
    )
    report.note(
        f"trained {len(vocab)} model tokens ({metadata['training']['learned_tokens']} learned), "
        f"{len(added)} added tokens; stop: {reason}"
    )
    return _finish(spec, metadata, samples)


def extend(
    tokenizer: Tokenizer,
    inputs: Any = None,
    new_vocab_size: int | None = None,
    *,
    pretokenizer: PreTokenizerArg | None = None,
    superword: bool = False,
    min_frequency: int = 2,
    max_token_length: int | None = None,
    max_token_chars: int | None = None,
    line_boundaries: bool = True,
    max_memory: int | None = None,
    field: str = "text",
    from_counts: Counts | str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    num_threads: int | None = None,
    progress: ProgressArg | Progress = None,
    name: str | None = None,
) -> Tokenizer:
    """Continues BPE training from any byte-level BPE tokenizer; every existing token keeps its id
    and new tokens get ids from ``tokenizer.n_vocab`` up to ``new_vocab_size - 1``.

    The corpus is pre-tokenized with the tokenizer's own pre-tokenizer (or ``pretokenizer``), each
    piece is encoded with the tokenizer, and training continues from there: the same mechanism as
    SuperBPE's second stage. ``superword=True`` switches to the superword pre-tokenizer and the
    SuperBPE filters (<= 4 words, no ``": "``) — SuperBPE stage 2 on top of any tokenizer.

    A tokenizer with tiktoken semantics (ranks, no merge list) stays one: new tokens get ranks
    after the old ones, and pairs whose merge would spell an existing token are skipped.
    """
    if new_vocab_size is None:
        raise InvalidArgumentError("extend needs new_vocab_size")
    threads = _threads(num_threads)
    report = _progress(progress)
    full = tokenizer._full_spec()
    base_n = tokenizer.n_vocab
    budget = new_vocab_size - base_n
    if budget < 1:
        raise InvalidArgumentError(
            f"new_vocab_size ({new_vocab_size}) must be larger than the tokenizer's n_vocab ({base_n})"
        )
    if pretokenizer is not None:
        steps = resolve_pretokenizer(pretokenizer)
    elif superword:
        steps = resolve_pretokenizer("superword")
    else:
        steps = full.pre_tokenizer
    excluded = tuple(t.content for t in full.added_tokens)
    samples: list[str] = []
    if from_counts is not None:
        if inputs is not None:
            raise InvalidArgumentError("pass either inputs or from_counts, not both")
        counts = _load_counts(from_counts)
        steps = counts.pretokenizers["subword"]
    elif inputs is None:
        raise InvalidArgumentError("nothing to train on: pass inputs (paths or texts) or from_counts=")
    else:
        counts, samples = count_corpus(
            inputs,
            {"subword": steps},
            normalizers=full.normalizers,
            excluded=excluded,
            line_boundaries=line_boundaries,
            max_memory=max_memory,
            field=field,
            num_threads=threads,
            progress=report,
        )
    rank_based = full.merges is None
    stage = _run_trainer(
        counts.table("subword"),
        base=(list(full.vocab.items()), None if rank_based else list(full.merges or ()), full.ignore_merges),
        next_id=base_n,
        budget=budget,
        min_frequency=min_frequency,
        max_token_length=max_token_length,
        max_token_chars=max_token_chars,
        max_words=SUPERWORD_MAX_WORDS if superword else None,
        forbid_colon_space=superword,
        skip_existing=rank_based,
        threads=threads,
        progress=report,
        phase="extend",
        keep_counts=isinstance(from_counts, Counts),
    )
    vocab = dict(full.vocab)
    vocab.update(stage.new_vocab)
    merges = None if rank_based else (*(full.merges or ()), *((a, b) for a, b, _i, _c in stage.merges))
    base_meta = full.metadata if isinstance(full.metadata, dict) else {}
    metadata: dict[str, Any] = {
        "format": METADATA_FORMAT,
        "library": "tokenforge",
        "version": _library_version(),
        "kind": "extended",
        "config": {
            "algorithm": "extend",
            "new_vocab_size": new_vocab_size,
            "pretokenizer": {"preset": preset_name(steps), "steps": steps_to_json(steps)},
            "superword": superword,
            "min_frequency": min_frequency,
            "max_token_length": max_token_length,
            "max_token_chars": max_token_chars,
            "line_boundaries": counts.line_boundaries,
            "max_memory": max_memory,
            "field": field,
        },
        "base": {
            "name": tokenizer.name,
            "n_vocab": base_n,
            "semantics": "ranks" if rank_based else "merges",
            "vocab_sha256": _vocab_sha256(dict(full.vocab)),
            "metadata": base_meta.get("config") if base_meta else None,
        },
        "corpus": counts.summary(),
        "training": {
            "learned_tokens": len(stage.new_vocab),
            "merges": len(stage.merges),
            "stop": stage.reason,
            "last_merge_count": stage.last_count,
        },
    }
    spec = replace(
        full,
        name=name or f"{tokenizer.name}-extended",
        vocab=vocab,
        merges=merges,
        pre_tokenizer=steps,
        metadata=None,
    )
    report.note(
        f"extended {tokenizer.name} from {base_n} to {base_n + len(stage.new_vocab)} ids; "
        f"stop: {stage.reason}"
    )
    return _finish(spec, metadata, samples)


def count(
    inputs: Any,
    *,
    algorithm: Algorithm = "bpe",
    pretokenizer: PreTokenizerArg | None = None,
    superword_pretokenizer: PreTokenizerArg | None = None,
    special_tokens: Sequence[str] = (),
    domain_tokens: Sequence[str] = (),
    normalizers: Sequence[str] | None = None,
    line_boundaries: bool = True,
    max_memory: int | None = None,
    field: str = "text",
    num_threads: int | None = None,
    progress: ProgressArg | Progress = None,
) -> Counts:
    """Counts a corpus's pieces for later training (``train(from_counts=...)``); save the result
    with :meth:`Counts.save` and merge shards with :meth:`Counts.merge`. ``algorithm="superbpe"``
    counts both tables SuperBPE needs in the same pass."""
    default_pre = "superbpe_stage1" if algorithm == "superbpe" else "cl100k"
    tables = {"subword": resolve_pretokenizer(pretokenizer if pretokenizer is not None else default_pre)}
    if algorithm == "superbpe":
        tables["superword"] = resolve_pretokenizer(superword_pretokenizer or "superword")
    norm = tuple(normalizers) if normalizers is not None else (("NFKC",) if algorithm == "charbpe" else ())
    counts, _samples = count_corpus(
        inputs,
        tables,
        normalizers=norm,
        excluded=(*as_tokens(domain_tokens, "domain_tokens"), *as_tokens(special_tokens, "special_tokens")),
        line_boundaries=line_boundaries,
        max_memory=max_memory,
        field=field,
        num_threads=_threads(num_threads),
        progress=_progress(progress),
    )
    return counts
