"""Premiums and fertility against independent computations: tiktoken encodes, plain Python counts."""

from __future__ import annotations

import unicodedata

import pytest
import tiktoken

from tokenforge import data
from tokenforge.eval import evaluate
from tokenforge.eval.premium import gini, premiums, spread

from conftest import load_vocab

CODES = ("eng", "deu_1996", "fra", "rus", "hin", "cmn_hans", "tir")


@pytest.fixture(scope="module")
def reference_encoder() -> tiktoken.Encoding:
    from tokenforge import vocab_sources
    from tokenforge.formats.presets import by_name
    from tokenforge.formats.tiktoken_file import read_tiktoken

    path = vocab_sources.find("cl100k_base")
    assert path is not None
    ranks, _digest = read_tiktoken(path)
    known = by_name("cl100k_base")
    assert known is not None
    return tiktoken.Encoding("cl100k_base", pat_str=known.pattern, mergeable_ranks=ranks, special_tokens={})


@pytest.fixture(scope="module")
def udhr_result():  # type: ignore[no-untyped-def]
    return evaluate(load_vocab("cl100k_base"), "udhr:" + ",".join(CODES), samples=False)


def test_premium_equals_corpus_totals_from_tiktoken(udhr_result, reference_encoder) -> None:  # type: ignore[no-untyped-def]
    def total(code: str) -> int:
        version = next(v for v in data.udhr() if v["code"] == code)
        segments = ["\n".join(version["preamble"])] + [
            "\n".join(version["articles"][n]) for n in sorted(version["articles"])
        ]
        return sum(len(reference_encoder.encode_ordinary(s)) for s in segments)

    english = total("eng")
    r = udhr_result.results[0]
    rows = {lr.key: lr for lr in r.languages}
    for code in CODES:
        assert rows[code].tokens == total(code)
        assert rows[code].premium == pytest.approx(total(code) / english, rel=1e-12)
    assert rows["eng"].premium == 1.0
    assert rows["cmn_hans"].unit == "char" and rows["eng"].unit == "word"
    values = [rows[c].premium for c in CODES]
    assert r.premium is not None
    assert r.premium.median == pytest.approx(sorted(values)[len(values) // 2])
    assert r.premium.maximum == max(values) and r.premium.worst == max(CODES, key=lambda c: rows[c].premium)


def _independent_fertility(texts: list[str], enc: tiktoken.Encoding) -> tuple[float, float]:
    """Words = whitespace chunks with P*/S* stripped at both ends; a token belongs to a word when
    its character range intersects the word's; counted one token at a time."""

    def edge(ch: str) -> bool:
        return unicodedata.category(ch)[0] in "PS"

    tokens_in_words = words = continued = 0
    for text in texts:
        ids = enc.encode_ordinary(text)
        # Character span of each token (texts here are ASCII, so bytes = characters).
        spans, pos = [], 0
        for i in ids:
            n = len(enc.decode_single_token_bytes(i))
            spans.append((pos, pos + n))
            pos += n
        word_spans = []
        i = 0
        while i < len(text):
            if text[i].isspace():
                i += 1
                continue
            j = i
            while j < len(text) and not text[j].isspace():
                j += 1
            a, b = i, j
            while a < b and edge(text[a]):
                a += 1
            while b > a and edge(text[b - 1]):
                b -= 1
            if a < b:
                word_spans.append((a, b))
            i = j
        in_word = set()
        for a, b in word_spans:
            hits = [k for k, (s, e) in enumerate(spans) if s < b and e > a]
            in_word.update(hits)
            continued += len(hits) >= 2
        words += len(word_spans)
        tokens_in_words += len(in_word)
    return tokens_in_words / words, continued / words


def test_fertility_against_an_independent_count(reference_encoder) -> None:  # type: ignore[no-untyped-def]
    paragraphs = list(data.english_paragraphs()[:150])
    assert all(p.isascii() for p in paragraphs)
    from tokenforge.eval import Corpus, CorpusPart

    corpus = Corpus("brown", (CorpusPart("en", tuple(paragraphs)),))
    r = evaluate(load_vocab("cl100k_base"), corpus, samples=False).results[0]
    fert, pcw = _independent_fertility(paragraphs, reference_encoder)
    assert r.fertility == pytest.approx(fert, rel=1e-12)
    assert r.continued == pytest.approx(pcw, rel=1e-12)


def test_premium_function_by_hand() -> None:
    counts = {"en": [10, 20, None], "de": [15, 30, 7], "xx": [None, None, 3]}
    out = premiums(counts, "en")
    assert out["en"] == 1.0
    assert out["de"] == pytest.approx(45 / 30)  # the third segment is missing in English
    assert out["xx"] is None  # no segment shared with English
    assert premiums(counts, "en", {"de": 0.2})["de"] is None  # > 10% unknown tokens: left out


def test_gini_by_hand() -> None:
    assert gini([1.0, 1.0, 1.0]) == 0.0
    assert gini([0.0, 0.0, 0.0, 1.0]) == pytest.approx(0.75)
    assert gini([1.0, 3.0]) == pytest.approx(2 * 2 / (2 * 4 * 2))
    assert gini([]) is None
    s = spread({"a": 1.0, "b": 3.0, "c": None})
    assert s is not None and (s.languages, s.mean, s.worst, s.best) == (2, 2.0, "b", "a")
