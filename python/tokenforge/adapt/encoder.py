"""Sentence embeddings of a BERT-family encoder folder in numpy: scoring an encoder transplant
without torch.

:func:`sentence_embeddings` runs the encoder forward pass (word + position + token-type embeddings,
LayerNorm, ``num_hidden_layers`` post-LN self-attention blocks with GELU) in float64 and pools as
the folder's sentence-transformers files say: ``1_Pooling/config.json`` (mean, CLS or max over the
tokens; mean when the file is absent) and a ``Normalize`` module in ``modules.json`` (unit
vectors). It is the reference the transplant tests and ``bench/adapt_encoder.py`` use in
environments without torch (not yet compared with ``transformers`` in a test). The ids come from
a tokenforge tokenizer
with its post-processor applied (``[CLS] … [SEP]``), cut to ``max_length``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, ModelFormatError
from ..tokenizer import Tokenizer
from .safetensors_io import SafetensorsFile

__all__ = ["ENCODER_TYPES", "EncoderWeights", "encoder_prefix", "sentence_embeddings"]

#: ``config.json`` ``model_type`` values whose checkpoints have BERT's tensor layout (the same
#: embeddings/encoder names and post-LN blocks).
ENCODER_TYPES = ("bert",)


def encoder_prefix(names: Sequence[str]) -> str | None:
    """The prefix before ``embeddings.word_embeddings.weight`` (``""`` for ``BertModel``,
    ``"bert."`` for ``BertForMaskedLM`` and other heads), or None when the layout is not BERT's."""
    for prefix in ("", "bert.", "roberta.", "model."):
        if f"{prefix}embeddings.word_embeddings.weight" in names:
            return prefix
    return None


