"""The shipped text data (tokenforge.data) and the parity corpus built from it.

Pure Python: nothing here needs the compiled extension.
"""

from __future__ import annotations

import unicodedata

import pytest

from tokenforge import data
from tokenforge.errors import CorpusError, TokenforgeError

import parity_corpus

# --- UDHR -------------------------------------------------------------------------------------


def test_udhr_covers_many_languages_and_scripts() -> None:
    languages = data.udhr_languages()
    assert len({lang["code"] for lang in languages}) == len(languages)
    assert len(languages) >= 120
    assert len({lang["script"] for lang in languages}) >= 20
    assert [lang["code"] for lang in languages] == sorted(lang["code"] for lang in languages)
    assert set(languages[0]) == {"code", "name", "script", "bcp47"}


def test_udhr_has_preferred_versions_only() -> None:
    codes = {lang["code"] for lang in data.udhr_languages()}
    assert {
        "eng",
        "cmn_hans",
        "cmn_hant",
        "deu_1996",
        "ron_2006",
        "por_BR",
        "ell_monotonic",
    } <= codes
    # The older or regional alternatives of those were left out.
    assert not codes & {
        "deu_1901",
        "ron_1953",
        "ron_1993",
        "por_PT",
        "ell_polytonic",
        "cmn_hans_beijing",
    }


def test_udhr_versions_are_complete() -> None:
    for version in data.udhr():
        assert sorted(version["articles"]) == list(range(1, 31)), version["code"]
        assert version["preamble"], version["code"]
        paragraphs = [*version["preamble"], *(p for ps in version["articles"].values() for p in ps)]
        assert all(p.strip() and p != "&1" for p in paragraphs), version["code"]
        assert version["direction"] in ("ltr", "rtl")


def test_udhr_english_text() -> None:
    text = data.udhr_text("eng")
    assert text.startswith("Whereas recognition of the inherent dignity")
    articles = data.udhr_articles("eng")
    assert articles[1].startswith("All human beings are born free and equal in dignity and rights.")
    assert set(articles) == set(range(1, 31))
    # The full text is the preamble followed by the articles in order.
    assert text.endswith(articles[30])
    assert articles[1] in text


def test_udhr_chinese_scripts_differ() -> None:
    simplified = data.udhr_articles("cmn_hans")[1]
    traditional = data.udhr_articles("cmn_hant")[1]
    assert simplified != traditional
    assert "人" in simplified and "人" in traditional


def test_udhr_right_to_left() -> None:
    rtl = {lang["code"] for lang in data.udhr() if lang["direction"] == "rtl"}
    assert {"arb", "heb"} <= rtl


def test_unknown_code_lists_close_matches() -> None:
    with pytest.raises(CorpusError, match="deu_1996"):
        data.udhr_text("deu")  # the ISO 639-3 code alone is not a version code
    with pytest.raises(CorpusError, match="eng"):
        data.udhr_articles("en")
    with pytest.raises(CorpusError, match="cmn_hans"):
        data.udhr_text("cmn_han")
    with pytest.raises(TokenforgeError, match="unknown UDHR code 'xx-nope'"):
        data.udhr_text("xx-nope")


def test_results_cannot_corrupt_the_cache() -> None:
    first = data.udhr()
    assert isinstance(first, tuple)
    first[0]["name"] = "changed"
    first[0]["articles"].clear()
    again = data.udhr()
    assert again[0]["name"] != "changed"
    assert len(again[0]["articles"]) == 30
    articles = data.udhr_articles("eng")
    articles[1] = "changed"
    assert data.udhr_articles("eng")[1] != "changed"
    docs = data.code_documents()
    docs[0]["text"] = ""
    assert data.code_documents()[0]["text"]
    assert isinstance(data.english_paragraphs(), tuple)


# --- English and code -------------------------------------------------------------------------


def test_english_paragraphs() -> None:
    paragraphs = data.english_paragraphs()
    assert len(paragraphs) > 1_000
    assert all(p and "\n" not in p and p == p.strip() for p in paragraphs)
    size = sum(len(p.encode()) for p in paragraphs)
    assert 400_000 <= size <= 600_000
    assert paragraphs[0].startswith(("The ", "A ")) or paragraphs[0][0].isupper()


