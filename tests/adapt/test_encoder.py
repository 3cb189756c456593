"""`adapt` on BERT-family encoders: a tiny random BERT folder with all-MiniLM-L6-v2's WordPiece
tokenizer (fetched by `make test-tokenizers`), scored with the numpy forward pass."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import tokenforge as tf
from tokenforge.adapt import adapt_model
from tokenforge.adapt.encoder import sentence_embeddings
from tokenforge.adapt.safetensors_io import encode_tensor, write_safetensors

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import fetch_test_tokenizers as real_files

SENTENCES = ["The committee said the proposal would be considered next week.", "Phil said: I got it."]
HIDDEN, LAYERS, HEADS = 32, 2, 4


@pytest.fixture(scope="module")
def wordpiece() -> tf.Tokenizer:
    entry = next(
        e for e in real_files.find_all() if e.name == "minilm-l6-v2" and e.filename == "tokenizer.json"
    )
    return tf.load(entry.path)


def _bert_folder(folder: Path, vocab: int, rng: np.random.Generator) -> Path:
    folder.mkdir()
    shapes = {
        "embeddings.word_embeddings.weight": (vocab, HIDDEN),
        "embeddings.position_embeddings.weight": (64, HIDDEN),
        "embeddings.token_type_embeddings.weight": (2, HIDDEN),
        "embeddings.LayerNorm.weight": (HIDDEN,),
        "embeddings.LayerNorm.bias": (HIDDEN,),
    }
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for name in (
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
        ):
            shapes[p + name + ".weight"] = (HIDDEN, HIDDEN)
            shapes[p + name + ".bias"] = (HIDDEN,)
        shapes[p + "intermediate.dense.weight"] = (4 * HIDDEN, HIDDEN)
        shapes[p + "intermediate.dense.bias"] = (4 * HIDDEN,)
        shapes[p + "output.dense.weight"] = (HIDDEN, 4 * HIDDEN)
        shapes[p + "output.dense.bias"] = (HIDDEN,)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[p + ln + ".weight"] = (HIDDEN,)
            shapes[p + ln + ".bias"] = (HIDDEN,)
    tensors = {}
    for name, shape in shapes.items():
        value = rng.standard_normal(shape) * 0.1 + (1.0 if name.endswith("LayerNorm.weight") else 0.0)
        tensors[name] = ("F32", shape, encode_tensor(value.astype(np.float32), "F32"))
    write_safetensors(folder / "model.safetensors", tensors, {"format": "pt"})
    config = {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "vocab_size": vocab,
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "intermediate_size": 4 * HIDDEN,
        "max_position_embeddings": 64,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
    }
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modules.json").write_text(
        json.dumps(
            [
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_Normalize",
                    "type": "sentence_transformers.models.Normalize",
                },
            ]
        )
    )
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    (folder / "onnx").mkdir()  # an export of the old weights: must not be copied
    roles = {
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "mask_token": "[MASK]",
        "unk_token": "[UNK]",
    }
    (folder / "special_tokens_map.json").write_text(json.dumps(roles))
    return folder


@pytest.fixture(scope="module")
def bert(tmp_path_factory, wordpiece) -> Path:
    folder = _bert_folder(
        tmp_path_factory.mktemp("enc") / "bert", wordpiece.n_vocab, np.random.default_rng(0)
    )
    wordpiece.save(folder / "tokenizer.json")
    return folder


def test_identity_transplant_gives_identical_embeddings(bert, wordpiece, tmp_path) -> None:
    adapt_model(bert, wordpiece, tmp_path / "same", method="tokenadapt")
    before = sentence_embeddings(bert, wordpiece, SENTENCES)
    after = sentence_embeddings(tmp_path / "same", tf.load(tmp_path / "same" / "tokenizer.json"), SENTENCES)
    assert np.array_equal(before, after)  # cosine 1.0 exactly: every row copied bit for bit


def test_new_tokenizer_gets_encoder_roles(bert, wordpiece, tmp_path) -> None:
    from tokenforge import data

    paragraphs = list(data.english_paragraphs())[:300]
    bpe = tf.train(paragraphs, algorithm="bpe", vocab_size=2000, name="brown-bpe")
    result = adapt_model(bert, bpe, tmp_path / "bpe", method="mean")
    new = tf.load(tmp_path / "bpe" / "tokenizer.json")
    roles = ("[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]")
    assert [new.special_tokens[t] for t in roles] == list(range(bpe.n_vocab, bpe.n_vocab + 5))
    ids = new.encode("the cat", add_special_tokens=True)
    assert ids[0] == new.special_tokens["[CLS]"] and ids[-1] == new.special_tokens["[SEP]"]
    for text in roles:  # special rows copied from the old ids
        assert result.embeddings[new.special_tokens[text]].tobytes() == _old_row(bert, wordpiece, text)
    config = json.loads((tmp_path / "bpe" / "config.json").read_text())
    assert config["vocab_size"] == new.n_vocab and config["pad_token_id"] == new.special_tokens["[PAD]"]
    tok_config = json.loads((tmp_path / "bpe" / "tokenizer_config.json").read_text())
    assert tok_config["mask_token"] == "[MASK]" and tok_config["cls_token"] == "[CLS]"
    assert (tmp_path / "bpe" / "1_Pooling" / "config.json").is_file() and not (
        tmp_path / "bpe" / "onnx"
    ).exists()
    # " the" (byte-level, word start) is WordPiece "the"; "ing" (inside a word) is "##ing".
    for new_token, old_token in ((b" the", "the"), (b"ing", "##ing")):
        new_id = new.token_to_id(new_token)
        if new_id is not None:
            assert result.embeddings[new_id].tobytes() == _old_row(bert, wordpiece, old_token)
    emb = sentence_embeddings(tmp_path / "bpe", new, SENTENCES)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0)


def _old_row(folder: Path, tokenizer: tf.Tokenizer, token: str) -> bytes:
    from tokenforge.adapt import read_model

    return read_model(folder).embeddings[tokenizer.token_to_id(token)].tobytes()


def test_encoder_decoder_is_refused(tmp_path, bert) -> None:
    folder = tmp_path / "t5"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "t5", "is_encoder_decoder": True}))
    with pytest.raises(tf.UnsupportedModelError, match="encoder-decoder"):
        adapt_model(folder, bert / "tokenizer.json", tmp_path / "out")


def test_bad_pooling_config_is_refused(tmp_path, bert, wordpiece) -> None:
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(bert, folder)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_sqrt_len_tokens": True}))
    with pytest.raises(tf.ModelFormatError, match="pooling"):
        sentence_embeddings(folder, wordpiece, SENTENCES)
    with pytest.raises(tf.InvalidArgumentError, match="max_length"):
        sentence_embeddings(bert, wordpiece, SENTENCES, max_length=1)
