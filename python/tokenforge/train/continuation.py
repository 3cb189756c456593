"""Continuing BPE training from an existing tokenizer (``tokenforge.extend``): every existing
token keeps its id and new ones are appended, by the same mechanism as SuperBPE's second stage."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from ..errors import InvalidArgumentError
from ..scale import EngineArg, counter_for
from ..tokenizer import Tokenizer
from .bpe import run_merges
from .config import PreTokenizerArg, preset_name, resolve_pretokenizer, steps_to_json
from .counts import Counts
from .driver import CountsArg, freeze_tokenizer, load_counts, metadata_block, progress_arg, threads_arg
from .progress import Progress, ProgressArg
from .superbpe import SUPERWORD_MAX_WORDS

__all__ = ["extend"]


def _vocab_sha256(vocab: dict[bytes, int]) -> str:
    h = hashlib.sha256()
    for token, token_id in sorted(vocab.items(), key=lambda kv: kv[1]):
        h.update(token_id.to_bytes(4, "little") + len(token).to_bytes(4, "little") + token)
    return h.hexdigest()


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
    from_counts: CountsArg | None = None,
    num_threads: int | None = None,
    progress: ProgressArg | Progress = None,
    name: str | None = None,
    engine: EngineArg = "local",
) -> Tokenizer:
    """Continues BPE training from any byte-level BPE tokenizer; every existing token keeps its id
    and new tokens get ids from ``tokenizer.n_vocab`` up to ``new_vocab_size - 1``.

    The corpus is pre-tokenized with the tokenizer's own pre-tokenizer (or ``pretokenizer``), each
    piece is encoded with the tokenizer, and training continues from there: the same mechanism as
    SuperBPE's second stage. ``superword=True`` switches to the superword pre-tokenizer and the
    SuperBPE filters (<= 4 words, no ``": "``) — SuperBPE stage 2 on top of any tokenizer.

    A tokenizer with tiktoken semantics (ranks, no merge list) stays one: new tokens get ranks
    after the old ones, and pairs whose merge would spell an existing token are skipped.
    ``engine="ray"`` counts the files on a Ray cluster (see :func:`tokenforge.train`).
    """
    if new_vocab_size is None:
        raise InvalidArgumentError("extend needs new_vocab_size")
    threads = threads_arg(num_threads)
    report = progress_arg(progress)
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
        counts = load_counts(from_counts)
        steps = counts.pretokenizers["subword"]
    elif inputs is None:
        raise InvalidArgumentError("nothing to train on: pass inputs (paths or texts) or from_counts=")
    else:
        counts, samples = counter_for(engine)(
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
    stage = run_merges(
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
    config = {
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
    }
    base = {
        "name": tokenizer.name,
        "n_vocab": base_n,
        "semantics": "ranks" if rank_based else "merges",
        "vocab_sha256": _vocab_sha256(dict(full.vocab)),
        "metadata": base_meta.get("config") if base_meta else None,
    }
    training = {
        "learned_tokens": len(stage.new_vocab),
        "merges": len(stage.merges),
        "stop": stage.reason,
        "last_merge_count": stage.last_count,
    }
    metadata = metadata_block("extended", config, counts.summary(), training, base=base)
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
    return freeze_tokenizer(spec, metadata, samples)
