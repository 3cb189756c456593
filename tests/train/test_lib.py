"""LiB training: a frozen Unigram Tokenizer (tokenizer.json for HF, .model for sentencepiece, the
same ids everywhere), deterministic for any thread count, paper defaults, progress, typed errors."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from pathlib import Path

import pytest

import tokenforge as tf
from tokenforge.errors import CorpusError, InvalidArgumentError
from tokenforge.train import LibConfig, TrainConfig

from .conftest import PROBES, code, english

spm = pytest.importorskip("sentencepiece")
tokenizers = pytest.importorskip("tokenizers")

TEXTS = [*english()[:200], *code()[:20], *PROBES, "  two leading spaces", "trailing  ", "ünïcödé 東京 🙂"]


@pytest.fixture(scope="module")
def lib() -> tf.Tokenizer:
    return tf.train(list(english()), algorithm="lib", vocab_size=2000, num_threads=2)


def _pieces(tok: tf.Tokenizer) -> list[str]:
    return [piece for piece, _score in tok.to_hf_json()["model"]["vocab"]]


def test_small_corpus_trains_in_seconds() -> None:
    t0 = time.perf_counter()
    tok = tf.train(list(english()), algorithm="lib", vocab_size=1000)
    assert time.perf_counter() - t0 < 30  # about 0.2 s here; generous for a loaded CI machine
    assert tok.n_vocab == 1000


def test_same_ids_in_tokenforge_hf_and_sentencepiece(lib: tf.Tokenizer, tmp_path: Path) -> None:
    assert lib.model_kind == "Unigram" and lib.n_vocab == 2000
    hf = tokenizers.Tokenizer.from_file(str(lib.save(tmp_path / "tokenizer.json")))
    sp = spm.SentencePieceProcessor(model_file=str(lib.save(tmp_path / "lib.model")))
    # A trained Unigram tokenizer is a SentencePiece model: tokenforge follows sentencepiece
    # everywhere. HF breaks exact Viterbi ties (the same pieces in another order, as in runs of
    # "-" in code) differently and sums scores in double; on prose there are none.
    for text in TEXTS:
        ids = lib.encode(text)
        assert ids == sp.encode(text), text
        assert lib.decode(ids) == sp.decode(ids) == text
    for text in english()[:300]:
        assert lib.encode(text) == hf.encode(text, add_special_tokens=False).ids, text
    assert 0 not in lib.encode("ünïcödé 東京 🙂")  # byte fallback, no <unk>


def test_vocabulary_and_metadata(lib: tf.Tokenizer) -> None:
    pieces = _pieces(lib)
    assert pieces[:4] == ["<unk>", "<s>", "</s>", "<0x00>"] and len(set(pieces)) == len(pieces)
    # LiB learns multi-word chunks (the paper lets chunks span spaces), and every character.
    assert any(p.count("\u2581") >= 2 and len(p) > 5 for p in pieces), pieces[259:400]
    # character_coverage 0.9995 keeps the frequent characters (the rare ones fall back to bytes).
    chars = Counter("".join(english()).replace(" ", "\u2581"))
    assert {c for c, _n in chars.most_common(60)} <= set(pieces)
    meta = lib.spec.metadata
    assert meta is not None and meta["kind"] == "trained"
    training = meta["training"]
    assert training["stop"] == "vocab_size" and training["learned_tokens"] == 2000 - 259
    assert training["lexicon_size"] > training["learned_tokens"]
    assert training["chars_per_token"] > 2.0
    config = TrainConfig.from_json(meta["config"])
    assert config == LibConfig(vocab_size=2000)
    # The paper's settings are the defaults.
    assert (config.in_rate, config.out_rate, config.life, config.update_rate) == (0.25, 0.0001, 10, 0.2)
    assert (config.max_chunk_length, config.article_sentences) == (12, 500)


def test_deterministic_for_any_thread_count_and_seeded(tmp_path: Path) -> None:
    texts = list(english()[:600])
    shas = set()
    for threads in (1, 2, 3):
        tok = tf.train(texts, algorithm="lib", vocab_size=900, num_threads=threads)
        shas.add(hashlib.sha256(tok.save(tmp_path / f"{threads}.json").read_bytes()).hexdigest())
        model = tok.save(tmp_path / f"{threads}.model").read_bytes()
        assert model == (tmp_path / "1.model").read_bytes()
    assert len(shas) == 1
    other = tf.train(texts, algorithm="lib", vocab_size=900, seed=1)
    assert _pieces(other) != _pieces(tok)


def test_inspect_context(tmp_path: Path) -> None:
    """The later revision's context check: deterministic, recorded in the config, and it changes
    what is learned; the default (off) is the paper's reader."""
    texts = list(english()[:600])
    plain = tf.train(texts, algorithm="lib", vocab_size=900)
    shas = set()
    for threads in (1, 2):
        tok = tf.train(texts, algorithm="lib", vocab_size=900, inspect_context=True, num_threads=threads)
        shas.add(hashlib.sha256(tok.save(tmp_path / f"{threads}.json").read_bytes()).hexdigest())
    assert len(shas) == 1
    assert _pieces(tok) != _pieces(plain)
    meta = tok.spec.metadata
    assert meta is not None
    assert TrainConfig.from_json(meta["config"]) == LibConfig(vocab_size=900, inspect_context=True)
    assert LibConfig(vocab_size=900).inspect_context is False
    assert tf.load(tmp_path / "1.json").encode_batch(TEXTS) == tok.encode_batch(TEXTS)


