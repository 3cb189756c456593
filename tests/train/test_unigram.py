"""Unigram training: a frozen Tokenizer whose tokenizer.json loads in HF tokenizers and whose
.model loads in sentencepiece, all three with identical ids; layout, options, progress,
determinism and bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import tokenforge as tf
from tokenforge.errors import CorpusError, InvalidArgumentError
from tokenforge.train import TrainConfig, UnigramConfig

from .conftest import PROBES, code, english

spm = pytest.importorskip("sentencepiece")
tokenizers = pytest.importorskip("tokenizers")

TEXTS = [*english()[:300], *code()[:20], *PROBES, "  two leading spaces", "trailing  "]


@pytest.fixture(scope="module")
def unigram() -> tf.Tokenizer:
    return tf.train(list(english()), algorithm="unigram", vocab_size=1500, num_threads=2)


def _both(tok: tf.Tokenizer, tmp_path: Path) -> tuple[object, object]:
    hf = tokenizers.Tokenizer.from_file(str(tok.save(tmp_path / "tokenizer.json")))
    sp = spm.SentencePieceProcessor(model_file=str(tok.save(tmp_path / "tok.model")))
    return hf, sp


def _pieces(tok: tf.Tokenizer) -> list[str]:
    return [piece for piece, _score in tok.to_hf_json()["model"]["vocab"]]


def test_hf_and_sentencepiece_give_identical_ids(unigram: tf.Tokenizer, tmp_path: Path) -> None:
    assert isinstance(unigram, tf.Tokenizer) and unigram.model_kind == "Unigram"
    hf, sp = _both(unigram, tmp_path)
    assert sp.get_piece_size() == hf.get_vocab_size() == unigram.n_vocab == 1500
    for text in TEXTS:
        ids = sp.encode(text)
        assert hf.encode(text, add_special_tokens=False).ids == ids, text
        assert unigram.encode(text) == ids, text
        assert sp.decode(ids) == text == unigram.decode(ids)
    assert sp.id_to_piece(0) == "<unk>" and sp.id_to_piece(3) == "<0x00>" and sp.is_byte(258)
    rare = "ünïcödé 東京 🙂 \x07"
    assert sp.decode(sp.encode(rare)) == rare  # byte fallback, no <unk>
    assert 0 not in sp.encode(rare)


def test_layout_and_metadata(unigram: tf.Tokenizer, tmp_path: Path) -> None:
    pieces = _pieces(unigram)
    assert pieces[:4] == ["<unk>", "<s>", "</s>", "<0x00>"] and pieces[258] == "<0xFF>"
    learned = [score for _p, score in unigram.to_hf_json()["model"]["vocab"][259:]]
    assert learned == sorted(learned, reverse=True)
    assert "\u2581the" in pieces and len(set(pieces)) == len(pieces)
    meta = unigram.spec.metadata
    assert meta is not None
    assert meta["kind"] == "trained" and meta["training"]["stop"] == "vocab_size"
    assert TrainConfig.from_json(meta["config"]) == UnigramConfig(vocab_size=1500)
    assert len(meta["corpus"]["words"]["sha256"]) == 64
    assert meta["self_test"]
    # The saved files load back as the same tokenizer; the .model is rewritten bit for bit.
    model = unigram.save(tmp_path / "u.model")
    again = tf.load(model)
    assert again.encode(TEXTS[0]) == unigram.encode(TEXTS[0])
    assert again.save(tmp_path / "again.model").read_bytes() == model.read_bytes()
    loaded = tf.load(unigram.save(tmp_path / "tokenizer.json"))
    assert loaded.encode_batch(TEXTS) == unigram.encode_batch(TEXTS)
    assert loaded.spec.metadata == meta


def test_progress_reports_every_em_round() -> None:
    events: list[dict[str, object]] = []
    tok = tf.train(list(english()[:300]), algorithm="unigram", vocab_size=700, progress=events.append)
    rounds = [e for e in events if e.get("phase") == "unigram"]
    assert rounds[0]["event"] == "start" and rounds[-1]["event"] == "end"
    assert rounds[-1]["done"] == tok.spec.metadata["training"]["em_rounds"] > 2


def test_deterministic_for_any_thread_count(tmp_path: Path) -> None:
    texts = list(english()[:400])
    shas = set()
    for threads in (1, 2, 3):
        tok = tf.train(texts, algorithm="unigram", vocab_size=800, num_threads=threads)
        shas.add(hashlib.sha256(tok.save(tmp_path / f"{threads}.json").read_bytes()).hexdigest())
    assert len(shas) == 1


def test_options(tmp_path: Path) -> None:
    texts = [*english()[:300], "prices 12345 and 67890 in 2025, 31 March 1999"]
    tok = tf.train(
        texts,
        algorithm="unigram",
        vocab_size=700,
        split_digits=True,
        max_piece_length=5,
        byte_fallback=False,
        user_defined_symbols=["<sep>", "[MASK]"],
    )
    pieces = _pieces(tok)
    assert pieces[:5] == ["<unk>", "<s>", "</s>", "<sep>", "[MASK]"] and "<0x00>" not in pieces
    for p in pieces[5:]:
        assert len(p) <= 5
        assert not (len(p) > 1 and any(c.isdigit() for c in p)), p
    hf, sp = _both(tok, tmp_path)
    for text in ("a <sep>", "ünïcödé 2025"):
        assert hf.encode(text, add_special_tokens=False).ids == sp.encode(text), text
    # The documented difference: HF prefixes the text after a user-defined symbol with "▁".
    assert hf.encode("a<sep>b", add_special_tokens=False).tokens[-1] == "\u2581b"
    assert sp.encode("a<sep>b", out_type=str)[-1] == "b"
    assert sp.encode("<sep>")[-1] == 3
    assert 0 in sp.encode("東")  # no byte fallback: unknown


def test_whitespace_as_suffix(tmp_path: Path) -> None:
    tok = tf.train(
        list(english()[:300]), algorithm="unigram", vocab_size=700, treat_whitespace_as_suffix=True
    )
    assert "the\u2581" in _pieces(tok)
    hf, sp = _both(tok, tmp_path)
    text = english()[0]
    pieces = sp.encode(text, out_type=str)
    assert pieces[0].endswith("\u2581") and pieces[-1].endswith("\u2581")
    assert sp.decode(sp.encode(text)).rstrip(" ") == text  # sentencepiece keeps the dummy suffix
    # tokenizer.json expresses the dummy suffix as Replace(\z -> "▁"): same ids everywhere.
    for sample in (*TEXTS[:50], "", " ", "a  b "):
        assert tok.encode(sample) == sp.encode(sample) == hf.encode(sample).ids, sample
        assert tok.decode(tok.encode(sample)) == sp.decode(sp.encode(sample)) == hf.decode(sp.encode(sample))


def test_from_counts_equals_direct(tmp_path: Path) -> None:
    texts = list(english()[:300])
    counts = tf.count(texts, algorithm="unigram")
    path = counts.save(tmp_path / "c.tfc")
    a = tf.train(texts, algorithm="unigram", vocab_size=600)
    b = tf.train(from_counts=path, algorithm="unigram", vocab_size=600)
    assert a.to_hf_json()["model"]["vocab"] == b.to_hf_json()["model"]["vocab"]
    with pytest.raises(InvalidArgumentError, match="no 'words' table"):
        tf.train(from_counts=tf.count(texts), algorithm="unigram", vocab_size=600)


def test_bad_input() -> None:
    with pytest.raises(InvalidArgumentError, match="too small"):
        UnigramConfig(vocab_size=200)
    with pytest.raises(InvalidArgumentError, match="character_coverage"):
        UnigramConfig(vocab_size=2000, character_coverage=1.5)
    with pytest.raises(CorpusError):
        tf.train(["", ""], algorithm="unigram", vocab_size=1000)
    spaces = tf.train(["   \n\n  "], algorithm="unigram", vocab_size=1000)
    assert spaces.spec.metadata["training"]["stop"].startswith("corpus exhausted")
    assert _pieces(spaces)[259:] == ["\u2581"]
    with pytest.raises(InvalidArgumentError, match="single characters"):
        tf.train(
            ["".join(chr(0x4E00 + i) for i in range(3000))],
            algorithm="unigram",
            vocab_size=400,
            byte_fallback=False,
            character_coverage=1.0,
        )


def test_cli(tmp_path: Path, english_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tokenforge.cli import main

    out = tmp_path / "uni"
    assert (
        main(
            [
                "train",
                str(english_file),
                "--algorithm",
                "unigram",
                "--vocab-size",
                "900",
                "-q",
                "--split-digits",
                "--user-defined-symbol",
                "<sep>",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))
    hf = tokenizers.Tokenizer.from_file(str(out / "tokenizer.json"))
    assert sp.get_piece_size() == 900 and sp.piece_to_id("<sep>") == 3
    assert hf.encode("in 2025", add_special_tokens=False).ids == sp.encode("in 2025")
    args = ["train", str(english_file), "--algorithm", "unigram", "--vocab-size", "900", "-q"]
    assert main([*args, "--transition", "5", "-o", str(out)]) == 2
    assert "unigram has no option transition" in capsys.readouterr().err
