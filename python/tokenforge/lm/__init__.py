"""Tokenization at the model's edge: exact byte-level probabilities from a tokenized LM, token
healing, batch-level dynamic tokenization and (rainbow) padding.

- :mod:`~tokenforge.lm.scorer`: the scorer protocol (batch of id prefixes → next-token log-probs)
  with a numpy bigram model and a ``transformers`` adapter.
- :mod:`~tokenforge.lm.byteprob`: ``next_byte_logprobs``, ``byte_logprob``, ``ByteLM``,
  ``ByteEnsemble``, ``sample_bytes`` (Phan et al., ICLR 2025).
- :mod:`~tokenforge.lm.healing`: ``heal`` and the constrained first tokens of generation.
- :mod:`~tokenforge.lm.dynamic`: ``merge_batch`` (Feher et al., ACL 2025).
- :mod:`~tokenforge.lm.padding`: ``encode_batch`` with plain or rainbow padding, attention masks.
"""

from __future__ import annotations

from . import dynamic
from .byteprob import ByteEnsemble, ByteLM, ByteModel, byte_logprob, next_byte_logprobs, sample_bytes
from .healing import HealedPrompt, generate_healed, heal, healing_logits_processor
from .padding import PaddedBatch, encode_batch, pad, with_pad_tokens
from .scorer import BigramScorer, Scorer, TransformersScorer, sequence_logprobs
from .trie import TokenTrie

__all__ = [
    "BigramScorer",
    "ByteEnsemble",
    "ByteLM",
    "ByteModel",
    "HealedPrompt",
    "PaddedBatch",
    "Scorer",
    "TokenTrie",
    "TransformersScorer",
    "byte_logprob",
    "dynamic",
    "encode_batch",
    "generate_healed",
    "heal",
    "healing_logits_processor",
    "next_byte_logprobs",
    "pad",
    "sample_bytes",
    "sequence_logprobs",
    "with_pad_tokens",
]
