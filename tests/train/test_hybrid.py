"""The hybrid morphological tokenizer: segmentation of known Turkish words (allomorphs share ids),
lossless round trips, save/load, determinism, dispatch from train/CLI/eval, typed errors.

The Turkish tests use the data of ``make turkish-data`` (Zemberek lexicon, Turkish Web Treebank);
the rest use small dictionaries written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tokenforge as tf
from tokenforge.cli import main
from tokenforge.data import udhr_text
from tokenforge.data.turkish import TURKISH_AFFIXES, treebank_sentences, turkish_roots
from tokenforge.errors import (
    CorpusError,
    DictionaryNotFoundError,
    InvalidArgumentError,
    InvalidTokenIdError,
    InvalidVocabularyError,
    SpecialTokenError,
)
from tokenforge.eval.morphology import token_types
from tokenforge.hybrid import HybridTokenizer
from tokenforge.train import HybridConfig

from .conftest import PROBES

WORDS = (
    "kitap kitaplar kitabı kitapta evler evde evlerimizden burun burnu bekle bekliyor gitmek "
    "gideceğim gözlük gözlüğüm ağaç ağacı renk rengi hak hakkı okuyor geliyor saatler"
).split()
SMALL_ROOTS = (
    "ev",
    ("kitap", "kitab", "vowel"),
    ("burun", "burn", "vowel"),
    ("bekle", "bekl", "progressive"),
)
SMALL_AFFIXES = ("lAr", "DA", "(y)I", "(s)I", "(I)yor", "(I)m")


@pytest.fixture(scope="module")
def turkish() -> HybridTokenizer:
    corpus = [udhr_text("tur"), " ".join(WORDS), "Ankara'ya İstanbul'da TBMM'de Kitaplarımız"] * 3
    return tf.train(corpus, vocab_size=2000, algorithm="hybrid", special_tokens=["<eos>"], num_threads=2)


@pytest.fixture(scope="module")
def small() -> HybridTokenizer:
    corpus = ["kitaplar evde kitabı burnu bekliyor evler kitapta", "Kitaplar, evler; 2025 yılı."] * 5
    return tf.train(corpus, vocab_size=400, algorithm="hybrid", roots=SMALL_ROOTS, affixes=SMALL_AFFIXES)


def _units(tok: HybridTokenizer, word: str) -> list[str]:
    ((piece, units),) = tok.segment(word)
    assert piece == word
    return units


def test_known_turkish_words_segment_into_root_and_affixes(turkish: HybridTokenizer) -> None:
    expected = {
        "kitaplar": ["root:kitap", "affix:lAr"],
        "kitabı": ["root:kitap", "affix:(s)I"],
        "evlerimizden": ["root:ev", "affix:lAr", "affix:(I)mIz", "affix:DAn"],
        "burnu": ["root:burun", "affix:(s)I"],
        "bekliyor": ["root:bekle", "affix:(I)yor"],
        "gideceğim": ["root:git", "affix:(y)AcAK", "affix:(I)m"],
        "gözlüğüm": ["root:gözlük", "affix:(I)m"],
        "ağacı": ["root:ağaç", "affix:(s)I"],
        "rengi": ["root:renk", "affix:(s)I"],
        "hakkı": ["root:hak", "affix:(s)I"],
        "okuyor": ["root:oku", "affix:(I)yor"],
    }
    for word, units in expected.items():
        assert _units(turkish, word) == units, word
    # Loanword breaking vowel harmony: the root, then the fallback (never a wrong allomorph).
    assert _units(turkish, "saatler") == ["root:saat", "fallback:ler"]
    assert _units(turkish, "Kitaplarımız")[:2] == ["marker:<uppercase>", "root:kitap"]
    assert _units(turkish, "TBMM'de") == ["fallback:TBMM", "fallback:'", "affix:DA"]


def test_allomorphs_share_ids(turkish: HybridTokenizer) -> None:
    ids = {w: turkish.encode(w) for w in WORDS}
    assert ids["kitaplar"][1] == ids["evler"][1]  # lar / ler
    assert ids["kitapta"][1] == ids["evde"][1]  # ta / de
    assert ids["kitabı"][0] == ids["kitap"][0]  # kitab / kitap
    assert ids["burnu"][0] == ids["burun"][0]  # burn / burun
    assert ids["bekliyor"][0] == ids["bekle"][0]  # bekl / bekle
    assert ids["gideceğim"][0] == ids["gitmek"][0]  # gid / git
    assert ids["gözlüğüm"][0] == ids["gözlük"][0]  # gözlüğ / gözlük
    assert ids["okuyor"][1] == ids["geliyor"][1] == ids["bekliyor"][1]  # yor / iyor / iyor
    for word, word_ids in ids.items():
        assert turkish.decode(word_ids) == word


def test_markers_and_kinds(turkish: HybridTokenizer) -> None:
    ids = turkish.encode("Kitap ev\n")
    assert [turkish.token_kind(i) for i in ids] == ["marker", "root", "marker", "root", "marker"]
    assert ids[0] == 0 and ids[2] == 1 and ids[4] == 2
    assert turkish.decode_single_token_bytes(0) == b""
    assert turkish.id_to_token(ids[1]) == "kitap"
    assert turkish.decode_single_token_bytes(turkish.encode("evler")[1]) == b"lar"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60) | st.sampled_from(WORDS).map(str.capitalize))
def test_decode_inverts_encode(turkish: HybridTokenizer, text: str) -> None:  # type: ignore[misc]
    ids = turkish.encode_ordinary(text)
    assert turkish.decode(ids) == text.encode("utf-8", "replace").decode("utf-8")
    assert turkish.encode_ordinary_batch([text, text], num_threads=2) == [ids, ids]


def test_roundtrip_on_treebank_text(turkish: HybridTokenizer) -> None:
    texts = [s for s, _ in treebank_sentences("twt-web.conllu")[:500]]
    batch = turkish.encode_ordinary_batch(texts, num_threads=2)
    assert batch == [turkish.encode_ordinary(t) for t in texts]
    assert [turkish.decode(ids) for ids in batch] == texts
    for probe in PROBES:
        assert turkish.decode(turkish.encode_ordinary(probe)) == probe


def test_special_tokens_follow_tiktoken_rules(turkish: HybridTokenizer) -> None:
    eos = turkish.special_tokens["<eos>"]
    assert eos == turkish.n_vocab - 1
    with pytest.raises(SpecialTokenError):
        turkish.encode("ev<eos>")
    assert turkish.encode("ev<eos>ev", allowed_special="all") == [
        *turkish.encode("ev"),
        eos,
        *turkish.encode("ev"),
    ]
    assert eos not in turkish.encode("ev<eos>", disallowed_special=())
    assert turkish.decode(turkish.encode("a<eos>b", allowed_special={"<eos>"})) == "a<eos>b"


def test_save_load_roundtrip(turkish: HybridTokenizer, tmp_path: Path) -> None:
    path = turkish.save(tmp_path)
    assert path == tmp_path / "tokenizer.json"
    again = tf.load(tmp_path)
    assert isinstance(again, HybridTokenizer)
    assert again.n_vocab == turkish.n_vocab and again.special_tokens == turkish.special_tokens
    text = udhr_text("tur")[:3000]
    assert again.encode(text) == turkish.encode(text)
    assert again.to_json() == turkish.to_json()
    assert again.save(tmp_path / "again.json").read_bytes() == path.read_bytes()
    assert tf.verify(path).ok
    assert again.metadata["config"]["algorithm"] == "hybrid"


def test_deterministic_whatever_the_threads(tmp_path: Path) -> None:
    corpus = [udhr_text("tur")] * 2
    one = tf.train(corpus, vocab_size=900, algorithm="hybrid", num_threads=1)
    two = tf.train(corpus, vocab_size=900, algorithm="hybrid", num_threads=2)
    assert one.save(tmp_path / "a.json").read_bytes() == two.save(tmp_path / "b.json").read_bytes()


def test_vocabulary_budget(small: HybridTokenizer) -> None:
    assert small.n_vocab == 3 + 4 + len(SMALL_AFFIXES) + len(small.spec.fallback_vocab)
    assert small.n_vocab <= 400
    training = small.metadata["training"]
    assert training["roots_kept"] == 4 and training["affixes"] == len(SMALL_AFFIXES)
    capped = tf.train(["kitaplar evde burnu"] * 3, vocab_size=400, algorithm="hybrid", roots=SMALL_ROOTS,
                      affixes=SMALL_AFFIXES, max_roots=1)  # fmt: skip
    assert len(capped.spec.roots) == 1
    assert HybridConfig(vocab_size=400, roots=SMALL_ROOTS).roots[1] == ("kitap", "kitab", "vowel")


def test_turkish_dictionaries() -> None:
    roots = {r.form: r for r in turkish_roots()}
    assert roots["kitap"].alternate == "kitab" and roots["kitap"].trigger == "vowel"
    assert roots["burun"].alternate == "burn"
    assert roots["renk"].alternate == "reng"
    assert roots["hak"].alternate == "hakk"
    assert roots["bekle"].alternate == "bekl" and roots["bekle"].trigger == "progressive"
    assert roots["ev"].alternate is None
    assert len(TURKISH_AFFIXES) == len(set(TURKISH_AFFIXES))


def test_train_cli_and_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "tr.txt"
    corpus.write_text(udhr_text("tur"), encoding="utf-8")
    out = tmp_path / "hybrid"
    assert (
        main(["train", str(corpus), "--algorithm", "hybrid", "--vocab-size", "1200", "-o", str(out), "-q"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    tok = tf.load(out)
    assert isinstance(tok, HybridTokenizer) and result["n_vocab"] == tok.n_vocab
    args = ["train", str(corpus), "--algorithm", "hybrid", "--vocab-size", "1200", "-o", str(tmp_path / "x")]
    assert main([*args, "-q", "--tiktoken"]) != 0
    assert "--tiktoken needs a byte-level BPE" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    evaluated = tf.evaluate([str(out / "tokenizer.json")], str(corpus), metrics=["compression", "morphology"])
    row = evaluated.results[0]
    assert row.tokenizer == "hybrid" and not evaluated.failures
    assert row.bytes_per_token > 1.0
    assert row.languages[0].morphology["valid_word"] > 0.5
    assert row.languages[0].morphology["pure"] is not None


def test_token_types_read_metaspace_as_space() -> None:
    types, skipped = token_types([0, 1, 1], [b"\xe2\x96\x81kitap", b"lar"])
    assert types == {"kitap": 1, "lar": 2} and skipped == 0


def test_errors(small: HybridTokenizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CorpusError):
        tf.train([""], vocab_size=400, algorithm="hybrid", roots=SMALL_ROOTS, affixes=SMALL_AFFIXES)
    with pytest.raises(InvalidArgumentError, match="too small"):
        tf.train(["ev"], vocab_size=100, algorithm="hybrid", roots=SMALL_ROOTS, affixes=SMALL_AFFIXES)
    with pytest.raises(InvalidArgumentError, match="roots is empty"):
        HybridConfig(vocab_size=400, roots=())
    with pytest.raises(InvalidArgumentError, match="no option"):
        tf.train(["ev"], vocab_size=400, algorithm="hybrid", transition=3)
    with pytest.raises(InvalidVocabularyError, match="template"):
        tf.train(["ev"], vocab_size=400, algorithm="hybrid", roots=SMALL_ROOTS, affixes=["(x)a"])
    with pytest.raises(InvalidVocabularyError, match="lower-case"):
        tf.train(["ev"], vocab_size=400, algorithm="hybrid", roots=["Ev"], affixes=SMALL_AFFIXES)
    with pytest.raises(InvalidTokenIdError):
        small.decode([small.n_vocab])
    with pytest.raises(InvalidTokenIdError):
        small.decode([-1])
    with pytest.raises(InvalidTokenIdError):
        small.decode_single_token_bytes(small.n_vocab)
    # A missing dictionary: nothing in the cache and no installed package.
    monkeypatch.setenv("TOKENFORGE_HOME", str(tmp_path / "empty"))
    monkeypatch.setattr("tokenforge.data.turkish._installed", lambda entry: None)
    turkish_roots.cache_clear()
    try:
        with pytest.raises(DictionaryNotFoundError, match="make turkish-data"):
            tf.train(["kitaplar"], vocab_size=900, algorithm="hybrid")
    finally:
        turkish_roots.cache_clear()


def test_corrupt_files_are_typed_errors(small: HybridTokenizer, tmp_path: Path) -> None:
    doc = small.to_json()
    for change in (
        lambda d: d["model"].__setitem__("roots", [["kitap", "kitab"]]),
        lambda d: d["model"].__setitem__("affixes", ["(q)"]),
        lambda d: d["model"]["fallback"].__setitem__("merges", [[1]]),
        lambda d: d["model"].__setitem__("format", 99),
        lambda d: d["model"]["roots"].__setitem__(0, ["ev", "ew", "sometimes"]),
    ):
        bad = json.loads(json.dumps(doc))
        change(bad)
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad), encoding="utf-8")
        with pytest.raises(InvalidVocabularyError):
            tf.load(path)
    path.write_text('{"model": {"type": "tokenforge.Hybrid"', encoding="utf-8")
    with pytest.raises(InvalidVocabularyError):
        HybridTokenizer.from_file(path)
