"""The hand-written pre-tokenizers must split exactly like their regexes (the generic path)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenforge import _core
from tokenforge.train import TRAIN_PATTERNS

from parity_corpus import parity_texts

PRESETS = dict(_core.PRESET_PATTERNS)


def test_rust_and_python_presets_are_the_same_patterns() -> None:
    # The encoding presets (tokenforge.PATTERNS) plus SuperBPE's two training stages.
    assert PRESETS == TRAIN_PATTERNS


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_scanner_equals_regex_on_parity_corpus(name: str) -> None:
    pattern = PRESETS[name]
    for label, text in parity_texts():
        fast = _core.split_pieces(pattern, text, scanner=True)
        slow = _core.split_pieces(pattern, text, scanner=False)
        assert fast == slow, f"{name} differs on {label}"


_chars = st.one_of(
    st.sampled_from(list(" \t\n\r\x0b\x0c\x85\xa0\u2028\u3000'sStTlLvVeErRmMdDſ/!.0١½Ⅻaé\u0301\u093f中😀")),
    st.characters(blacklist_categories=("Cs",)),
)


@pytest.mark.parametrize("name", sorted(PRESETS))
@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet=_chars, max_size=60))
def test_scanner_equals_regex_on_arbitrary_unicode(name: str, text: str) -> None:
    pattern = PRESETS[name]
    assert _core.split_pieces(pattern, text, scanner=True) == _core.split_pieces(pattern, text, scanner=False)
