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


def _interrupted_run(tmp_path: Path, source: Path, out: Path) -> None:
    """A run that closed some shards and stopped (as a kill would leave it)."""
    command = [
        sys.executable, "-m", "tokenforge", "encode", str(source), "-t", "cl100k_base", "-o", str(out),
        "--shard-tokens", "50", "--threads", "1", "-q",
    ]  # fmt: skip
    subprocess.run(command, check=True)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["shards"] = manifest["shards"][:2]
    manifest["complete"] = False
    (out / "manifest.json").write_text(json.dumps(manifest))


def test_resume_refuses_an_input_edited_in_place(tmp_path: Path, cl100k: tf.Tokenizer) -> None:
    """Same size, mtime restored, document boundaries moved: resumed silently before (3 documents
    lost, 3 repeated); the content fingerprint of the consumed documents catches it."""
    import os

    source = tmp_path / "docs.txt"
    source.write_text("".join(f"document number {i:03d} with a few words\n" for i in range(60)))
    out = tmp_path / "out"
    _interrupted_run(tmp_path, source, out)
    stat = source.stat()
    data = bytearray(source.read_bytes())
    data[data.index(b"\n")] = ord(" ")  # joins documents 0 and 1...
    data[-10] = ord("\n")  # ...and splits the last one: same size
    source.write_bytes(bytes(data))
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(tf.CorpusError, match="changed since the interrupted run"):
        encode_corpus(cl100k, [source], out, shard_tokens=50, num_threads=1)
    encode_corpus(cl100k, [source], out, shard_tokens=50, num_threads=1, overwrite=True)
    assert _decoded(cl100k, out, None) == [d for d in bytes(data).decode().split("\n") if d]


def test_a_failed_first_run_does_not_block_the_corrected_command(
    tmp_path: Path, cl100k: tf.Tokenizer
) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text('{"text": "one"}\n{"text": \n')
    out = tmp_path / "out"
    with pytest.raises(tf.CorpusError, match="not valid JSON"):
        encode_corpus(cl100k, [source], out)
    source.write_text('{"text": "one"}\n{"text": "two"}\n')
    encode_corpus(cl100k, [source], out)
    with pytest.raises(tf.InvalidArgumentError, match="eos id 999999999 is not in the vocabulary"):
        encode_corpus(cl100k, [source], tmp_path / "o2", eos=999_999_999)
    with pytest.raises(tf.InvalidArgumentError, match="neither an id nor a special token"):
        encode_corpus(cl100k, [source], tmp_path / "o2", eos="٣")  # an Arabic-Indic digit is no id
    stats = encode_corpus(cl100k, [source], tmp_path / "o2", eos="100257")
    assert stats.documents == 2


def test_only_files_the_manifest_names_are_deleted(tmp_path: Path, cl100k: tf.Tokenizer) -> None:
    source = tmp_path / "docs.txt"
    source.write_text("".join(f"document {i} of the corpus\n" for i in range(60)))
    out = tmp_path / "out"
    out.mkdir()
    notes = out / "shard-notes.txt"
    notes.write_text("mine")
    _interrupted_run(tmp_path, source, out)
    encode_corpus(cl100k, [source], out, shard_tokens=50, num_threads=1)
    encode_corpus(cl100k, [source], out, shard_tokens=80, num_threads=1, overwrite=True)
    assert notes.read_text() == "mine"
    assert len(_decoded(cl100k, out, None)) == 60


def test_truncated_compressed_inputs_are_corpus_errors(tmp_path: Path, cl100k: tf.Tokenizer) -> None:
    records = "".join(json.dumps({"text": f"document {i} " * 20}) + "\n" for i in range(200)).encode()
    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(gzip.compress(records)[:-40])
    zst = tmp_path / "b.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(records)[:-40])
    corrupt = tmp_path / "c.jsonl.gz"
    corrupt.write_bytes(b"\x1f\x8b" + b"\x00" * 60)
    for path in (gz, zst, corrupt):
        with pytest.raises(tf.CorpusError, match=r"truncated or corrupt"):
            encode_corpus(cl100k, [path], tmp_path / f"out-{path.name}")


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    source = tmp_path / "docs.txt"
    source.write_text("hello\n")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    base = [sys.executable, "-m", "tokenforge", "encode", str(source), "-t", "cl100k_base", "-q"]
    for extra, message in (
        (["-o", str(a_file)], "output directory"),
        (["-o", str(tmp_path / "o"), "--max-document-mb", "nan"], "--max-document-mb must be a positive"),
        (["-o", str(tmp_path / "o"), "--max-document-mb", "-1"], "--max-document-mb must be a positive"),
        (["-o", str(tmp_path / "o"), "--eos", "٣"], "neither an id nor a special token"),
    ):
        done = subprocess.run(base + extra, capture_output=True, text=True)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr, done.stderr


def test_a_failing_document_is_named(tmp_path: Path) -> None:
    """The engine's error (here a pattern the backtracking engine gives up on) names the input and
    document instead of aborting the whole run opaquely."""
    ranks = {bytes([b]): b for b in range(256)}
    tok = tf.Tokenizer.from_ranks(ranks, pattern=r"(a+)+\1x|.")  # exponential backtracking
    source = tmp_path / "docs.txt"
    source.write_text("fine\n" + "a" * 40 + "\nfine\n")
    with pytest.raises(tf.CorpusError, match=r"docs.txt, document 2 \(40 bytes.*a backreference"):
        encode_corpus(tok, [source], tmp_path / "out")
