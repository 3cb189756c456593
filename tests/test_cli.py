"""The command line (run in-process through `main`, plus one real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tokenforge.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import fetch_test_tokenizers as real_files


def test_tokenize_ids_and_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokenize", "-t", "cl100k_base", "hello world", "--format", "ids"]) == 0
    assert capsys.readouterr().out.split() == ["15339", "1917"]
    assert main(["tokenize", "-t", "cl100k_base", "hello world", "--format", "count"]) == 0
    assert capsys.readouterr().out.strip() == "2"


def test_tokenize_tokens_and_special_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokenize", "-t", "o200k_base", "hi <|endoftext|>"]) == 2
    assert "disallowed special token" in capsys.readouterr().err
    assert main(["tokenize", "-t", "o200k_base", "hi <|endoftext|>", "--allow-special"]) == 0
    tokens = json.loads(capsys.readouterr().out)
    assert tokens[-1] == {"id": 199999, "token": "<|endoftext|>"}


def test_info_list_convert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "llama3"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_vocab"] == 128256 and info["special_tokens"] == 256
    assert main(["list"]) == 0
    assert "cl100k_base" in capsys.readouterr().out
    assert main(["convert", "qwen2", "-o", str(tmp_path)]) == 0
    assert (tmp_path / "tokenizer.json").is_file()


def test_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokenize", "-t", "nope_base", "x"]) == 2
    assert "known" in capsys.readouterr().err
    assert main(["fetch", "nope_base"]) == 2


def test_module_entry_point_and_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tokenforge", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("fetch", "tokenize", "info", "convert", "list"):
        assert command in out.stdout


def test_sweep_trains_per_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sweep.json"
    assert (
        main(["sweep", "--corpus", "udhr:eng,fra", "--vocab-sizes", "300,400", "-q", "--json", str(out)]) == 0
    )
    result = json.loads(out.read_text())
    assert result["vocab_sizes"] == [300, 400]
    assert "premium @300" in capsys.readouterr().out


def test_info_shows_every_pipeline_stage_with_its_settings(capsys: pytest.CaptureFixture[str]) -> None:
    expected = {
        "wordpiece": ("BertNormalizer(", "BertPreTokenizer()", "WordPiece(", "$B:1 [SEP]:1", "prefix="),
        "unigram": ("", "", "Unigram(", "", ""),
        "sentencepiece-bpe": ("", "", "byte_fallback=true", "", "ByteFallback()"),
        "metaspace-bpe": ("", "", "BPE(", "pair=", ""),
        "byte-level": ("", "", "BPE(", "", ""),
    }
    seen = set()
    for entry in real_files.find_all():
        if entry.family in seen or entry.family not in expected:
            continue
        seen.add(entry.family)
        assert main(["info", str(entry.path)]) == 0
        pipeline = json.loads(capsys.readouterr().out)["pipeline"]
        assert list(pipeline) == ["normalizer", "pre_tokenizer", "model", "post_processor", "decoder"]
        for stage, needle in zip(pipeline, expected[entry.family], strict=True):
            assert needle in " ".join(pipeline[stage]), (entry.name, stage, pipeline[stage])
        assert "<" in pipeline["model"][0]  # the vocabulary as a size, not its entries
    assert seen == set(expected)
    assert main(["info", "cl100k_base"]) == 0
    pipeline = json.loads(capsys.readouterr().out)["pipeline"]
    assert pipeline["model"] == ["BPE(byte_level=true, vocab=<100277 ids>, merges=ranks)"]


def test_tokenize_shows_the_pipeline_and_offsets_of_a_pair(capsys: pytest.CaptureFixture[str]) -> None:
    path = next(
        e.path for e in real_files.find_all() if e.name == "minilm-l6-v2" and e.filename.endswith(".json")
    )
    args = ["tokenize", "-t", str(path), "Hello world", "--pair", "How are you?", "--add-special-tokens"]
    assert main([*args, "--offsets", "--pipeline"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out["pipeline"]) == ["normalizer", "pre_tokenizer", "model", "post_processor", "decoder"]
    assert "WordPiece(" in out["pipeline"]["model"][0]
    tokens = out["tokens"]
    assert [t["token"] for t in tokens] == [
        "[CLS]",
        "hello",
        "world",
        "[SEP]",
        "how",
        "are",
        "you",
        "?",
        "[SEP]",
    ]
    assert tokens[0] == {
        "id": 101,
        "token": "[CLS]",
        "offsets": [0, 0],
        "text": "",
        "type_id": 0,
        "sequence": None,
    }
    assert tokens[4] == {
        "id": 2129,
        "token": "how",
        "offsets": [0, 3],
        "text": "How",
        "type_id": 1,
        "sequence": 1,
    }
    assert tokens[2]["text"] == "world" and tokens[2]["offsets"] == [6, 11]
    assert main([*args, "--format", "ids"]) == 0
    assert capsys.readouterr().out.split()[0] == "101"
    # Without --pipeline the tokens format is the plain list.
    assert main(["tokenize", "-t", "cl100k_base", "naïve", "--offsets"]) == 0
    assert json.loads(capsys.readouterr().out)[1] == {
        "id": 38672,
        "token": "ï",
        "offsets": [2, 3],
        "text": "ï",
    }
