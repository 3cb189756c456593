"""Named corpora and the user formats (txt, jsonl, aligned jsonl, tsv), with their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokenforge import CorpusError
from tokenforge.eval import Corpus, CorpusPart, load_corpus_file, resolve_corpus
from tokenforge.eval.corpora import udhr_corpus


def test_named_corpora() -> None:
    udhr = resolve_corpus("udhr")
    assert udhr.parallel and udhr.reference == "eng"
    assert len(udhr.parts) >= 300 and len({p.script for p in udhr.parts}) >= 30
    assert all(len(p.texts) == 31 for p in udhr.parts)  # preamble + 30 articles, aligned
    english = resolve_corpus("english")
    assert not english.parallel and len(english.parts[0].texts) > 1000
    code = resolve_corpus("code")
    assert code.kind == "code" and {p.key for p in code.parts} >= {"python", "rust"}


def test_udhr_subset_and_unknown_code() -> None:
    sub = resolve_corpus("udhr:eng,cmn_hans")
    assert [p.key for p in sub.parts] == ["eng", "cmn_hans"]
    assert sub.parts[1].unspaced is True and sub.parts[1].lang == "zh"
    with pytest.raises(CorpusError, match="close matches"):
        udhr_corpus(["deu"])
    with pytest.raises(CorpusError, match="neither a named corpus"):
        resolve_corpus("no-such-corpus")


def test_txt(tmp_path: Path) -> None:
    path = tmp_path / "sample.txt"
    path.write_text("first line\n\nsecond\u2028still second\n", encoding="utf-8")
    corpus = load_corpus_file(path, lang="en")
    assert corpus.parts[0].texts == ("first line", "second\u2028still second")
    assert corpus.parts[0].key == "en" and not corpus.parallel
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no non-empty lines"):
        load_corpus_file(tmp_path / "empty.txt")


def test_jsonl_grouped_and_aligned(tmp_path: Path) -> None:
    grouped = tmp_path / "g.jsonl"
    grouped.write_text(
        "\n".join(
            json.dumps(r) for r in [{"text": "a", "lang": "en"}, {"text": "b", "lang": "de"}, {"text": "c"}]
        )
    )
    corpus = load_corpus_file(grouped)
    assert {p.key: p.texts for p in corpus.parts} == {"en": ("a",), "de": ("b",), "text": ("c",)}
    aligned = tmp_path / "a.jsonl"
    aligned.write_text(
        "\n".join(json.dumps(r) for r in [{"eng": "one", "deu": "eins"}, {"eng": "two", "fra": "deux"}])
        + "\n"
    )
    corpus = load_corpus_file(aligned)
    assert corpus.parallel and corpus.reference == "eng"
    assert corpus.part("deu").texts == ("eins", None) and corpus.part("fra").texts == (None, "deux")


def test_jsonl_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\nnot json\n')
    with pytest.raises(CorpusError, match=r"bad.jsonl:2: not JSON"):
        load_corpus_file(bad)
    bad.write_text("[1, 2]\n")
    with pytest.raises(CorpusError, match="expected a JSON object"):
        load_corpus_file(bad)
    bad.write_text('{"text": "a"}\n{"eng": "b"}\n')
    with pytest.raises(CorpusError, match="mixes"):
        load_corpus_file(bad)


def test_tsv(tmp_path: Path) -> None:
    path = tmp_path / "p.tsv"
    path.write_text("en\tde\tfr\nhello\thallo\tbonjour\nworld\tWelt\t\n", encoding="utf-8")
    corpus = resolve_corpus(path)
    assert corpus.parallel and corpus.reference == "en"
    assert corpus.part("fr").texts == ("bonjour", None)
    path.write_text("en\ten\nx\ty\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="distinct"):
        load_corpus_file(path)
    path.write_text("en\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="header row"):
        load_corpus_file(path)


def test_corpus_validation(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no parts"):
        Corpus("x", ())
    with pytest.raises(CorpusError, match="duplicate"):
        Corpus("x", (CorpusPart("a", ("1",)), CorpusPart("a", ("2",))))
    with pytest.raises(CorpusError, match="different segment counts"):
        Corpus("x", (CorpusPart("a", ("1",)), CorpusPart("b", ("2", "3"))), parallel=True)
    with pytest.raises(CorpusError, match="unsupported corpus format"):
        (tmp_path / "x.csv").write_text("a,b")
        load_corpus_file(tmp_path / "x.csv")
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus_file(tmp_path / "missing.txt")
