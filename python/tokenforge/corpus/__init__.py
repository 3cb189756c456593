"""Corpus I/O: streaming document readers and Megatron token shards."""

from .encode import EncodeStats, encode_corpus, read_corpus
from .readers import Source, expand_inputs
from .shards import ShardReader, ShardWriter, dtype_for_vocab

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
