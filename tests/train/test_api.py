"""The training entry point: per-algorithm configs, option checking and config round trips."""

from __future__ import annotations

import pytest

import tokenforge as tf
from tokenforge.errors import InvalidArgumentError
from tokenforge.train import BpeConfig, CharBpeConfig, SuperBpeConfig, TrainConfig

from .conftest import english


def test_options_belong_to_the_algorithm() -> None:
    with pytest.raises(InvalidArgumentError, match="bpe has no option transition"):
        tf.train(["a b c"], vocab_size=300, transition=10)
    with pytest.raises(InvalidArgumentError, match="algorithm must be one of"):
        tf.train(["a b c"], vocab_size=300, algorithm="wordpiece")
    with pytest.raises(InvalidArgumentError, match="vocab_size"):
        tf.train(["a b c"])


def test_config_argument_equals_keyword_options() -> None:
    texts = list(english()[:100])
    config = SuperBpeConfig(vocab_size=600, transition=200, special_tokens=("<eos>",))
    a = tf.train(texts, config=config, num_threads=1)
    b = tf.train(texts, algorithm="superbpe", vocab_size=600, transition=200, special_tokens=["<eos>"])
    assert a.spec.metadata == b.spec.metadata
    with pytest.raises(InvalidArgumentError, match="not both"):
        tf.train(texts, config=config, vocab_size=600)


@pytest.mark.parametrize(
    "config",
    [
        BpeConfig(vocab_size=1000, pretokenizer="gpt2", domain_tokens=("x y",)),
        CharBpeConfig(vocab_size=9000),
        SuperBpeConfig(vocab_size=1000, transition=10, max_memory=1 << 30),
    ],
)
def test_config_json_round_trip(config: TrainConfig) -> None:
    again = TrainConfig.from_json(config.to_json())
    assert again == config and type(again) is type(config)


def test_config_json_rejects_foreign_keys() -> None:
    data = BpeConfig(vocab_size=1000).to_json()
    with pytest.raises(InvalidArgumentError, match="no transition"):
        TrainConfig.from_json({**data, "transition": 5})
    with pytest.raises(InvalidArgumentError, match="unknown bpe config keys"):
        TrainConfig.from_json({**data, "colour": 1})
    with pytest.raises(InvalidArgumentError, match="unknown training algorithm"):
        TrainConfig.from_json({**data, "algorithm": "nope"})


def test_charbpe_defaults_are_recorded() -> None:
    assert CharBpeConfig(vocab_size=9000).max_token_chars == 4
    assert CharBpeConfig(vocab_size=800).normalizers == ("NFKC",)
    assert CharBpeConfig(vocab_size=800, normalizers=()).normalizers == ()


def test_from_counts_conflicts_are_reported() -> None:
    counts = tf.count(list(english()[:50]), line_boundaries=False)
    with pytest.raises(InvalidArgumentError, match="line_boundaries"):
        tf.train(from_counts=counts, vocab_size=400, line_boundaries=True)
    with pytest.raises(InvalidArgumentError, match="pre-tokenizer differs"):
        tf.train(from_counts=counts, vocab_size=400, pretokenizer="gpt2")
    tok = tf.train(from_counts=counts, vocab_size=400)
    assert tok.spec.metadata["config"]["line_boundaries"] is False
