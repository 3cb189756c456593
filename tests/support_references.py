"""Reference tokenizers for differential tests, built from the same vocabulary files as tokenforge
but by the peers' own engines: tiktoken's `Encoding`, and HF `tokenizers` from a tokenizer.json
document written here independently of tokenforge's writer."""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Callable

import tiktoken
import tokenizers
from tiktoken.load import load_tiktoken_bpe

import tokenforge as tf
from tokenforge import vocab_sources
from tokenforge.formats import presets


def _gpt2_byte_chars() -> dict[int, str]:
    keep = [*range(33, 127), *range(161, 173), *range(174, 256)]
    out, n = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + n)
            n += 1
    return out


@functools.cache
def tiktoken_reference(name: str) -> Callable[[str], list[int]]:
    """tiktoken on the known encoding (NFC first where the encoding normalizes, as Qwen does)."""
    known = presets.by_name(name)
    assert known is not None
    path = vocab_sources.find(name)
    assert path is not None, f"run `make vocab` ({name} missing)"
    enc = tiktoken.Encoding(
        name=f"ref-{name}",
        pat_str=known.pattern,
        mergeable_ranks=load_tiktoken_bpe(str(path)),
        special_tokens=dict(known.special_tokens),
    )
    if "NFC" in known.normalizers:
        return lambda text: enc.encode(unicodedata.normalize("NFC", text), allowed_special="all")
    return lambda text: enc.encode(text, allowed_special="all")


def _onig(pattern: str) -> str:
    # Oniguruma reads "{1,3}+" as a repeat of a repeat, not as possessive; spell it as an atomic group.
    return pattern.replace(r"\p{N}{1,3}+", r"(?>\p{N}{1,3})")


@functools.cache
def hf_reference(name: str) -> tokenizers.Tokenizer:
    """HF `tokenizers` on the known encoding: merges derived from ranks (every split of a token into
    two tokens, by the merged token's rank), whole tokens first (`ignore_merges`)."""
    known = presets.by_name(name)
    assert known is not None
    path = vocab_sources.find(name)
    assert path is not None
    ranks = load_tiktoken_bpe(str(path))
    chars = _gpt2_byte_chars()
    as_str = {token: "".join(chars[b] for b in token) for token in ranks}
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        splits = []
        for i in range(1, len(token)):
            left, right = token[:i], token[i:]
            if left in ranks and right in ranks:
                splits.append((ranks[left], ranks[right], left, right))
        merges.extend([as_str[a], as_str[b]] for _, _, a, b in sorted(splits))
        del rank
    doc = {
        "version": "1.0",
        "added_tokens": [
            {
                "id": i,
                "content": c,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for c, i in known.special_tokens.items()
        ],
        # Specials listed in the vocabulary too: HF renumbers added tokens that are not in it.
        "normalizer": {"type": "NFC"} if "NFC" in known.normalizers else None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": _onig(known.pattern)},
                    "behavior": "Isolated",
                    "invert": False,
                },
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
            ],
        },
        "post_processor": None,
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": False,
            "use_regex": False,
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": True,
            "vocab": {**{as_str[t]: r for t, r in ranks.items()}, **known.special_tokens},
            "merges": merges,
        },
    }
    return tokenizers.Tokenizer.from_str(json.dumps(doc))


def hf_encode_batch(tok: tokenizers.Tokenizer) -> Callable[[list[str]], list[list[int]]]:
    """HF's own parallel batch call (its per-text results equal `encode`'s)."""
    return lambda texts: [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]


def first_difference(a: list[int], b: list[int]) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def _show(tok: tf.Tokenizer, ids: list[int]) -> str:
    try:
        return repr(tok.decode(ids))
    except tf.InvalidTokenIdError:
        return "(has ids unknown to tokenforge)"


def describe_mismatch(tok: tf.Tokenizer, label: str, ours: list[int], theirs: list[int]) -> str:
    i = first_difference(ours, theirs)
    lo = max(0, i - 3)
    return (
        f"{label}: first difference at token {i}: ours {ours[lo : i + 4]} {_show(tok, ours[lo : i + 4])} "
        f"vs reference {theirs[lo : i + 4]} {_show(tok, theirs[lo : i + 4])}"
    )
