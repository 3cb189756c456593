"""`.tfc` counts files: save, load, merge shards, train from them, and reject damaged files."""

from __future__ import annotations

from pathlib import Path

import pytest

import tokenforge as tf
from tokenforge.train import Counts

from .conftest import english


def _merges(tok: tf.Tokenizer) -> tuple[tuple[int, int], ...]:
    merges = tok._full_spec().merges
    assert merges is not None
    return merges


def test_save_load_and_train_from_counts(tmp_path: Path) -> None:
    texts = list(english()[:600])
    counts = tf.count(texts)
    path = counts.save(tmp_path / "c.tfc")
    loaded = Counts.load(path)
    assert loaded.fingerprint() == counts.fingerprint()
    assert loaded.summary() == counts.summary()
    assert loaded.most_common(5) == counts.most_common(5)
    assert path.read_bytes()[:8] == b"TFCOUNTS"
    direct = tf.train(texts, vocab_size=800)
    from_file = tf.train(from_counts=path, vocab_size=800)
    assert _merges(from_file) == _merges(direct)
    # A Counts object can be trained from many times (the table is not consumed).
    first = tf.train(from_counts=loaded, vocab_size=700)
    assert _merges(tf.train(from_counts=loaded, vocab_size=700)) == _merges(first)
    assert loaded.fingerprint() == counts.fingerprint()
    assert from_file.spec.metadata["corpus"]["subword"] == direct.spec.metadata["corpus"]["subword"]  # type: ignore[index]
    # Saving is canonical: the same counts give the same bytes.
    assert loaded.save(tmp_path / "again.tfc").read_bytes() == path.read_bytes()


def test_merging_shards_equals_counting_everything(tmp_path: Path) -> None:
    texts = list(english()[:600])
    a = tf.count(texts[:250]).save(tmp_path / "a.tfc")
    b = tf.count(texts[250:]).save(tmp_path / "b.tfc")
    merged = Counts.load_many([a, b])
    whole = tf.count(texts)
    assert merged.fingerprint() == whole.fingerprint()
    assert merged.corpus["documents"] == 600 and merged.corpus["bytes"] == whole.corpus["bytes"]
    assert _merges(tf.train(from_counts=[a, b], vocab_size=700)) == _merges(tf.train(texts, vocab_size=700))


def test_shards_counted_differently_do_not_merge(tmp_path: Path) -> None:
    a = tf.count(["one two"])
    with pytest.raises(tf.InvalidArgumentError, match="pre-tokenizers"):
        a.merge(tf.count(["one two"], pretokenizer="gpt2"))
    with pytest.raises(tf.InvalidArgumentError, match="excluded tokens"):
        a.merge(tf.count(["one two"], special_tokens=["<s>"]))
    with pytest.raises(tf.InvalidArgumentError, match="normalizers"):
        a.merge(tf.count(["one two"], normalizers=["NFKC"]))


def test_damaged_files_are_rejected(tmp_path: Path) -> None:
    good = tf.count(list(english()[:50])).save(tmp_path / "good.tfc").read_bytes()
    cases = {
        "flipped.tfc": good[:100] + bytes([good[100] ^ 1]) + good[101:],
        "truncated.tfc": good[: len(good) // 2],
        "no-checksum.tfc": good[:-32],
        "magic.tfc": b"NOTCOUNT" + good[8:],
        "version.tfc": good[:8] + (9).to_bytes(4, "little") + good[12:],
        "trailing.tfc": good + b"x",
    }
    messages = {
        "flipped.tfc": "checksum|corrupt",
        "truncated.tfc": "truncated",
        "no-checksum.tfc": "truncated|checksum",
        "magic.tfc": "not a tokenforge counts file",
        "version.tfc": "version 9",
        "trailing.tfc": "trailing data",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(tf.CorpusError, match=messages[name]):
            Counts.load(tmp_path / name)


def test_superbpe_counts_carry_both_tables(tmp_path: Path) -> None:
    texts = list(english()[:400])
    counts = tf.count(texts, algorithm="superbpe")
    assert set(counts.tables) == {"subword", "superword"}
    path = counts.save(tmp_path / "s.tfc")
    direct = tf.train(texts, vocab_size=900, algorithm="superbpe", transition=400)
    again = tf.train(from_counts=path, vocab_size=900, algorithm="superbpe", transition=400)
    assert _merges(again) == _merges(direct)
    with pytest.raises(tf.InvalidArgumentError, match="no 'superword' table"):
        tf.train(from_counts=tf.count(texts), vocab_size=900, algorithm="superbpe", transition=400)


def test_domain_tokens_must_have_been_excluded_when_counting(tmp_path: Path) -> None:
    path = tf.count(["alpha <GENE> beta"]).save(tmp_path / "c.tfc")
    with pytest.raises(tf.InvalidArgumentError, match="were not excluded"):
        tf.train(from_counts=path, vocab_size=300, domain_tokens=["<GENE>"])
    path = tf.count(["alpha <GENE> beta"], domain_tokens=["<GENE>"]).save(tmp_path / "d.tfc")
    tok = tf.train(from_counts=path, vocab_size=300, domain_tokens=["<GENE>"], min_frequency=1)
    assert len(tok.encode("<GENE>")) == 1


def test_a_file_counts_as_its_text_does(tmp_path: Path) -> None:
    # Text files reach the counter as the bytes read, texts as str: the counts are the same.
    text = "".join(t + "\n" for t in english()[:300]) + "naïve café 東京 😀 \u0301x\r\n  tabs\t\t\n"
    path = tmp_path / "corpus.txt"
    path.write_bytes(text.encode("utf-8"))
    from_file = tf.count([path], num_threads=2)
    assert from_file.fingerprint() == tf.count([text], num_threads=1).fingerprint()
    assert from_file.corpus["bytes"] == len(text.encode("utf-8"))


def test_the_counter_rejects_bytes_that_are_not_utf8() -> None:
    from tokenforge import _core
    from tokenforge.train.config import resolve_pretokenizer
    from tokenforge.train.counts import engine_steps

    counter = _core.PieceCounter(engine_steps(resolve_pretokenizer("gpt2")), [], [], True, None)
    counter.add(["fine", b"also fine\n"], 1)
    with pytest.raises(tf.InvalidArgumentError, match="text 1 of the batch is not UTF-8"):
        counter.add(["fine", b"caf\xc3"], 1)
