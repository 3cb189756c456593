"""What must not crash: empty texts, tokenizers that fail to load or on some text, bad ids."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from types import MappingProxyType

import pytest

from tokenforge import TokenforgeError
from tokenforge.eval import Corpus, CorpusPart, evaluate
from tokenforge.eval.adapters import resolve_tokenizer

from toys import Flaky, toy

PARALLEL = Corpus(
    "tiny",
    (
        CorpusPart("en", ("the cat sat.", "a ☠ here", ""), lang="en"),
        CorpusPart("de", ("die Katze", "ein ☠", "x"), lang="de"),
        CorpusPart("empty", ("", "", ""), lang="xx"),
    ),
    parallel=True,
    reference="en",
)


def _renders(result) -> None:  # type: ignore[no-untyped-def]
    json.loads(result.to_json())  # no NaN, serialisable
    assert "Tokenizer evaluation" in result.to_markdown()
    assert "</html>" in result.to_html()


def test_empty_texts() -> None:
    result = evaluate(toy(), PARALLEL)
    r = result.results[0]
    empty = next(lr for lr in r.languages if lr.key == "empty")
    assert (empty.tokens, empty.bytes, empty.bytes_per_token, empty.fertility) == (0, 0, None, None)
    assert empty.premium == 0.0  # zero tokens for the same content as English
    assert not result.failures
    _renders(result)


def test_all_empty_corpus() -> None:
    corpus = Corpus("void", (CorpusPart("zz", ("", "")),))
    r = evaluate(toy(), corpus, metrics="all").results[0]
    assert r.tokens == 0 and r.bytes_per_token is None and r.renyi_efficiency is None
    assert r.utilization == 0.0
    _renders(evaluate(toy(), corpus))


def test_a_tokenizer_that_fails_on_some_text_is_reported() -> None:
    result = evaluate([Flaky(toy()), toy()], PARALLEL)
    flaky = result.result("flaky", "tiny")
    assert {(f.tokenizer, f.part, f.segment) for f in result.failures} == {
        ("flaky", "en", 1),
        ("flaky", "de", 1),
    }
    assert all("cannot encode this text" in f.error for f in result.failures)
    en = next(lr for lr in flaky.languages if lr.key == "en")
    assert en.failed == 1 and en.segments == 2 and "failed" in en.notes
    # Premiums use only the segments both languages encoded.
    de = next(lr for lr in flaky.languages if lr.key == "de")
    t = toy()
    # (the third segments are both present: "" in English, "x" in German)
    assert de.premium == pytest.approx((len(t.encode("die Katze")) + 1) / len(t.encode("the cat sat.")))
    assert result.result("toy", "tiny").failed == 0
    html = result.to_html()
    assert "2 failures" in html and "cannot encode this text" in html
    _renders(result)


def test_a_tokenizer_that_cannot_be_loaded_is_reported() -> None:
    result = evaluate(["no-such-tokenizer", toy()], PARALLEL, samples=False)
    assert [f.tokenizer for f in result.failures] == ["no-such-tokenizer"]
    assert "could not load" in result.failures[0].error
    assert [r.tokenizer for r in result.results] == ["toy", "toy"][:1]
    with pytest.raises(TokenforgeError, match="no tokenizer could be evaluated"):
        evaluate(["no-such-tokenizer"], PARALLEL)


class BadIds:
    """Returns an id that does not exist."""

    name = "bad-ids"
    n_vocab = 300
    special_tokens: Mapping[str, int] = MappingProxyType({})

    def encode_ordinary_batch(
        self, texts: Iterable[str], *, num_threads: int | None = None
    ) -> list[list[int]]:
        return [[999] if "cat" in t else list(t.encode()) for t in texts]

    def decode_single_token_bytes(self, token: int) -> bytes:
        if token >= 256:
            raise KeyError(token)
        return bytes([token])


def test_a_tokenizer_returning_unknown_ids_is_reported() -> None:
    result = evaluate(BadIds(), PARALLEL, samples=False)
    assert [(f.part, f.segment) for f in result.failures] == [("en", 0)]
    assert "999" in result.failures[0].error
    assert result.results[0].tokens > 0


def test_bad_arguments() -> None:
    with pytest.raises(TokenforgeError, match="unknown metric group"):
        evaluate(toy(), PARALLEL, metrics="speed")
    with pytest.raises(TokenforgeError, match="at least one tokenizer"):
        evaluate([], PARALLEL)
    with pytest.raises(TokenforgeError, match="alpha"):
        evaluate(toy(), PARALLEL, alpha=-1)
    with pytest.raises(TokenforgeError, match="cannot be evaluated"):
        resolve_tokenizer(object())


def test_duplicate_tokenizers_get_distinct_labels() -> None:
    result = evaluate([toy(), toy()], PARALLEL, samples=False)
    assert [t.label for t in result.tokenizers] == ["toy", "toy (2)"]


def test_monolingual_corpus_has_no_premium_column() -> None:
    corpus = Corpus("mono", (CorpusPart("en", ("the cat",)),))
    result = evaluate(toy(), corpus)
    assert result.results[0].premium is None
    assert "premium" not in result.to_markdown().split("\n")[4]
