"""`tokenforge train / count / extend / verify` (in-process through `main`, plus one subprocess)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

import tokenforge as tf
from tokenforge.cli import main

from .conftest import english


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("shards")
    paras = english()
    a = root / "a.txt"
    a.write_text("\n".join(paras[:700]) + "\n", encoding="utf-8")
    b = root / "b.jsonl.gz"
    with gzip.open(b, "wt", encoding="utf-8") as f:
        for p in paras[700:]:
            f.write(json.dumps({"body": p + "\n"}) + "\n")
    return [a, b]


def test_train_writes_tokenizer_and_tiktoken(
    tmp_path: Path, shards: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tok"
    code = main(
        [
            "train",
            str(shards[0]),
            "--vocab-size",
            "800",
            "-o",
            str(out),
            "--special-token",
            "<|endoftext|>",
            "--domain-token",
            "Hartsfield",
            "--tiktoken",
            "--quiet",
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # --quiet
    summary = json.loads(captured.out)
    assert summary["n_vocab"] == 800 and summary["training"]["stop"] == "vocab_size"
    tok = tf.load(out)
    assert tok.name == "tok" and tok.special_tokens == {"<|endoftext|>": 799}
    assert len(tok.encode("Hartsfield")) == 1
    assert (out / "tokenizer.tiktoken").is_file()
    assert main(["verify", str(out), "--hf"]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_progress_jsonl(tmp_path: Path, shards: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["train", str(shards[0]), "--vocab-size", "400", "-o", str(tmp_path / "t"), "--progress", "jsonl"]
        )
        == 0
    )
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    phases = {(e["event"], e.get("phase")) for e in events}
    assert {("start", "count"), ("end", "count"), ("start", "merge"), ("end", "merge")} <= phases
    end = next(e for e in events if e["event"] == "end" and e["phase"] == "count")
    assert end["done"] == end["total"] == shards[0].stat().st_size and end["rate"] > 0


def test_count_merge_and_train_from_counts(
    tmp_path: Path, shards: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.tfc", tmp_path / "b.tfc"
    assert main(["count", str(shards[0]), "-o", str(a), "-q"]) == 0
    assert main(["count", str(shards[1]), "--field", "body", "-o", str(b), "-q"]) == 0
    all_ = tmp_path / "all.tfc"
    assert main(["count", "--merge", str(a), str(b), "-o", str(all_)]) == 0
    capsys.readouterr()
    # One run over both shards (--field applies to the .jsonl one) counts the same.
    assert main(["count", *map(str, shards), "--field", "body", "-o", str(tmp_path / "x.tfc"), "-q"]) == 0
    assert tf.Counts.load(tmp_path / "x.tfc").fingerprint() == tf.Counts.load(all_).fingerprint()
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["documents"] == 1 + len(english()) - 700
    assert (
        main(["train", "--from-counts", str(all_), "--vocab-size", "700", "-o", str(tmp_path / "c"), "-q"])
        == 0
    )
    from_counts = tf.load(tmp_path / "c")
    direct = tf.train(list(p + "\n" for p in english()), vocab_size=700)
    assert from_counts._full_spec().merges == direct._full_spec().merges


def test_extend_command(tmp_path: Path, shards: list[Path]) -> None:
    assert main(["train", str(shards[0]), "--vocab-size", "500", "-o", str(tmp_path / "base"), "-q"]) == 0
    code = main(
        [
            "extend",
            str(tmp_path / "base"),
            str(shards[1]),
            "--field",
            "body",
            "--vocab-size",
            "600",
            "-o",
            str(tmp_path / "big"),
            "-q",
        ]
    )
    assert code == 0
    base, big = tf.load(tmp_path / "base"), tf.load(tmp_path / "big")
    assert big.n_vocab == 600
    assert all(big.token_to_id(base.decode_single_token_bytes(i)) == i for i in range(500))


def test_errors_exit_with_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(tmp_path / "nope.txt"), "--vocab-size", "300", "-o", str(tmp_path / "o")]) == 2
    assert "not a file" in capsys.readouterr().err
    assert main(["train", "--vocab-size", "300", "-o", str(tmp_path / "o")]) == 2
    bad = tmp_path / "bad.tfc"
    bad.write_bytes(b"TFCOUNTS" + b"\x00" * 10)
    assert main(["train", "--from-counts", str(bad), "--vocab-size", "300", "-o", str(tmp_path / "o")]) == 2
    assert "counts file" in capsys.readouterr().err


def test_help_texts_and_a_real_subprocess(tmp_path: Path, shards: list[Path]) -> None:
    for command in ("train", "extend", "count", "verify"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tokenforge",
            "train",
            str(shards[0]),
            "--vocab-size",
            "300",
            "-o",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "merge" in out.stderr and json.loads(out.stdout)["n_vocab"] == 300
