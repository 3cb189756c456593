"""Corpus readers: every input kind gives the same counts as the same text in memory."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

import tokenforge as tf
from tokenforge.train.corpus import Corpus

DOCS = ["first document\nwith two lines\n", "second one: déjà vu 🙂\n", "third\n"]


def _fingerprint(inputs: object, **kwargs: object) -> str:
    return tf.count(inputs, num_threads=1, **kwargs).fingerprint()  # type: ignore[arg-type]


@pytest.fixture()
def corpus_dir(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text(DOCS[0], encoding="utf-8")
    with gzip.open(root / "sub" / "b.txt.gz", "wt", encoding="utf-8") as f:
        f.write(DOCS[1])
    (root / "sub" / "c.md").write_text(DOCS[2], encoding="utf-8")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")  # skipped in directories
    (root / ".hidden.txt").write_text("never read\n", encoding="utf-8")
    return root


def test_all_input_kinds_count_the_same(corpus_dir: Path, tmp_path: Path) -> None:
    expected = _fingerprint(DOCS)
    assert _fingerprint(corpus_dir) == expected
    assert _fingerprint(str(corpus_dir)) == expected
    files = [corpus_dir / "a.txt", corpus_dir / "sub" / "b.txt.gz", corpus_dir / "sub" / "c.md"]
    assert _fingerprint(files) == expected
    assert _fingerprint([str(f) for f in files]) == expected
    assert _fingerprint(str(corpus_dir / "**" / "*.txt*")) == _fingerprint(DOCS[:2])
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text(
        "".join(json.dumps({"body": d, "id": i}) + "\n" for i, d in enumerate(DOCS)), encoding="utf-8"
    )
    assert _fingerprint(jsonl, field="body") == expected
    with gzip.open(tmp_path / "docs.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(jsonl.read_text(encoding="utf-8"))
    assert _fingerprint(tmp_path / "docs.jsonl.gz", field="body") == expected
    zstandard = pytest.importorskip("zstandard", reason="make test installs zstandard")
    zst = tmp_path / "docs.txt.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress("".join(DOCS).encode("utf-8")))
    assert _fingerprint(zst) == _fingerprint(["".join(DOCS)])
    assert _fingerprint(iter(DOCS)) == expected  # any iterable, read once


def test_documents_lines_and_samples(corpus_dir: Path) -> None:
    corpus = Corpus(corpus_dir)
    batches = list(corpus.batches())
    assert sum(len(b) for b in batches) == 3
    assert corpus.stats.documents == 3
    assert corpus.stats.samples == ["first document", "with two lines", "second one: déjà vu 🙂"]
    counts = tf.count(corpus_dir)
    assert counts.corpus["documents"] == 3 and counts.corpus["lines"] == 4
    assert counts.corpus["bytes"] == sum(len(d.encode()) for d in DOCS)


def test_long_files_stream_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    line = "x" * 99 + "\n"
    path.write_text(line * 30_000, encoding="utf-8")  # 3 MB
    corpus = Corpus(path, batch_bytes=1 << 20)
    sizes = [sum(len(t) for t in b) for b in corpus.batches()]
    assert len(sizes) == 3 and sum(sizes) == 3_000_000
    # A line longer than the read size is cut at a character boundary, never inside a character.
    wide = tmp_path / "wide.txt"
    wide.write_text("é" * 2_000_000, encoding="utf-8")
    chunks = [t for b in Corpus(wide).batches() for t in b]  # each one decodes on its own
    assert "".join(t.decode("utf-8") if isinstance(t, bytes) else t for t in chunks) == "é" * 2_000_000


def test_reader_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(tf.CorpusError, match="not a file, a directory or a glob"):
        tf.count(tmp_path / "missing.txt")
    with pytest.raises(tf.CorpusError, match="matches no files"):
        tf.count(str(tmp_path / "*.nothing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(tf.CorpusError, match="holds no corpus files"):
        tf.count(tmp_path / "empty")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\nbad \xff byte\n")
    with pytest.raises(tf.CorpusError, match=r"invalid UTF-8 at byte 14"):
        tf.count(bad)
    records = tmp_path / "r.jsonl"
    records.write_text('{"text": "ok"}\n{"body": "no text"}\n', encoding="utf-8")
    with pytest.raises(tf.CorpusError, match=r"line 2: no field 'text' \(found: body\)"):
        tf.count(records)
    records.write_text('{"text": "ok"}\nnot json\n', encoding="utf-8")
    with pytest.raises(tf.CorpusError, match="line 2: not valid JSON"):
        tf.count(records)
    records.write_text('{"text": 5}\n', encoding="utf-8")
    with pytest.raises(tf.CorpusError, match="is int, not a string"):
        tf.count(records)
    with pytest.raises(tf.CorpusError, match="item 1 is int"):
        tf.count(iter(["ok", 5]))
    with pytest.raises(tf.CorpusError, match="empty"):
        tf.count([""])
    real = tmp_path / "real.txt"
    real.write_text("hello\n", encoding="utf-8")
    with pytest.raises(tf.CorpusError, match="mix paths"):
        tf.count([str(real), "just some text"])


def test_texts_with_lone_surrogates_are_counted_as_replacement_chars() -> None:
    counts = tf.count(["ok \ud800 ok"], pretokenizer=r"\S+|\s+")
    assert counts.table("subword").get("\ufffd".encode()) == 1
