"""Exporting a trained tokenizer as a ``.tiktoken`` file.

A ``.tiktoken`` file holds ranks only: two parts merge when their concatenation is a token, the
lowest rank first. For a BPE tokenizer trained here (ids in merge order) this is almost always the
same as applying the merge list, but not always: with a rank vocabulary a token can also be built
from a split the training never merged. :func:`save_tiktoken` therefore re-encodes the self-test
samples with rank semantics and reports how many differ. Special and domain tokens are not part of
the file (tiktoken takes them separately); the pre-tokenization pattern neither.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InvalidArgumentError
from ..formats.tiktoken_file import dump_tiktoken
from ..tokenizer import Tokenizer

__all__ = ["save_tiktoken"]


def save_tiktoken(tokenizer: Tokenizer, path: str | os.PathLike[str]) -> tuple[Path, int]:
    """Writes the model vocabulary as ``.tiktoken`` (rank = id). Returns the path and the number
    of self-test samples whose ids differ under rank semantics (0 when equivalent on them)."""
    ranks = dict(tokenizer._core.model_vocab())
    pattern = tokenizer.pattern
    if pattern is None:
        raise InvalidArgumentError(
            "a .tiktoken file needs a single-regex pre-tokenizer (tiktoken has no other kind); "
            f"{tokenizer.name!r} uses {[type(s).__name__ for s in tokenizer.spec.pre_tokenizer]}"
        )
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.write_bytes(dump_tiktoken(ranks))
    os.replace(tmp, target)
    differing = 0
    meta = tokenizer.spec.metadata or {}
    samples = (meta.get("self_test") or {}).get("samples", []) if isinstance(meta, dict) else []
    if samples:
        as_ranks = Tokenizer.from_ranks(ranks, pattern, dict(tokenizer.special_tokens))
        for sample in samples:
            if as_ranks.encode_ordinary(sample["text"]) != tokenizer.encode_ordinary(sample["text"]):
                differing += 1
    return target, differing
