"""SuperBPE, extend, character-level BPE, domain tokens and vocabulary padding."""

from __future__ import annotations

from pathlib import Path

import pytest

import tokenforge as tf
from tokenforge.train import TRAIN_PATTERNS

from .conftest import PROBES, code, english, hf_ids_match


@pytest.fixture(scope="module")
def superbpe() -> tf.Tokenizer:
    return tf.train(list(english()), vocab_size=2000, algorithm="superbpe", transition=1200, num_threads=2)


def _learned(tok: tf.Tokenizer, start: int = 256) -> list[bytes]:
    vocab = tok._full_spec().vocab
    return [b for b, i in sorted(vocab.items(), key=lambda kv: kv[1]) if i >= start]


def test_superbpe_stage_one_is_plain_bpe_then_superwords(superbpe: tf.Tokenizer) -> None:
    bpe = tf.train(list(english()), vocab_size=256 + 1200, pretokenizer="superbpe_stage1", num_threads=1)
    merges = superbpe._full_spec().merges
    assert merges is not None and merges[:1200] == bpe._full_spec().merges
    assert superbpe.pattern == TRAIN_PATTERNS["superword"]
    stage2 = _learned(superbpe, 256 + 1200)
    assert len(stage2) == 2000 - 256 - 1200
    multiword = [t for t in stage2 if len([w for w in t.split(b" ") if w]) >= 2]
    assert len(multiword) > 100, multiword[:20]
    for token in stage2:
        assert b": " not in token
        assert len([w for w in token.split(b" ") if w]) <= 4
        assert b"\n" not in token[:-1], token  # newlines only at the end: lines are hard boundaries
    meta = superbpe.spec.metadata
    assert meta is not None
    assert [s["name"] for s in meta["training"]["stages"]] == ["subword", "superword"]
    assert meta["config"]["transition"] == 1200 and meta["config"]["max_words_per_token"] == 4


def _tab_indented(n: int) -> list[str]:
    words = "alpha beta gamma delta epsilon zeta eta theta".split()
    return [
        f"\t   {words[i % 8]} {words[i * 3 % 8]}: {words[i * 5 % 8]} {words[i * 7 % 8]}\n" for i in range(n)
    ]


def test_superbpe_drops_inherited_merges_whose_pair_never_occurs_in_stage_2() -> None:
    # Stage 1 sees "\t  " (its pre-tokenizer keeps a tab with the spaces before a word) and learns
    # "\t " and "\t  "; stage 2 isolates the trailing spaces, so "\t" never meets " " there. The
    # authors' replay skips such merges: no token, and the freed ids go to superwords.
    texts = _tab_indented(40)
    stage1 = tf.train(texts, vocab_size=256 + 60, pretokenizer="superbpe_stage1", num_threads=1)
    first = stage1._full_spec()
    assert first.merges is not None and {b"\t ", b"\t  "} <= set(first.vocab)
    stage1_merges = len(first.merges)
    tok = tf.train(
        texts,
        vocab_size=256 + stage1_merges + 10,
        algorithm="superbpe",
        transition=stage1_merges,
        num_threads=1,
    )
    spec = tok._full_spec()
    assert spec.merges is not None
    assert sorted(set(first.vocab) - set(spec.vocab)) == [b"\t ", b"\t  "]
    stages = spec.metadata["training"]["stages"]
    assert stages[0]["dropped_unseen"] == 2 and stages[0]["merges"] == stage1_merges - 2
    assert stages[1]["learned"] == 12 and tok.n_vocab == 256 + stage1_merges + 10
    # The kept stage-1 merges come first, in their order; ids stay dense.
    by_id = {i: b for b, i in spec.vocab.items()}
    assert sorted(by_id) == list(range(len(by_id)))
    first_by_id = {i: b for b, i in first.vocab.items()}
    inherited = [first_by_id[a] + first_by_id[b] for a, b in first.merges]
    assert [by_id[a] + by_id[b] for a, b in spec.merges[: stage1_merges - 2]] == [
        t for t in inherited if t not in (b"\t ", b"\t  ")
    ]
    assert tok.decode(tok.encode("\t   alpha beta\n")) == "\t   alpha beta\n"


def test_superbpe_uses_fewer_tokens_than_bpe(superbpe: tf.Tokenizer) -> None:
    bpe = tf.train(list(english()), vocab_size=2000, pretokenizer="superbpe_stage1")
    text = "\n".join(english()[:300])
    # A 0.5 MB corpus and 544 superword merges: a few percent (the benchmark measures the real gain).
    assert len(superbpe.encode_ordinary(text)) < 0.97 * len(bpe.encode_ordinary(text))


def test_superbpe_file_encodes_identically_in_hf(superbpe: tf.Tokenizer, tmp_path: Path) -> None:
    path = superbpe.save(tmp_path / "tokenizer.json")
    assert hf_ids_match(superbpe, path, [*PROBES, *english()[:200]]) == []


def test_superbpe_transition_is_validated() -> None:
    with pytest.raises(tf.InvalidArgumentError, match="transition"):
        tf.train(["x"], vocab_size=1000, algorithm="superbpe", transition=744)


