"""Every metric on a tiny example worked out by hand, and Rényi efficiency against the published
formula and the reference package's own test values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tokenforge.eval import Corpus, CorpusPart, evaluate
from tokenforge.eval import metrics as m
from tokenforge.eval.adapters import vocab_table
from tokenforge.eval.categories import classify_token

from toys import toy

# "the cat sat." with the toy vocabulary:  the | ␠cat | ␠ | s | a | t | .
TEXT = "the cat sat."
IDS = [257, 260, 32, 115, 97, 116, 46]


def test_toy_encoding_is_what_the_examples_assume() -> None:
    assert toy().encode(TEXT) == IDS


def test_word_spans() -> None:
    # Edge punctuation and symbols are stripped; inner apostrophes and decimal points stay.
    assert m.unit_spans("Hello, (world)! don't -- 12.5% «ok»") == [
        (0, 5),
        (8, 13),
        (16, 21),
        (25, 29),
        (32, 34),
    ]
    assert m.unit_spans("") == []
    assert m.unit_spans(" ,, -- ") == []
    # Unspaced: one unit per character, combining marks stay with their base, punctuation is not a unit.
    assert m.unit_spans("中文，字。", unspaced=True) == [(0, 1), (1, 2), (3, 4)]
    assert m.unit_spans("हिन्दी", unspaced=True) == [(0, 2), (2, 4), (4, 6)]
    assert m.unit_spans("हिन्दी में") == [(0, 6), (7, 10)]


def test_unspaced_detection() -> None:
    assert m.is_unspaced(
        ["人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心，并应以兄弟关系的精神相对待。"]
    )
    assert not m.is_unspaced(["All human beings are born free and equal in dignity and rights."])
    assert not m.is_unspaced([""])


def test_byte_offsets() -> None:
    assert m.byte_offsets("aé中🙂").tolist() == [0, 1, 3, 6, 10]


def test_tokens_per_unit_by_hand() -> None:
    lengths = np.array([3, 4, 1, 1, 1, 1, 1])  # the, ␠cat, ␠, s, a, t, .
    starts = np.array([0, 4, 8])  # the, cat, sat
    ends = np.array([3, 7, 11])
    per_word, in_words = m.tokens_per_unit(lengths, starts, ends)
    assert per_word.tolist() == [1, 1, 3]
    assert in_words == 5  # "␠" and "." belong to no word


def test_multi_word_token_counts_for_every_word_it_touches() -> None:
    # One token "a b" spanning two words: each word has one token, and it is counted once.
    per_word, in_words = m.tokens_per_unit(np.array([3]), np.array([0, 2]), np.array([1, 3]))
    assert per_word.tolist() == [1, 1]
    assert in_words == 1


def test_metric_definitions_by_hand() -> None:
    assert m.bytes_per_token(12, 7) == pytest.approx(12 / 7)
    assert m.chars_per_token(12, 7) == pytest.approx(12 / 7)
    assert m.fertility(5, 3) == pytest.approx(5 / 3)
    assert m.continued_words(np.array([1, 1, 3])) == pytest.approx(1 / 3)
    assert m.single_token_retention(np.array([1, 1, 3])) == pytest.approx(2 / 3)
    assert m.vocabulary_utilization(np.array([0, 2, 0, 1]), 4) == pytest.approx(0.5)
    assert m.throughput(3_000_000, 1.5) == pytest.approx(2.0)
    for fn in (m.bytes_per_token, m.chars_per_token, m.fertility):
        assert fn(0, 0) is None
    assert m.continued_words(np.array([], dtype=np.int64)) is None
    assert m.renyi_entropy(np.zeros(3)) is None


def test_evaluate_on_the_toy_example() -> None:
    corpus = Corpus("toy", (CorpusPart("en", (TEXT,), lang="en"),))
    result = evaluate(toy(), corpus, samples=False)
    r = result.results[0]
    assert (r.tokens, r.bytes, r.chars) == (7, 12, 12)
    assert r.bytes_per_token == pytest.approx(12 / 7)
    assert r.fertility == pytest.approx(5 / 3)
    assert r.continued == pytest.approx(1 / 3)
    assert r.retention == pytest.approx(2 / 3)
    assert r.types == 7
    assert r.utilization == pytest.approx(7 / 261)  # 262 ids, one of them special
    assert r.byte_fallback_rate == 0.0
    assert r.unk_rate == 0.0
    counts = np.array([1] * 7)
    expected = math.log2(np.sum((counts / 7) ** 2.5)) / (1 - 2.5) / math.log2(261)
    assert r.renyi_efficiency == pytest.approx(expected)
    assert r.languages[0].unit == "word"


def test_byte_fallback_by_hand() -> None:
    # "café": c a f + two tokens holding half of "é" each.
    corpus = Corpus("toy", (CorpusPart("fr", ("café",), lang="fr"),))
    r = evaluate(toy(), corpus, samples=False).results[0]
    assert r.tokens == 5
    assert r.byte_fallback_rate == pytest.approx(2 / 5)
    assert r.fertility == pytest.approx(5.0) and r.continued == 1.0
    table = vocab_table(toy())
    assert table.partial[0xC3] and table.partial[0xA9] and not table.partial[ord("c")]
    assert table.special[261] and table.ordinary_size == 261


# tokenization-scorer's own tests (zouharvi/tokenization-scorer, test.py) for two tokenizations.
SCORER_TEXT1 = "pick @@ed pick @@l @@ed pick @@les".split()
SCORER_TEXT2 = "pick @@e @@d pick @@l @@e @@d pick @@l @@e @@s".split()


def _counts(tokens: list[str]) -> np.ndarray:
    return np.array([tokens.count(t) for t in dict.fromkeys(tokens)])


@pytest.mark.parametrize(
    ("tokens", "entropy", "efficiency", "shannon", "shannon_eff"),
    [
        (SCORER_TEXT1, 1.653012966845049, 0.8265064834225245, 1.8423709931771088, 0.9211854965885544),
        (SCORER_TEXT2, 2.1372977167241545, 0.9204840242168808, 2.2312702546075758, 0.9609557933859342),
    ],
)
def test_renyi_matches_the_reference_package(
    tokens: list[str], entropy: float, efficiency: float, shannon: float, shannon_eff: float
) -> None:
    counts = _counts(tokens)
    assert m.renyi_entropy(counts, 2.5) == pytest.approx(entropy, abs=1e-12)
    assert m.renyi_efficiency(counts, 2.5) == pytest.approx(efficiency, abs=1e-12)  # |V| = observed types
    assert m.renyi_entropy(counts, 1.0) == pytest.approx(shannon, abs=1e-12)
    assert m.renyi_efficiency(counts, 1.0) == pytest.approx(shannon_eff, abs=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 2.0, 2.5, 3.0, 10.0])
def test_renyi_efficiency_is_the_published_formula(alpha: float) -> None:
    rng = np.random.default_rng(7)
    counts = rng.integers(0, 50, size=300)
    p = counts[counts > 0] / counts.sum()
    if alpha == 1.0:
        h = -np.sum(p * np.log2(p))
    else:
        h = 1 / (1 - alpha) * math.log2(np.sum(p**alpha))
    assert m.renyi_entropy(counts, alpha) == pytest.approx(h)
    assert m.renyi_efficiency(counts, alpha, vocab_size=1000) == pytest.approx(h / math.log2(1000))
    # α = 0 is Hartley entropy: log2 of the number of observed types.
    if alpha == 0.0:
        assert h == pytest.approx(math.log2(np.count_nonzero(counts)))


def test_uniform_distribution_has_efficiency_one() -> None:
    assert m.renyi_efficiency(np.ones(64), 2.5, vocab_size=64) == pytest.approx(1.0)
    with pytest.raises(Exception, match="alpha"):
        m.renyi_entropy(np.ones(3), -1.0)


def test_alpha_is_configurable_end_to_end() -> None:
    corpus = Corpus("toy", (CorpusPart("en", ("the the the cat sat",)),))
    a = evaluate(toy(), corpus, alpha=2.5, samples=False).results[0]
    b = evaluate(toy(), corpus, alpha=1.0, samples=False).results[0]
    assert a.renyi_alpha == 2.5 and b.renyi_alpha == 1.0
    assert a.renyi_efficiency != pytest.approx(b.renyi_efficiency)


@pytest.mark.parametrize(
    ("data", "category", "script"),
    [
        (b" the", "spaced_alpha", "Latin"),
        (b"ing", "inner_alpha", "Latin"),
        (b"a", "char_alpha", "Latin"),
        (b"!", "char_other", None),
        (b" 123", "spaced_other", None),
        (b"<|endoftext|>", "control", None),
        (b"<div>", "inner_other", None),
        (b"\xe4", "byte", None),
        (b"\xe4\xb8", "partial", None),
        (" мир".encode(), "spaced_alpha", "Cyrillic"),
        ("中文".encode(), "inner_alpha", "Han"),
        (" x\u0303".encode(), "spaced_alpha", "Latin"),
        (" aж".encode(), "spaced_other", None),
    ],
)
def test_qtok_categories(data: bytes, category: str, script: str | None) -> None:
    assert classify_token(data) == (category, script)


def test_categories_of_the_toy_vocabulary() -> None:
    result = evaluate(toy(), Corpus("toy", (CorpusPart("en", (TEXT,)),)), metrics="categories", samples=False)
    cats = result.tokenizers[0].categories
    assert cats is not None
    counts = cats["counts"]
    assert cats["total"] == 262
    assert counts["control"] == 1  # <eos>
    assert counts["byte"] == 128  # 0x80-0xFF alone are not characters
    assert counts["char_alpha"] == 52  # A-Z, a-z
    assert counts["inner_alpha"] == 2  # th, the
    assert counts["spaced_alpha"] == 3  # " c", " ca", " cat"
    assert counts["char_other"] == 128 - 52
    assert cats["scripts"] == {"Latin": 57}
