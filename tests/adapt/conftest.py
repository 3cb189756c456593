"""Small synthetic tokenizers, matrices and HF model folders for the adapt tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import tokenforge as tf

BYTES = {bytes([b]): b for b in range(256)}
PATTERN = r"\S+|\s+"


@pytest.fixture(scope="session")
def old_tok() -> tf.Tokenizer:
    ranks = BYTES | {b"ab": 256, b"cd": 257, b"abcd": 258, b"th": 259, b"the": 260}
    return tf.Tokenizer.from_ranks(ranks, PATTERN, {"<eos>": 261}, name="old")


@pytest.fixture(scope="session")
def new_tok() -> tf.Tokenizer:
    # Shares all bytes, "cd", "ab", "the" (at other ids) and <eos>; adds "xy", "abcdxy", "thecd", a
    # byte fragment and a special token the old vocabulary lacks.
    ranks = BYTES | {b"cd": 256, b"ab": 257, b"xy": 258, b"abcdxy": 259, b"th": 260, b"the": 261}
    ranks |= {b"thecd": 262, b"\xe2\x82": 263}
    return tf.Tokenizer.from_ranks(ranks, PATTERN, {"<eos>": 264, "<pad>": 265}, name="new")


@pytest.fixture(scope="session")
def emb(old_tok: tf.Tokenizer) -> np.ndarray:
    return np.random.default_rng(7).standard_normal((old_tok.n_vocab, 16)).astype(np.float32)


@pytest.fixture(scope="session")
def out_emb(old_tok: tf.Tokenizer) -> np.ndarray:
    return np.random.default_rng(8).standard_normal((old_tok.n_vocab, 16)).astype(np.float32)


ModelFactory = Callable[..., Path]


@pytest.fixture
def make_model(tmp_path: Path, old_tok: tf.Tokenizer, emb: np.ndarray, out_emb: np.ndarray) -> ModelFactory:
    """Writes a tiny HF-style model folder with ``safetensors.numpy`` (tied, untied or sharded)."""
    st = pytest.importorskip("safetensors.numpy", reason="safetensors is installed by `make test`")

    def make(*, tied: bool = True, sharded: bool = False, name: str = "model") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        rng = np.random.default_rng(3)
        tensors = {
            "model.embed_tokens.weight": emb,
            "model.layers.0.mlp.weight": rng.standard_normal((16, 16)).astype(np.float32),
            "model.norm.weight": np.ones(16, dtype=np.float32),
        }
        if not tied:
            tensors["lm_head.weight"] = out_emb
        if sharded:
            names = sorted(tensors)
            first, second = names[:2], names[2:]
            files = {"model-00001-of-00002.safetensors": first, "model-00002-of-00002.safetensors": second}
            for file, keys in files.items():
                st.save_file({k: tensors[k] for k in keys}, str(folder / file), metadata={"format": "pt"})
            index = {
                "metadata": {"total_size": 0},
                "weight_map": {k: f for f, ks in files.items() for k in ks},
            }
            (folder / "model.safetensors.index.json").write_text(json.dumps(index))
        else:
            st.save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
        config = {
            "model_type": "llama",
            "vocab_size": old_tok.n_vocab,
            "hidden_size": 16,
            "eos_token_id": old_tok.special_tokens["<eos>"],
            "bos_token_id": old_tok.special_tokens["<eos>"],
            "tie_word_embeddings": tied,
        }
        (folder / "config.json").write_text(json.dumps(config))
        (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": [261, 5]}))
        old_tok.save(folder / "tokenizer.json")
        (folder / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<eos>"}))
        (folder / "README.md").write_text("a tiny test model\n")
        return folder

    return make
