"""Corpus I/O: streaming document readers and Megatron token shards.

The shard and encoding modules need numpy; they are imported on first use, so that the readers
(used by training) do not pull numpy into every ``import tokenforge``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .readers import Source, expand_inputs

if TYPE_CHECKING:
    from .encode import EncodeStats, encode_corpus, read_corpus
    from .shards import ShardReader, ShardWriter, dtype_for_vocab

_LAZY = {
    "EncodeStats": ".encode",
    "encode_corpus": ".encode",
    "read_corpus": ".encode",
    "ShardReader": ".shards",
    "ShardWriter": ".shards",
    "dtype_for_vocab": ".shards",
}

__all__ = [
    "EncodeStats",
    "ShardReader",
    "ShardWriter",
    "Source",
    "dtype_for_vocab",
    "encode_corpus",
    "expand_inputs",
    "read_corpus",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