def test_code_documents() -> None:
    docs = data.code_documents()
    assert len(docs) >= 20
    langs = {doc["lang"] for doc in docs}
    assert "python" in langs
    assert len({doc["path"] for doc in docs}) == len(docs)
    assert all(doc["text"] and doc["license"] and doc["source"] for doc in docs)
    size = sum(len(doc["text"].encode()) for doc in docs)
    assert 300_000 <= size <= 500_000
    texts = [doc["text"] for doc in docs]
    # The variety the documents were chosen for survived the round trip.
    assert any("\r\n" in t for t in texts)
    assert any(t.startswith("\ufeff") for t in texts)
    assert any("\t" in t for t in texts)
    assert any(any(ord(c) > 0xFFFF for c in t) for t in texts)


# --- parity corpus ----------------------------------------------------------------------------


def test_parity_texts_are_deterministic() -> None:
    assert parity_corpus.parity_texts() == parity_corpus.parity_texts()
    assert parity_corpus.texts_without_specials() == parity_corpus.texts_without_specials()


def test_parity_texts_cover_every_group() -> None:
    texts = parity_corpus.parity_texts()
    labels = [label for label, _ in texts]
    assert len(labels) == len(set(labels))
    assert all(text for _, text in texts)
    for _label, text in texts:
        text.encode("utf-8")  # strict: no lone surrogates anywhere
    groups = {label.split("/")[0] for label in labels}
    assert groups == {"english", "code", "udhr", "adversarial"}
    assert sum(label.startswith("udhr/") for label in labels) == len(data.udhr_languages())
    english = [text for label, text in texts if label.startswith("english/")]
    assert 24 <= len(english) <= 150
    assert all(1_500 <= len(t.encode()) <= 12_000 for t in english)


def test_parity_size_is_sane() -> None:
    info = parity_corpus.summary()
    assert info["texts"] == len(parity_corpus.parity_texts())
    assert 3_000_000 <= info["bytes"] <= 20_000_000
    assert info["groups"]["english"]["bytes"] >= 400_000
    assert info["groups"]["udhr"]["texts"] >= 120


def test_adversarial_contents() -> None:
    texts = dict(parity_corpus.adversarial_texts())
    joined = "".join(texts.values())
    assert "a" * 100_000 in joined
    assert " " * 50_000 in joined
    assert "\n" * 20_000 in joined
    assert max(len(t) for t in texts.values()) >= 200_000
    for ws in parity_corpus.WHITESPACE:
        assert texts[f"adversarial/whitespace/alone/U+{ord(ws):04X}"] == ws
        assert texts[f"adversarial/whitespace/end/U+{ord(ws):04X}"].endswith(ws)
    for needle in (
        "I'M",
        "he'S",
        "WE'LL",
        "''s",
        "\u2019s",
        "<|endoftext|>",
        "<|im_start|>",
        "\U0001f1fa\U0001f1f8",
        "\u200d",
        "\u0661",
        "\ufffd",
        "\ufffe",
        "\U000f0000",
        "\x00",
    ):
        assert needle in joined, needle
    for n in range(1, 13):
        assert "123456789012"[:n] in texts[f"adversarial/digits/length_{n:02d}"]
    assert any(unicodedata.combining(c) for c in texts["adversarial/combining/zalgo_heavy"])


def test_without_specials_drops_only_special_shapes() -> None:
    full = parity_corpus.parity_texts()
    clean = parity_corpus.texts_without_specials()
    assert 0 < len(clean) < len(full)
    clean_labels = {label for label, _ in clean}
    assert not any(label.startswith("adversarial/specials/") for label in clean_labels)
    assert all("<|" + "endoftext|>" not in text and "<|im_start|>" not in text for _, text in clean)
    dropped = {label for label, _ in full} - clean_labels
    assert all(label.startswith(("adversarial/specials/", "adversarial/mix/")) for label in dropped)
