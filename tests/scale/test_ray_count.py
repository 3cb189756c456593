"""Counting and training on a local Ray cluster of 2 workers: the artifacts are the local engine's,
byte for byte (tokenizer.json for bpe, superbpe, charbpe and unigram; .tfc counts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tokenforge as tf
from tokenforge.cli import main
from tokenforge.errors import CorpusError, InvalidArgumentError
from tokenforge.scale import RayEngine

#: More tasks than workers, so files are cut and shards merged over several tree levels.
ENGINE = RayEngine(tasks=5)


def _saved(tok: tf.Tokenizer, path: Path) -> bytes:
    return tok.save(path).read_bytes()


@pytest.mark.parametrize(
    ("algorithm", "options"),
    [
        (
            "bpe",
            {"vocab_size": 1500, "special_tokens": ["<|endoftext|>"], "domain_tokens": ["def ", "self."]},
        ),
        ("superbpe", {"vocab_size": 1500}),
        ("charbpe", {"vocab_size": 1500}),
        # EM over the whole table is the slowest trainer: the two files that are cut into ranges.
        ("unigram", {"vocab_size": 2000, "files": 2}),
    ],
)
def test_trained_tokenizer_is_byte_identical_to_local(
    ray_cluster: Any, corpus: list[Path], tmp_path: Path, algorithm: str, options: dict[str, Any]
) -> None:
    options = dict(options)
    corpus = corpus[: options.pop("files", len(corpus))]
    local = tf.train(corpus, algorithm=algorithm, **options)
    events: list[dict[str, Any]] = []
    distributed = tf.train(
        corpus,
        algorithm=algorithm,
        engine=ENGINE,
        progress=events.append,
        **options,
    )
    assert _saved(distributed, tmp_path / "ray.json") == _saved(local, tmp_path / "local.json")
    note = next(e for e in events if e["event"] == "note" and "tasks" in e)
    assert note["tasks"] >= 4 and note["retried"] == {}  # the files were cut; no task failed
    counted = [e for e in events if e.get("phase") == "count"]
    assert counted[-1]["event"] == "end" and counted[-1]["tasks"] == f"{note['tasks']}/{note['tasks']}"
    assert counted[-1]["done"] == sum(p.stat().st_size for p in corpus)


def test_counts_file_is_byte_identical_without_line_boundaries(
    ray_cluster: Any, corpus: list[Path], tmp_path: Path
) -> None:
    options: dict[str, Any] = {"algorithm": "superbpe", "line_boundaries": False}
    local = tf.count(corpus, **options).save(tmp_path / "local.tfc")
    distributed = tf.count(corpus, engine=ENGINE, **options).save(tmp_path / "ray.tfc")
    assert distributed.read_bytes() == local.read_bytes()


def test_cli_count_ray(ray_cluster: Any, corpus: list[Path], tmp_path: Path, capsys: Any) -> None:
    args = ["count", *map(str, corpus), "--progress", "none"]
    assert main([*args, "-o", str(tmp_path / "local.tfc")]) == 0
    assert main([*args, "--ray", "--ray-tasks", "3", "-o", str(tmp_path / "ray.tfc")]) == 0
    assert (tmp_path / "ray.tfc").read_bytes() == (tmp_path / "local.tfc").read_bytes()
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["documents"] > 0
    assert main([*args, "--ray-tasks", "3", "-o", str(tmp_path / "x.tfc")]) == 2  # needs --ray


def test_bad_input_in_a_task_is_the_typed_error(ray_cluster: Any, corpus: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(corpus[0].read_bytes() + b"caf\xe9\n")  # invalid UTF-8 in the last range
    with pytest.raises(CorpusError, match="invalid UTF-8"):
        tf.count([bad], engine=ENGINE)
    with pytest.raises(InvalidArgumentError, match="reads files"):
        tf.train(["some text", "more text"], vocab_size=300, engine=ENGINE)