@dataclass
class EncoderWeights:
    """Every tensor of a BERT-family folder (float64) and the settings of its forward pass."""

    config: dict[str, Any]
    tensors: dict[str, np.ndarray]
    prefix: str
    pooling: str
    normalize: bool

    @classmethod
    def read(cls, model_dir: str | os.PathLike[str]) -> EncoderWeights:
        directory = Path(model_dir)
        config_path = directory / "config.json"
        if not config_path.is_file():
            raise ModelFormatError(f"{directory}: missing config.json")
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if config.get("model_type") not in ENCODER_TYPES:
            raise ModelFormatError(
                f"{directory}: model_type {config.get('model_type')!r} is not a BERT-family encoder "
                f"(the numpy forward pass supports {', '.join(ENCODER_TYPES)}); use transformers for it"
            )
        tensors: dict[str, np.ndarray] = {}
        for file in sorted(directory.glob("*.safetensors")):
            st = SafetensorsFile(file)
            for name in st.keys():
                tensors[name] = st.tensor(name).astype(np.float64)
        prefix = encoder_prefix(list(tensors))
        if prefix is None:
            raise ModelFormatError(f"{directory}: no embeddings.word_embeddings.weight tensor")
        pooling = "mean"
        pooling_path = directory / "1_Pooling" / "config.json"
        if pooling_path.is_file():
            pool = json.loads(pooling_path.read_text(encoding="utf-8"))
            keys = {
                "mean": "pooling_mode_mean_tokens",
                "cls": "pooling_mode_cls_token",
                "max": "pooling_mode_max_tokens",
            }
            modes = [mode for mode, key in keys.items() if pool.get(key)]
            if len(modes) != 1 or pool.get("pooling_mode_mean_sqrt_len_tokens"):
                raise ModelFormatError(
                    f"{pooling_path}: exactly one of {', '.join(keys.values())} must be true"
                )
            pooling = modes[0]
        normalize = False
        modules_path = directory / "modules.json"
        if modules_path.is_file():
            modules = json.loads(modules_path.read_text(encoding="utf-8"))
            normalize = any(str(m.get("type", "")).endswith(".Normalize") for m in modules)
        return cls(config, tensors, prefix, pooling, normalize)

    def _t(self, name: str) -> np.ndarray:
        return self.tensors[self.prefix + name]

    def hidden_states(self, ids: Sequence[int]) -> np.ndarray:
        """The last layer's hidden states of one sequence, ``(len(ids), hidden_size)``."""
        cfg = self.config
        eps = float(cfg.get("layer_norm_eps", 1e-12))
        heads = int(cfg["num_attention_heads"])
        x = (
            self._t("embeddings.word_embeddings.weight")[list(ids)]
            + self._t("embeddings.position_embeddings.weight")[: len(ids)]
            + self._t("embeddings.token_type_embeddings.weight")[0]
        )
        x = _layer_norm(x, self._t("embeddings.LayerNorm.weight"), self._t("embeddings.LayerNorm.bias"), eps)
        for layer in range(int(cfg["num_hidden_layers"])):
            p = f"encoder.layer.{layer}."

            def dense(name: str, h: np.ndarray, p: str = p) -> np.ndarray:
                return h @ self._t(p + name + ".weight").T + self._t(p + name + ".bias")

            q, k, v = (dense(f"attention.self.{n}", x) for n in ("query", "key", "value"))
            n, d = x.shape[0], x.shape[1] // heads
            q, k, v = (m.reshape(n, heads, d).transpose(1, 0, 2) for m in (q, k, v))
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            attn = (scores / scores.sum(axis=-1, keepdims=True)) @ v
            attn = attn.transpose(1, 0, 2).reshape(n, heads * d)
            x = _layer_norm(
                dense("attention.output.dense", attn) + x,
                self._t(p + "attention.output.LayerNorm.weight"),
                self._t(p + "attention.output.LayerNorm.bias"),
                eps,
            )
            h = _gelu(dense("intermediate.dense", x))
            x = _layer_norm(
                dense("output.dense", h) + x,
                self._t(p + "output.LayerNorm.weight"),
                self._t(p + "output.LayerNorm.bias"),
                eps,
            )
        return x

    def pool(self, hidden: np.ndarray) -> np.ndarray:
        if self.pooling == "cls":
            vec = hidden[0]
        elif self.pooling == "max":
            vec = hidden.max(axis=0)
        else:
            vec = hidden.mean(axis=0)
        if self.normalize:
            vec = vec / max(float(np.linalg.norm(vec)), 1e-12)
        return vec


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _erf(x: np.ndarray) -> np.ndarray:
    # numpy has no erf: Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7), 40x faster than
    # np.vectorize(math.erf) on a 6-layer MiniLM and far below the float32 noise of the weights.
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1.0 - poly * np.exp(-x * x))


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's exact (erf) GELU.
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def sentence_embeddings(
    model: str | os.PathLike[str] | EncoderWeights,
    tokenizer: Tokenizer,
    texts: Sequence[str],
    *,
    max_length: int = 256,
) -> np.ndarray:
    """One embedding per text, ``(len(texts), hidden_size)``: the encoder's last hidden states
    pooled (and normalized) as the folder's sentence-transformers configuration says.

    ``tokenizer`` encodes each text with its post-processor (``add_special_tokens=True``); the ids
    are cut to ``max_length`` keeping the last one (the ``[SEP]``), as sentence-transformers
    truncates to ``max_seq_length`` (256 for all-MiniLM-L6-v2)."""
    weights = model if isinstance(model, EncoderWeights) else EncoderWeights.read(model)
    if max_length < 2:
        raise InvalidArgumentError(f"max_length must be at least 2, got {max_length}")
    rows = weights._t("embeddings.word_embeddings.weight").shape[0]
    out = []
    for text in texts:
        ids = tokenizer.encode(text, disallowed_special=(), add_special_tokens=True)
        if len(ids) > max_length:
            ids = [*ids[: max_length - 1], ids[-1]]
        if not ids:
            raise InvalidArgumentError(f"{text!r} encodes to no ids (the tokenizer adds no [CLS]/[SEP])")
        if max(ids) >= rows:
            raise InvalidArgumentError(
                f"{tokenizer.name!r} gives id {max(ids)} but the model has {rows} embedding rows: "
                "the tokenizer does not belong to this model"
            )
        out.append(weights.pool(weights.hidden_states(ids)))
    return np.stack(out)
