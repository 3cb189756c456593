"""HF model folders through `tokenforge adapt` and `adapt.extend`: round trips, tied/untied, shards,
bit-identical old rows, and clear errors on missing or corrupt inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tokenforge as tf
from tokenforge.adapt import extend, extend_tokenizer, read_model
from tokenforge.adapt.safetensors_io import SafetensorsFile, bf16_to_f32, f32_to_bf16, write_safetensors
from tokenforge.cli import main

st = pytest.importorskip("safetensors.numpy", reason="safetensors is installed by `make test`")


def _load_dir(folder: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for file in sorted(folder.glob("*.safetensors")):
        out |= st.load_file(str(file))
    return out


@pytest.mark.parametrize(("tied", "sharded"), [(True, False), (False, False), (False, True)])
def test_cli_adapt_round_trip(make_model, tmp_path, old_tok, new_tok, emb, out_emb, tied, sharded, capsys):
    model = make_model(tied=tied, sharded=sharded)
    new_path = new_tok.save(tmp_path / "new.json")
    out = tmp_path / "adapted"
    code = main(["adapt", "--model", str(model), "-t", str(new_path), "-o", str(out), "--method", "mean"])
    assert code == 0, capsys.readouterr().err
    assert "copied" in capsys.readouterr().out
    tensors = _load_dir(out)  # the safetensors package reads what we wrote
    before = _load_dir(model)
    new_emb = tensors["model.embed_tokens.weight"]
    assert new_emb.shape == (new_tok.n_vocab, 16)
    assert new_emb[256].tobytes() == emb[257].tobytes()  # "cd" moved from id 257 to 256, bit-identical
    np.testing.assert_allclose(new_emb[259], emb[[258, 120, 121]].mean(axis=0), rtol=1e-6)
    assert ("lm_head.weight" in tensors) is (not tied)
    if not tied:
        assert tensors["lm_head.weight"][256].tobytes() == out_emb[257].tobytes()
    for key in ("model.layers.0.mlp.weight", "model.norm.weight"):
        assert tensors[key].tobytes() == before[key].tobytes()
    config = json.loads((out / "config.json").read_text())
    assert config["vocab_size"] == new_tok.n_vocab and config["tie_word_embeddings"] is tied
    assert config["eos_token_id"] == new_tok.special_tokens["<eos>"] == 264
    assert json.loads((out / "generation_config.json").read_text())["eos_token_id"] == [264, 5]
    assert tf.load(out / "tokenizer.json").encode("abcdxy thecd") == new_tok.encode("abcdxy thecd")
    assert json.loads((out / "tokenizer_config.json").read_text())["eos_token"] == "<eos>"
    assert (out / "README.md").is_file()
    if sharded:
        index = json.loads((out / "model.safetensors.index.json").read_text())
        assert set(index["weight_map"]) == set(tensors)
        assert index["metadata"]["total_size"] == sum(t.nbytes for t in tensors.values())


def test_read_model_finds_tied_and_untied(make_model) -> None:
    tied = read_model(make_model(tied=True, name="a"))
    untied = read_model(make_model(tied=False, name="b"))
    assert tied.tied and tied.input_key == "model.embed_tokens.weight"
    assert not untied.tied and untied.output_key == "lm_head.weight"


def test_bf16_round_trip_is_exact(tmp_path) -> None:
    bits = np.random.default_rng(0).integers(0, 2**16, size=(64, 8), dtype=np.uint16)
    bits[(bits & 0x7F80) == 0x7F80] = 0x3F80  # no inf/NaN patterns
    assert f32_to_bf16(bf16_to_f32(bits)).tobytes() == bits.tobytes()
    assert f32_to_bf16(np.array([1.00390625, 1.01171875], np.float32)).tolist() == [
        0x3F80,
        0x3F82,
    ]  # ties to even
    write_safetensors(tmp_path / "x.safetensors", {"w": ("BF16", bits.shape, bits.tobytes())})
    assert SafetensorsFile(tmp_path / "x.safetensors").raw("w") == bits.tobytes()


def test_our_writer_is_read_by_safetensors(tmp_path) -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_safetensors(tmp_path / "y.safetensors", {"a": ("F32", a.shape, a.tobytes())}, {"format": "pt"})
    np.testing.assert_array_equal(st.load_file(str(tmp_path / "y.safetensors"))["a"], a)


def test_extend_keeps_old_rows_bit_identical(make_model, tmp_path, old_tok, emb, out_emb) -> None:
    model = make_model(tied=False)
    result = extend(model, None, ["xyz", "abcdabcd", "ab"], tmp_path / "ext", method="mean")
    tok = result.tokenizer
    assert tok.n_vocab > old_tok.n_vocab
    assert len(tok.encode("xyz")) == 1 and len(tok.encode("abcdabcd")) == 1
    for i in range(old_tok.n_vocab):
        assert tok.decode_single_token_bytes(i) == old_tok.decode_single_token_bytes(i)
    tensors = _load_dir(tmp_path / "ext")
    new_emb, new_out = tensors["model.embed_tokens.weight"], tensors["lm_head.weight"]
    assert new_emb[: old_tok.n_vocab].tobytes() == emb.tobytes()
    assert new_out[: old_tok.n_vocab].tobytes() == out_emb.tobytes()
    abcdabcd = tok.encode("abcdabcd")[0]
    np.testing.assert_allclose(new_emb[abcdabcd], emb[258], rtol=1e-6)  # mean of abcd + abcd
    assert tf.load(tmp_path / "ext").encode("xyz abcdabcd") == tok.encode("xyz abcdabcd")


def test_extend_with_an_extended_tokenizer_and_its_checks(make_model, tmp_path, old_tok, new_tok) -> None:
    model = make_model()
    ext = extend_tokenizer(old_tok, ["qq"])
    result = extend(model, old_tok, ext, tmp_path / "e1", method="random", seed=3)
    assert result.new_ids == [ext.token_to_id(b"qq")]
    with pytest.raises(tf.InvalidArgumentError, match="old ids must be kept"):
        extend(model, old_tok, new_tok, tmp_path / "e2")
    with pytest.raises(tf.InvalidArgumentError, match="pre-tokenizer splits"):
        extend_tokenizer(old_tok, ["two words"])


def test_extend_from_a_corpus_trains_new_tokens(make_model, tmp_path, old_tok, emb) -> None:
    model = make_model(tied=True)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("zebra quartz zebra quartz zebras\n" * 50, encoding="utf-8")
    result = extend(model, None, str(corpus), tmp_path / "ext", n_new_tokens=5, method="mean")
    tok = result.tokenizer
    assert tok.n_vocab == old_tok.n_vocab + len(result.new_ids) and 1 <= len(result.new_ids) <= 5
    for i in range(old_tok.n_vocab):
        assert tok.decode_single_token_bytes(i) == old_tok.decode_single_token_bytes(i)
    assert len(tok.encode(" zebra")) < len(old_tok.encode(" zebra"))
    new_emb = _load_dir(tmp_path / "ext")["model.embed_tokens.weight"]
    assert new_emb[: old_tok.n_vocab].tobytes() == emb.tobytes()
    assert tf.load(tmp_path / "ext").encode("zebra quartz") == tok.encode("zebra quartz")
    with pytest.raises(tf.InvalidArgumentError, match="n_new_tokens"):
        extend(model, None, str(corpus), tmp_path / "e4")


def test_model_errors_are_clear(make_model, tmp_path, new_tok) -> None:
    with pytest.raises(tf.ModelFormatError, match="model folder not found"):
        read_model(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(tf.ModelFormatError, match=r"missing config\.json"):
        read_model(empty)
    (empty / "config.json").write_text("{}")
    (empty / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(tf.ModelFormatError, match="convert them to safetensors"):
        read_model(empty)
    model = make_model()
    weights = model / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(tf.ModelFormatError, match="truncated or corrupt"):
        read_model(model)
    weights.write_bytes(b"\xff" * 64)
    with pytest.raises(tf.ModelFormatError, match="corrupt safetensors header"):
        read_model(model)


def test_cli_reports_mismatched_tokenizer(make_model, tmp_path, capsys) -> None:
    model = make_model()
    ranks = {bytes([b]): b for b in range(256)} | {bytes([97, b]): 256 + b for b in range(64)}
    tf.Tokenizer.from_ranks(ranks, r"\S+", name="big").save(model / "tokenizer.json")  # 320 ids, 262 rows
    code = main(
        ["adapt", "--model", str(model), "-t", str(model / "tokenizer.json"), "-o", str(tmp_path / "o")]
    )
    assert code == 2
    assert "262 rows" in capsys.readouterr().err
    code = main(["adapt", "--model", str(tmp_path / "missing"), "-t", "x", "-o", str(tmp_path / "o")])
    assert code == 2


def test_cli_map_special_needs_pairs(make_model, tmp_path, new_tok, capsys) -> None:
    model = make_model()
    new_path = new_tok.save(tmp_path / "new.json")
    argv = ["adapt", "--model", str(model), "-t", str(new_path), "-o", str(tmp_path / "o")]
    assert main([*argv, "--map-special", "<pad>"]) == 2
    assert "NEW=OLD" in capsys.readouterr().err
    assert main([*argv, "--map-special", "<pad>=<eos>", "--method", "focus", "-q"]) == 0
    tensors = _load_dir(tmp_path / "o")
    assert (
        tensors["model.embed_tokens.weight"][265].tobytes()
        == _load_dir(model)["model.embed_tokens.weight"][261].tobytes()
    )
