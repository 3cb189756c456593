"""Corpus encoding into Megatron shards: round trip, formats, resume after a kill, bad input."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zstandard

import tokenforge as tf
from tokenforge import data
from tokenforge.corpus import ShardReader, encode_corpus, read_corpus

from conftest import load_vocab


def _docs() -> list[str]:
    english = list(data.english_paragraphs()[:300])
    # One line each: in a .txt input every line is a document.
    udhr = [data.udhr_text(c).replace("\n", " ") for c in ("cmn_hans", "arb", "hin", "rus")]
    code = [d["text"].replace("\n", "\\n") for d in data.code_documents()[:5]]
    return english + udhr + code + ["<|endoftext|> looks special but is text", "😀 " * 50]


def _write_inputs(root: Path, docs: list[str]) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    third = len(docs) // 3
    txt = root / "a.txt"
    txt.write_text("\n".join(docs[:third]) + "\n\n", encoding="utf-8")  # a blank line is no document
    jsonl = root / "b.jsonl"
    jsonl.write_text(
        "".join(json.dumps({"text": d, "id": i}) + "\n" for i, d in enumerate(docs[third : 2 * third]))
    )
    rest = docs[2 * third :]
    gz = root / "c.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps({"text": d}) + "\n" for d in rest[: len(rest) // 2])
    zst = root / "d.jsonl.zst"
    records = "".join(json.dumps({"text": d}) + "\n" for d in rest[len(rest) // 2 :])
    zst.write_bytes(zstandard.ZstdCompressor().compress(records.encode("utf-8")))
    # Not corpus files: a directory search skips them.
    (root / "notes.bin").write_bytes(b"\x00\xff binary")
    (root / ".cache").mkdir(exist_ok=True)
    (root / ".cache" / "stale.txt").write_text("never read\n", encoding="utf-8")
    return [txt, jsonl, gz, zst]


def _decoded(tok: tf.Tokenizer, out: Path, eos: int | None) -> list[str]:
    docs = []
    for ids in read_corpus(out):
        ids = ids.tolist()
        if eos is not None:
            assert ids[-1] == eos
            ids = ids[:-1]
        docs.append(tok.decode(ids))
    return docs


def test_roundtrip_three_formats_several_shards(tmp_path: Path, cl100k: tf.Tokenizer) -> None:
    docs = _docs()
    _write_inputs(tmp_path / "in", docs)
    eos = cl100k.special_tokens["<|endoftext|>"]
    stats = encode_corpus(
        cl100k, [tmp_path / "in"], tmp_path / "out", eos="<|endoftext|>", shard_tokens=20_000
    )
    assert stats.shards > 2 and stats.documents == len(docs)
    assert _decoded(cl100k, tmp_path / "out", eos) == docs
    first = ShardReader(tmp_path / "out" / "shard-00000")
    assert first.dtype == np.dtype(np.int32)  # cl100k does not fit uint16
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["totals"]["documents"] == len(docs)


def test_small_vocab_uses_uint16_and_reruns_are_noops(tmp_path: Path) -> None:
    gpt2 = load_vocab("gpt2")
    path = tmp_path / "docs.txt"
    path.write_text("hello world\nsecond line\n", encoding="utf-8")
    encode_corpus(gpt2, [path], tmp_path / "out")
    assert ShardReader(tmp_path / "out" / "shard-00000.bin").dtype == np.dtype(np.uint16)
    again = encode_corpus(gpt2, [path], tmp_path / "out")
    assert again.documents == 0 and again.total_documents == 2 and again.resumed
    with pytest.raises(tf.CorpusError, match="other settings"):
        encode_corpus(gpt2, [path], tmp_path / "out", eos=50256)
    encode_corpus(gpt2, [path], tmp_path / "out", eos=50256, overwrite=True)
    assert [d.tolist()[-1] for d in read_corpus(tmp_path / "out")] == [50256, 50256]


def test_resume_after_kill(tmp_path: Path, cl100k: tf.Tokenizer) -> None:
    docs = _docs() * 30
    _write_inputs(tmp_path / "in", docs)
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "tokenforge", "encode", str(tmp_path / "in"), "-t", "cl100k_base",
        "-o", str(out), "--shard-tokens", "5000", "--eos", "<|endoftext|>", "--threads", "1", "-q",
    ]  # fmt: skip
    proc = subprocess.Popen(command)
    deadline = time.time() + 60
    while time.time() < deadline:
        manifest = out / "manifest.json"
        if manifest.exists() and len(json.loads(manifest.read_text()).get("shards", [])) >= 3:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = json.loads((out / "manifest.json").read_text())
    assert not partial["complete"], "the run finished before it could be killed; make the corpus larger"
    subprocess.run(command, check=True)
    eos = cl100k.special_tokens["<|endoftext|>"]
    assert _decoded(cl100k, out, eos) == docs


def test_bad_inputs(tmp_path: Path, cl100k: tf.Tokenizer) -> None:
    bad_utf8 = tmp_path / "bad.txt"
    bad_utf8.write_bytes(b"fine\nbroken \xff\xfe here\n")
    with pytest.raises(tf.CorpusError, match=r"line 2: invalid UTF-8"):
        encode_corpus(cl100k, [bad_utf8], tmp_path / "o1")
    encode_corpus(cl100k, [bad_utf8], tmp_path / "o2", utf8_errors="replace")
    assert _decoded(cl100k, tmp_path / "o2", None)[1] == "broken \ufffd\ufffd here"

    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(tf.CorpusError, match="line 2: not valid JSON"):
        encode_corpus(cl100k, [bad_json], tmp_path / "o3")
    wrong_field = tmp_path / "field.jsonl"
    wrong_field.write_text('{"content": "ok"}\n')
    with pytest.raises(tf.CorpusError, match=r"no field 'text'.*content"):
        encode_corpus(cl100k, [wrong_field], tmp_path / "o4")
    encode_corpus(cl100k, [wrong_field], tmp_path / "o5", field="content")

    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(tf.CorpusError, match="no documents"):
        encode_corpus(cl100k, [empty], tmp_path / "o6")
    with pytest.raises(tf.CorpusError, match="matches no files"):
        encode_corpus(cl100k, [tmp_path / "missing*.txt"], tmp_path / "o7")
    with pytest.raises(tf.CorpusError, match="not a file, a directory or a glob"):
        encode_corpus(cl100k, [tmp_path / "missing.txt"], tmp_path / "o7")

    huge = tmp_path / "huge.txt"
    huge.write_text("x" * 5000 + "\n")
    with pytest.raises(tf.CorpusError, match="longer than 1000 bytes"):
        encode_corpus(cl100k, [huge], tmp_path / "o8", max_document_bytes=1000)
    with pytest.raises(tf.InvalidArgumentError, match="eos"):
        encode_corpus(cl100k, [huge], tmp_path / "o9", eos="<|nope|>")


def test_corrupt_shard_is_reported(tmp_path: Path, cl100k: tf.Tokenizer) -> None:
    path = tmp_path / "d.txt"
    path.write_text("one\ntwo\n")
    encode_corpus(cl100k, [path], tmp_path / "out")
    idx = tmp_path / "out" / "shard-00000.idx"
    idx.write_bytes(idx.read_bytes()[:-3])
    with pytest.raises(tf.CorpusError, match="truncated or corrupt"):
        list(read_corpus(tmp_path / "out"))