def test_save_load_round_trip(lib: tf.Tokenizer, tmp_path: Path) -> None:
    for name in ("tokenizer.json", "lib.model"):
        loaded = tf.load(lib.save(tmp_path / name))
        assert loaded.encode_batch(TEXTS) == lib.encode_batch(TEXTS), name
    again = tf.load(tmp_path / "lib.model").save(tmp_path / "again.model")
    assert again.read_bytes() == (tmp_path / "lib.model").read_bytes()
    assert tf.load(tmp_path / "tokenizer.json").spec.metadata == lib.spec.metadata


def test_options_and_from_counts(tmp_path: Path) -> None:
    texts = list(english()[:400])
    words = tf.train(texts, algorithm="lib", vocab_size=800, within_words=True, max_chunk_length=6)
    learned = _pieces(words)[259:]
    assert all(len(p) <= 6 for p in learned)
    assert not any("\u2581" in p[1:] for p in learned), [p for p in learned if "\u2581" in p[1:]][:5]
    counts = tf.count(texts, algorithm="lib")
    path = counts.save(tmp_path / "c.tfc")
    direct = tf.train(texts, algorithm="lib", vocab_size=700, passes=2)
    from_counts = tf.train(from_counts=path, algorithm="lib", vocab_size=700, passes=2)
    assert _pieces(direct) == _pieces(from_counts)
    assert direct.spec.metadata["training"]["passes"] == 2
    with pytest.raises(InvalidArgumentError, match="no 'words' table"):
        tf.train(from_counts=path, algorithm="lib", vocab_size=700, within_words=True)


def test_progress_reports_articles() -> None:
    events: list[dict[str, object]] = []
    tf.train(list(english()), algorithm="lib", vocab_size=800, article_sentences=100, progress=events.append)
    phase = [e for e in events if e.get("phase") == "lib"]
    assert phase[0]["event"] == "start" and phase[0]["total"] == 15
    assert phase[-1]["event"] == "end" and phase[-1]["done"] == 15


def test_empty_and_degenerate_corpora() -> None:
    for empty in ([], [""], ["\n\n", "\r\n"]):
        with pytest.raises(CorpusError):
            tf.train(empty, algorithm="lib", vocab_size=1000)
    one = tf.train(["a" * 200] * 30, algorithm="lib", vocab_size=1000)
    assert one.decode(one.encode("aaaa b")) == "aaaa b"
    assert one.spec.metadata["training"]["stop"].startswith("lexicon exhausted")
    spaces = tf.train(["   ", "  "], algorithm="lib", vocab_size=400)
    assert spaces.encode("   ") and spaces.decode(spaces.encode("   ")) == "   "
    with pytest.raises(InvalidArgumentError, match="single characters"):
        tf.train(
            ["".join(chr(0x4E00 + i) for i in range(3000))],
            algorithm="lib",
            vocab_size=400,
            byte_fallback=False,
            character_coverage=1.0,
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"vocab_size": 100}, "too small"),
        ({"vocab_size": 1000, "in_rate": 1.5}, "in_rate"),
        ({"vocab_size": 1000, "out_rate": -0.1}, "out_rate"),
        ({"vocab_size": 1000, "life": 0}, "life"),
        ({"vocab_size": 1000, "passes": 0}, "passes"),
        ({"vocab_size": 1000, "max_chunk_length": 0}, "max_chunk_length"),
        ({"vocab_size": 1000, "seed": -1}, "seed"),
        ({"vocab_size": 1000, "character_coverage": 0}, "character_coverage"),
        ({"vocab_size": 1000, "transition": 3}, "lib has no option transition"),
    ],
)
def test_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        tf.train(["some text"], algorithm="lib", **options)


def test_cli(tmp_path: Path, english_file: Path) -> None:
    from tokenforge.cli import main

    out = tmp_path / "lib"
    args = ["train", str(english_file), "--algorithm", "lib", "--vocab-size", "900", "-q", "-o", str(out)]
    assert main([*args, "--life", "5", "--seed", "3"]) == 0
    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))
    tok = tf.load(out / "tokenizer.json")
    assert sp.get_piece_size() == tok.n_vocab == 900
    assert tok.encode(english()[0]) == sp.encode(english()[0])
    config = TrainConfig.from_json(tok.spec.metadata["config"])
    assert isinstance(config, LibConfig) and (config.life, config.seed) == (5, 3)


def test_appears_in_the_evaluation_beside_bpe_and_unigram(lib: tf.Tokenizer) -> None:
    texts = list(english())
    bpe = tf.train(texts, vocab_size=2000, name="bpe-2000")
    unigram = tf.train(texts, algorithm="unigram", vocab_size=2000, name="unigram-2000")
    result = tf.evaluate([bpe, unigram, lib], "english", metrics=["compression", "vocabulary"], samples=False)
    assert not result.failures
    rows = {row["tokenizer"]: row for row in result.summary_table()}
    assert set(rows) == {"bpe-2000", "unigram-2000", "trained"}
    for row in rows.values():
        assert row["bytes_per_token"] > 2.0 and 0 < row["utilization"] <= 1
