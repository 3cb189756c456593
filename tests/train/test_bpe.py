"""Byte-level BPE training: the result, HF compatibility, metadata and determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tokenforge as tf
from tokenforge.train import TrainConfig, verify

from .conftest import PROBES, code, english, hf_ids_match


@pytest.fixture(scope="module")
def bpe(english_file: Path) -> tf.Tokenizer:
    return tf.train(english_file, vocab_size=1500, special_tokens=["<|endoftext|>", "<|pad|>"], num_threads=2)


def test_vocabulary_layout_and_roundtrip(bpe: tf.Tokenizer) -> None:
    assert bpe.n_vocab == 1500
    assert bpe.special_tokens == {"<|endoftext|>": 1498, "<|pad|>": 1499}
    for b in range(256):
        assert bpe.decode_single_token_bytes(b) == bytes([b])
    # Learned tokens come in merge order: each is two earlier tokens.
    full = bpe._full_spec()
    assert full.merges is not None and len(full.merges) == 1498 - 256
    for rank, (left, right) in enumerate(full.merges):
        assert max(left, right) < 256 + rank
    for text in (*PROBES, *english()[:50]):
        assert bpe.decode(bpe.encode(text)) == text
    assert bpe.encode("the") == [bpe.token_to_id(b"the")]


def test_compresses_like_a_bpe_should(bpe: tf.Tokenizer) -> None:
    text = "\n".join(english()[:200])
    assert len(text.encode()) / len(bpe.encode_ordinary(text)) > 2.5


def test_saved_file_encodes_identically_in_hf_tokenizers(bpe: tf.Tokenizer, tmp_path: Path) -> None:
    path = bpe.save(tmp_path / "tokenizer.json")
    texts = [*PROBES, "<|endoftext|>x<|pad|>", *english()[:300], *code()[:5]]
    assert hf_ids_match(bpe, path, texts) == []
    again = tf.load(path)
    assert [again.encode(t) for t in PROBES] == [bpe.encode(t) for t in PROBES]
    # The preset comes back in its own spelling (so the hand-written pre-tokenizer is used).
    assert again.spec.pre_tokenizer[0].pattern == tf.PATTERNS["cl100k"]  # type: ignore[union-attr]


def test_saved_file_loads_in_transformers(bpe: tf.Tokenizer, tmp_path: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    path = bpe.save(tmp_path / "tokenizer.json")
    fast = PreTrainedTokenizerFast(tokenizer_file=str(path))
    for text in (*PROBES, "a <|endoftext|> b", *english()[:20]):
        assert fast(text, add_special_tokens=False)["input_ids"] == bpe.encode(text, allowed_special="all")


def test_metadata_block(bpe: tf.Tokenizer, tmp_path: Path, english_file: Path) -> None:
    path = bpe.save(tmp_path / "tokenizer.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert "tokenforge" not in doc  # HF rejects unknown top-level keys
    meta = doc["model"]["tokenforge"]
    assert meta["library"] == "tokenforge" and meta["version"] == tf.__version__
    assert meta["kind"] == "trained"
    config = TrainConfig.from_json(meta["config"])
    assert config.vocab_size == 1500 and config.special_tokens == ("<|endoftext|>", "<|pad|>")
    assert meta["config"]["pretokenizer"]["preset"] == "cl100k"
    corpus = meta["corpus"]
    assert corpus["bytes"] == english_file.stat().st_size
    assert corpus["documents"] == 1 and corpus["lines"] == len(english())
    assert len(corpus["subword"]["sha256"]) == 64
    assert meta["training"]["learned_tokens"] == 1498 - 256
    samples = meta["self_test"]["samples"]
    assert len(samples) >= 5 and any(s["text"] == english()[0][:200] for s in samples)
    assert tf.load(path).spec.metadata == meta
    report = verify(path, hf=True)
    assert report.ok and report.engines == ["tokenforge", "tokenizers"]


def test_verify_catches_a_changed_file(bpe: tf.Tokenizer, tmp_path: Path) -> None:
    path = bpe.save(tmp_path / "tokenizer.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["model"]["merges"] = doc["model"]["merges"][:-300]  # as if truncated by hand
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    report = verify(path)
    assert not report.ok and report.failures
    plain = tf.load("cl100k_base")
    with pytest.raises(tf.InvalidVocabularyError, match="self-test"):
        verify(plain)


def test_training_is_deterministic_across_runs_and_threads(english_file: Path, tmp_path: Path) -> None:
    # Several 256 KiB tasks per batch, so two threads really split the work.
    corpus = tmp_path / "big.txt"
    corpus.write_text("\n".join(english() * 2) + "\n", encoding="utf-8")
    outputs = []
    for run, threads in enumerate((1, 2, 2)):
        tok = tf.train(corpus, vocab_size=1200, num_threads=threads, special_tokens=["<|eos|>"])
        outputs.append(tok.save(tmp_path / f"run{run}.json").read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
    # The same lines given as an iterable (documents instead of one file) give the same merges.
    lines = [p + "\n" for p in english() * 2]
    from_texts = tf.train(lines, vocab_size=1200, num_threads=2, special_tokens=["<|eos|>"])
    assert from_texts._full_spec().merges == tf.load(tmp_path / "run0.json")._full_spec().merges


def test_ties_do_not_depend_on_input_order() -> None:
    words = ["alpha beta gamma", "delta epsilon", "zeta eta theta"]
    a = tf.train(words * 3, vocab_size=290, num_threads=1)
    b = tf.train(list(reversed(words)) * 3, vocab_size=290, num_threads=2)
    assert a._full_spec().merges == b._full_spec().merges


def test_min_frequency_stops_early_and_is_reported() -> None:
    tok = tf.train(["abcd abcd", "xyz"], vocab_size=1000, min_frequency=2)
    meta = tok.spec.metadata
    assert meta is not None
    assert tok.n_vocab < 1000
    assert "no pair left" in meta["training"]["stop"]


def test_max_token_length_in_bytes() -> None:
    tok = tf.train(["internationalization " * 20], vocab_size=400, max_token_length=4, min_frequency=1)
    assert all(len(b) <= 4 for b, _ in tok._full_spec().vocab.items())


def test_custom_regex_and_line_boundaries() -> None:
    texts = ["one two\nthree four\n"] * 20
    with_lines = tf.train(texts, vocab_size=300, pretokenizer=r"\S+|\s+", min_frequency=1)
    vocab = set(with_lines._full_spec().vocab)
    assert not any(b"\n" in t and len(t) > 1 and not t.endswith(b"\n") for t in vocab)
    crossing = tf.train(
        texts, vocab_size=300, pretokenizer=r"[^ ]+| ", line_boundaries=False, min_frequency=1
    )
    assert any(b"\nthree" in t or b"two\nthree" in t for t in crossing._full_spec().vocab)


def test_bad_arguments_are_typed_errors() -> None:
    with pytest.raises(tf.InvalidArgumentError, match="too small"):
        tf.train(["x"], vocab_size=200)
    with pytest.raises(tf.InvalidArgumentError, match="unknown pre-tokenizer preset"):
        tf.train(["x"], vocab_size=300, pretokenizer="cl100K")
    with pytest.raises(tf.InvalidArgumentError, match="listed twice"):
        tf.train(["x"], vocab_size=300, special_tokens=["<a>", "<a>"])
    with pytest.raises(tf.InvalidArgumentError, match="algorithm"):
        tf.train(["x"], vocab_size=300, algorithm="wordpiece")  # type: ignore[arg-type]
    with pytest.raises(tf.InvalidArgumentError, match="pre-tokenizer"):
        tf.train(["x"], vocab_size=300, pretokenizer="(unclosed")
    with pytest.raises(tf.InvalidArgumentError, match="num_threads"):
        tf.train(["x"], vocab_size=300, num_threads=0)


def test_progress_callback_sees_every_phase(english_texts: tuple[str, ...]) -> None:
    events: list[dict[str, object]] = []
    tf.train(list(english_texts[:100]), vocab_size=400, progress=events.append)
    phases = [(e["event"], e["phase"]) for e in events if e["event"] in ("start", "end")]
    assert phases == [("start", "count"), ("end", "count"), ("start", "merge"), ("end", "merge")]
    assert events[-1]["event"] == "note"
    end = next(e for e in events if e["event"] == "end" and e["phase"] == "merge")
    assert end["done"] == 400 - 256 and end["rate"]


def test_tiktoken_export(bpe: tf.Tokenizer, tmp_path: Path) -> None:
    from tokenforge.train import save_tiktoken

    path, differing = save_tiktoken(bpe, tmp_path / "t.tiktoken")
    assert differing == 0
    ranks = tf.load_tiktoken(path, pattern=bpe.pattern, special_tokens=dict(bpe.special_tokens))
    for text in english()[:100]:
        assert ranks.encode(text) == bpe.encode(text)
