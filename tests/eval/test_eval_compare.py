"""The vocabulary comparison of ``tokenforge eval``: BPE, Unigram and LiB trained at the same size on
the same text, compared on held-out text (overlap, token lengths, bytes/token, fertility, %TR/%Pure)
in the result, its JSON, Markdown and HTML, and from the command line."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

import tokenforge as tf
from tokenforge.data import english_paragraphs
from tokenforge.eval import Corpus, CorpusPart, evaluate
from tokenforge.eval.adapters import vocab_table
from tokenforge.eval.compare import LENGTH_BUCKETS, _char_length, _core, token_strings
from tokenforge.eval.morphology import Segmentation, SetLexicon

SIZE = 700


@functools.cache
def _texts() -> tuple[list[str], list[str]]:
    texts = english_paragraphs()
    return texts[:300], texts[300:340]


@functools.cache
def _trained() -> dict[str, tf.Tokenizer]:
    train, _held = _texts()
    return {
        algorithm: tf.train(train, algorithm=algorithm, vocab_size=SIZE, num_threads=1, name=algorithm)
        for algorithm in ("bpe", "unigram", "lib")
    }


def _held_out() -> Corpus:
    return Corpus("held-out", (CorpusPart(key="en", texts=tuple(_texts()[1]), lang="en"),))


@pytest.fixture(scope="module")
def result() -> tf.eval.EvalResult:
    words = {"the", "of", "and", "to", "in", "is", "was", "that", "he", "it", "for", "on", "as", "with"}
    return evaluate(
        list(_trained().values()),
        _held_out(),
        metrics=["default", "morphology"],
        lexicons={"en": SetLexicon(words, lemmas=words)},
        segmentations={"en": Segmentation("toy", affixes=frozenset({"s", "ed", "ing"}), derived=frozenset())},
        samples=False,
    )


def test_sizes_equal_and_strings_as_running_text() -> None:
    toks = _trained()
    assert {t.n_vocab for t in toks.values()} == {SIZE}
    bpe, uni = (token_strings(vocab_table(toks[k])) for k in ("bpe", "unigram"))
    # "▁the" (SentencePiece) and " the" (byte-level) are one string; byte pieces and specials are out.
    assert " the" in bpe and " the" in uni
    assert not any(s.startswith("\u2581") or s.startswith("<0x") or s == "<unk>" for s in uni)
    assert "<s>" not in uni and all(len(s.encode()) > 1 or s.isascii() for s in bpe)


def test_length_ignores_the_word_boundary_space() -> None:
    assert _char_length(" the") == _char_length("the ") == _char_length(" the ") == _char_length("the") == 3
    assert _char_length(" ") == _char_length("a") == 1 and _char_length("  ") == 1


def test_overlap_and_lengths(result: tf.eval.EvalResult) -> None:
    c = result.comparison
    assert c is not None and c.tokenizers == ["bpe", "unigram", "lib"] and c.equal_size
    strings = {k: set(token_strings(vocab_table(t))) for k, t in _trained().items()}
    assert len(c.pairs) == 3
    for p in c.pairs:
        a, b = strings[p["a"]], strings[p["b"]]
        assert (p["shared"], p["union"]) == (len(a & b), len(a | b))
        assert p["jaccard"] == pytest.approx(len(a & b) / len(a | b))
        assert 0.0 < p["jaccard"] < 1.0 and c.jaccard(p["b"], p["a"]) == p["jaccard"]
        ca, cb = {_core(s) for s in a}, {_core(s) for s in b}
        assert p["core_jaccard"] == pytest.approx(len(ca & cb) / len(ca | cb))
    # LiB's "the " and BPE's " the" meet once the boundary space is set aside.
    assert c.jaccard("lib", "bpe", "core_jaccard") > c.jaccard("lib", "bpe")
    assert c.shared_by_all == len(strings["bpe"] & strings["unigram"] & strings["lib"])
    for name, lengths in c.lengths.items():
        assert c.compared[name] == len(strings[name]) == sum(lengths["histogram"])
        assert len(lengths["histogram"]) == LENGTH_BUCKETS
        assert sum(lengths["shares"]) == pytest.approx(1.0)
        assert 1.0 <= lengths["median"] <= lengths["mean"] * 3 and 0.0 < lengths["word_initial"] < 1.0
    # LiB's chunks span words (they end in the space before the next word); BPE's start with it.
    assert c.lengths["lib"]["word_final"] > c.lengths["bpe"]["word_final"]
    assert c.lengths["bpe"]["word_initial"] > c.lengths["lib"]["word_initial"]
    for name, only in c.unique.items():
        others = set().union(*(strings[o] for o in strings if o != name))
        assert only and not set(only) & others


def test_held_out_numbers_are_the_results(result: tf.eval.EvalResult) -> None:
    c = result.comparison
    assert c is not None and list(c.held_out) == ["held-out"]
    for name, row in c.held_out["held-out"].items():
        r = result.result(name, "held-out")
        assert row["bytes_per_token"] == r.bytes_per_token and row["fertility"] == r.fertility
        assert row["valid_word"] == r.languages[0].morphology["valid_word"] and 0.0 < row["valid_word"] < 1.0
        assert row["pure"] == r.languages[0].morphology["pure"] and row["pure"] is not None
    bpt = {k: v["bytes_per_token"] for k, v in c.held_out["held-out"].items()}
    assert all(1.5 < v < 6.0 for v in bpt.values()), bpt


def test_views(result: tf.eval.EvalResult) -> None:
    data = json.loads(result.to_json())
    assert data["comparison"]["tokenizers"] == ["bpe", "unigram", "lib"]
    assert data["comparison"]["held_out"]["held-out"]["lib"]["pure"] is not None
    md = result.to_markdown()
    assert "## Vocabulary comparison" in md and "| Jaccard | bpe | unigram | lib |" in md
    assert "| Jaccard, no boundary space | bpe | unigram | lib |" in md
    assert "| tokenizer | non-special ids | bytes/token | chars/token | fertility | %TR | %Pure |" in md
    html = result.to_html()
    assert ">Vocabulary comparison</h2>" in html and "id='jaccard'" in html and "id='core-jaccard'" in html
    assert "Token lengths" in html
    assert "%TR</th><th>%Pure</th>" in html


def test_only_with_two_tokenizers_and_when_asked() -> None:
    toks = _trained()
    one = evaluate(toks["bpe"], _held_out(), metrics=["compression"], samples=False)
    assert one.comparison is None and json.loads(one.to_json())["comparison"] is None
    not_asked = evaluate([toks["bpe"], toks["lib"]], _held_out(), metrics=["compression"], samples=False)
    assert not_asked.comparison is None and "-m comparison" in not_asked.to_html()
    asked = evaluate([toks["bpe"], toks["lib"]], _held_out(), metrics=["comparison"], samples=False)
    assert asked.comparison is not None and asked.comparison.held_out["held-out"]["lib"]["fertility"] is None
    assert "morphology" in asked.comparison.notes


def test_unequal_sizes_are_noted() -> None:
    small = tf.train(_texts()[0], vocab_size=400, num_threads=1, name="small")
    c = evaluate([_trained()["bpe"], small], _held_out(), metrics=["comparison"], samples=False).comparison
    assert c is not None and not c.equal_size and "sizes" in c.notes


def test_cli(tmp_path: Path) -> None:
    paths = []
    for k in ("bpe", "lib"):
        (tmp_path / k).mkdir()
        paths.append(str(_trained()[k].save(tmp_path / k / "tokenizer.json")))
    corpus = tmp_path / "en.txt"
    corpus.write_text("\n".join(_texts()[1]) + "\n", encoding="utf-8")
    out = tmp_path / "r.json"
    run = subprocess.run(
        [sys.executable, "-m", "tokenforge", "eval", "-t", paths[0], "-t", paths[1], "--corpus", str(corpus),
         "--json", str(out), "--no-samples", "-q"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "## Vocabulary comparison" in run.stdout and "| Jaccard | bpe | lib |" in run.stdout
    assert json.loads(out.read_text())["comparison"]["pairs"][0]["a"] == "bpe"


def test_morphology_types_drop_the_word_boundary_space() -> None:
    # LiB's "the " is the type "the", as BPE's " the" and SentencePiece's "▁the" are.
    from tokenforge.eval.morphology import token_types

    types, skipped = token_types([0, 1, 2], [b"the ", b" the", "\u2581the".encode()])
    assert types == {"the": 3} and skipped == 0
