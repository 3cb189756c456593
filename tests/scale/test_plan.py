"""The task plan (no cluster needed): byte ranges cut so that no line or record is split or read
twice, and so that ranges read in task order give exactly the texts of the whole files."""

from __future__ import annotations

import gzip
import itertools
import json
import random
import sys
from pathlib import Path

import pytest

import tokenforge as tf
from tokenforge.corpus.readers import expand_inputs
from tokenforge.errors import CorpusError, InvalidArgumentError, MissingDependencyError
from tokenforge.scale import RayEngine, resolve_engine
from tokenforge.scale.plan import plan_tasks, tasks_from_json, tasks_to_json
from tokenforge.train import corpus as train_corpus
from tokenforge.train.corpus import Corpus

#: A tiny read block, so that small files exercise many blocks, cuts and over-long lines.
BLOCK = 64


def _lines(rng: random.Random, n: int) -> list[str]:
    words = ["tokenforge", "naïve", "東京", "🙂", "a", "  ", "\t", "x" * 30, "déjà-vu", "1234"]
    out = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.05:
            out.append("")  # blank lines are no documents
        elif kind < 0.08:
            out.append("é" * rng.randint(BLOCK * 64, BLOCK * 70))  # longer than the reader's cap
        else:
            out.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 12))))
    return out


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train_corpus, "_READ_BYTES", BLOCK)


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    rng = random.Random(15)
    text = tmp_path / "a.txt"
    text.write_text("\n".join(_lines(rng, 400)), encoding="utf-8")  # no final line end
    crlf = tmp_path / "b.txt"
    crlf.write_bytes("\r\n".join(_lines(rng, 200)).encode() + b"\r\n")
    records = tmp_path / "c.jsonl"
    with records.open("w", encoding="utf-8") as f:
        for line in _lines(rng, 300):
            f.write((json.dumps({"text": line + "\nsecond line"}) if line else "") + "\n")
    packed = tmp_path / "d.txt.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as g:
        g.write("\n".join(_lines(rng, 100)) + "\n")
    empty = tmp_path / "e.txt"
    empty.write_bytes(b"")
    return [text, crlf, records, packed, empty]


def _texts(inputs: list) -> tuple[list[str | bytes], int]:
    corpus = Corpus(inputs)
    texts = [text for batch in corpus.batches() for text in batch]
    return texts, corpus.stats.documents


@pytest.mark.parametrize("tasks", [1, 2, 3, 7, 40, 400])
def test_ranges_give_the_texts_and_documents_of_the_whole_files(
    small_blocks: None, files: list[Path], tasks: int
) -> None:
    sources = expand_inputs(files)
    plan = plan_tasks(sources, tasks, max_task_bytes=None)
    whole_texts, whole_docs = _texts(list(sources))
    split_texts: list[str | bytes] = []
    split_docs = 0
    for task in plan:
        texts, docs = _texts(list(task.pieces))
        split_texts += texts
        split_docs += docs
    assert split_texts == whole_texts  # the counter sees the same texts: counts add up exactly
    assert split_docs == whole_docs
    for field_reader in ("documents",):
        whole = [d for s in sources for d in getattr(s, field_reader)()]
        split = [d for task in plan for piece in task.pieces for d in getattr(piece, field_reader)()]
        assert split == whole  # the encoder sees every document once, in order
    if tasks >= 7:
        assert len(plan) > 4  # the files really were cut


def test_plan_covers_every_byte_once_in_order(small_blocks: None, files: list[Path]) -> None:
    sources = expand_inputs(files)
    plan = plan_tasks(sources, 25, max_task_bytes=None)
    assert [t.index for t in plan] == list(range(len(plan)))
    assert all(t.bytes > 0 for t in plan)
    covered: dict[Path, list[tuple[int, int]]] = {}
    for task in plan:
        for piece in task.pieces:
            covered.setdefault(piece.path, []).append((piece.start, piece.stop))
    assert list(covered) == [s.path for s in sources]
    for source in sources:
        ranges = covered[source.path]
        assert ranges[0][0] == 0 and ranges[-1][1] == source.size
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
        data = source.path.read_bytes()
        for start, _stop in ranges[1:]:
            assert data[start - 1 : start] == b"\n"  # every cut is just after a line end
        if source.compression:
            assert ranges == [(0, source.size)]  # compressed files go whole to one task


def test_plan_task_size_cap_and_json_roundtrip(small_blocks: None, files: list[Path]) -> None:
    sources = expand_inputs(files)
    total = sum(s.size for s in sources)
    capped = plan_tasks(sources, 1, max_task_bytes=total // 10)
    assert len(capped) >= 8
    assert tasks_from_json(tasks_to_json(capped, sources), sources) == capped
    with pytest.raises(CorpusError, match="does not fit"):
        tasks_from_json([[[99, 0, 10]]], sources)


def test_bad_plans_and_engines_are_refused(files: list[Path]) -> None:
    sources = expand_inputs(files)
    with pytest.raises(InvalidArgumentError):
        plan_tasks(sources, 0)
    with pytest.raises(InvalidArgumentError):
        RayEngine(tasks=0)
    with pytest.raises(InvalidArgumentError, match="engine must be"):
        resolve_engine("spark")  # type: ignore[arg-type]
    with pytest.raises(CorpusError, match="cannot be split"):
        sources[3].byte_range(10, None)
    with pytest.raises(CorpusError, match="outside the file"):
        sources[0].byte_range(0, sources[0].size + 1)


def test_missing_ray_is_a_typed_error(monkeypatch: pytest.MonkeyPatch, files: list[Path]) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'tokenforge\[ray\]'"):
        tf.train(files[:1], vocab_size=300, engine="ray")
    assert isinstance(MissingDependencyError("x"), ImportError)
