"""Moving a pretrained model onto a new or extended vocabulary.

- :func:`transplant`: embedding matrices for a new tokenizer (``mean``, ``tokenadapt``, ``focus``,
  ``random``; shared tokens copied exactly).
- :func:`adapt_model`: the same on an HF model folder (``*.safetensors`` + ``config.json``).
- :func:`extend`: add tokens to a model, keeping every old id and row bit-identical.
- :func:`cooccurrence_vectors`: static token vectors from target text (an auxiliary space for ``focus``).
"""

from __future__ import annotations

from .embeddings import METHODS, TokenAdaptParams, TransplantResult, sparsemax, transplant
from .extend import extend, extend_tokenizer
from .model_io import ModelEmbeddings, adapt_model, read_model, write_model
from .static_vectors import cooccurrence_vectors

__all__ = [
    "METHODS",
    "ModelEmbeddings",
    "TokenAdaptParams",
    "TransplantResult",
    "adapt_model",
    "cooccurrence_vectors",
    "extend",
    "extend_tokenizer",
    "read_model",
    "sparsemax",
    "transplant",
    "write_model",
]