def test_extend_keeps_every_id(tmp_path: Path) -> None:
    base = tf.train(list(english()[:700]), vocab_size=900, special_tokens=["<|eot|>"])
    grown = tf.extend(base, list(english()[700:]) + list(code()), 1300)
    old = base._full_spec()
    new = grown._full_spec()
    assert grown.n_vocab == 1300
    assert all(new.vocab[b] == i for b, i in old.vocab.items())
    assert grown.special_tokens == base.special_tokens == {"<|eot|>": 899}
    assert new.merges is not None and old.merges is not None
    assert new.merges[: len(old.merges)] == old.merges
    assert min(i for b, i in new.vocab.items() if b not in old.vocab) == 900
    for text in (*PROBES, *code()[:3]):
        assert grown.decode(grown.encode(text)) == text
    sample = "\n".join(code()[:5])
    assert len(grown.encode_ordinary(sample)) < len(base.encode_ordinary(sample))
    path = grown.save(tmp_path / "tokenizer.json")
    assert hf_ids_match(grown, path, [*PROBES, *code()[:5]]) == []
    meta = grown.spec.metadata
    assert meta is not None and meta["kind"] == "extended" and meta["base"]["n_vocab"] == 900


def test_extend_a_tiktoken_vocabulary(cl100k: tf.Tokenizer) -> None:
    corpus = ["zorblax quuxified frobnicator"] * 50 + list(english()[:100])
    grown = tf.extend(cl100k, corpus, cl100k.n_vocab + 20)
    assert grown.n_vocab == cl100k.n_vocab + 20
    assert grown.spec.merges is None  # still rank semantics
    assert grown.special_tokens == cl100k.special_tokens
    for text in PROBES:
        assert grown.decode(grown.encode(text)) == text
    assert grown.encode("hello world") == cl100k.encode("hello world")
    assert len(grown.encode(" quuxified")) < len(cl100k.encode(" quuxified"))


def test_extend_with_superwords() -> None:
    base = tf.train(list(english()), vocab_size=1000, pretokenizer="superbpe_stage1")
    grown = tf.extend(base, list(english()), 1300, superword=True)
    added = _learned(grown, 1000)
    assert any(len([w for w in t.split(b" ") if w]) >= 2 for t in added)
    assert all(b": " not in t for t in added)


def test_extend_validates_size() -> None:
    base = tf.train(["abc abc"], vocab_size=300)
    with pytest.raises(tf.InvalidArgumentError, match="larger than"):
        tf.extend(base, ["x"], base.n_vocab)


def test_charbpe_short_tokens_and_nfkc() -> None:
    texts = [*english()[:500], "ﬁle ﬂow Ⅻ ＡＢＣ"]
    tok = tf.train(texts, vocab_size=600, algorithm="charbpe", special_tokens=["<|pad|>"])
    assert tok.spec.normalizers == ("NFKC",)
    for token in _learned(tok):
        text = token.decode("utf-8", "replace")
        assert len(text) <= 3, token
    assert tok.encode("ﬁle") == tok.encode("file")
    wide = tf.train(
        ["日本語のテキスト" * 30], vocab_size=300, algorithm="charbpe", max_token_chars=2, min_frequency=1
    )
    assert any(len(t) == 6 for t in _learned(wide))  # two 3-byte characters: length is counted in characters


def test_domain_tokens_are_single_never_split_tokens(tmp_path: Path) -> None:
    domain = ["BRCA1", "p.Val600Glu", "§ 1983"]
    texts = [f"The {d} variant in {d} carriers, see {domain[2]}." for d in domain] * 30
    tok = tf.train(texts, vocab_size=400, domain_tokens=domain, special_tokens=["<|eot|>"])
    ids = {d: tok.encode(d) for d in domain}
    assert all(len(v) == 1 for v in ids.values())
    n = tok.n_vocab  # training stops early on this tiny corpus; domain, then special tokens come last
    assert sorted(i[0] for i in ids.values()) == [n - 4, n - 3, n - 2] and tok.special_tokens == {
        "<|eot|>": n - 1
    }
    # Never split, even inside words, and not special: no allowed_special needed.
    assert ids["BRCA1"][0] in tok.encode_ordinary("xBRCA1x")
    learned = _learned(tok)
    assert not any(b"BRCA" in t for t in learned)  # their text was never counted
    path = tok.save(tmp_path / "tokenizer.json")
    assert hf_ids_match(tok, path, [*texts[:5], "xBRCA1x", "§ 1983§ 1983"]) == []


def test_padding_to_a_multiple() -> None:
    tok = tf.train(list(english()[:200]), vocab_size=500, special_tokens=["<|eot|>"], pad_to_multiple_of=64)
    assert tok.n_vocab == 512
    reserved = [t for t in tok.special_tokens if t.startswith("<|reserved_")]
    assert len(reserved) == 12 and tok.special_tokens["<|eot|>"] == 499
    assert tok.encode("<|reserved_0|>", disallowed_special=()) != [tok.special_tokens["<|reserved_0|>"]]
