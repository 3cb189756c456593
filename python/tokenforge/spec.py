"""The canonical description of a tokenizer, independent of any file format.

Readers in :mod:`tokenforge.formats` turn files into a :class:`TokenizerSpec`; a
:class:`~tokenforge.Tokenizer` is built from one and writers turn it back into files. The model is a
byte-level vocabulary (token bytes -> id) plus either tiktoken-style ranks (``merges=None``: two parts
merge when their concatenation is a token, lowest id first) or an explicit HF merge list.

Every other family (character BPE with byte fallback, Unigram, WordPiece, WordLevel) is a
:class:`ModelSpec`, and a pipeline beyond the typed steps (BERT, Metaspace, charsmap normalizers,
decoder and post-processor chains) is a :class:`PipelineSpec`; both hold validated HF
``tokenizer.json`` nodes, the interchange schema every reader and writer in ``formats`` speaks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AddedToken",
    "ByteLevelStep",
    "DigitsStep",
    "ModelSpec",
    "PipelineSpec",
    "PreTokenizerStep",
    "SplitStep",
    "TokenizerSpec",
]

SplitBehavior = Literal["removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous"]


@dataclass(frozen=True)
class AddedToken:
    """A token matched verbatim in text before pre-tokenization.

    ``special=True`` tokens (``<|endoftext|>``) follow the ``allowed_special`` / ``disallowed_special``
    policy of each call; non-special added tokens (an HF feature) are always matched.
    """

    content: str
    id: int
    special: bool = True
    # HF matching flags, honoured as HF does: ``single_word`` matches only between non-word
    # characters, ``lstrip``/``rstrip`` take the whitespace before/after the token, ``normalized``
    # matches the token's normalized form in the normalized text.
    single_word: bool = False
    lstrip: bool = False
    rstrip: bool = False
    normalized: bool = False


@dataclass(frozen=True)
class SplitStep:
    """Split by a regex (HF ``Split``; tiktoken's pattern is one ``isolated`` split)."""

    pattern: str
    behavior: SplitBehavior = "isolated"
    invert: bool = False


@dataclass(frozen=True)
class ByteLevelStep:
    """HF ``ByteLevel`` pre-tokenizer: optional prefix space, optional GPT-2 regex split."""

    add_prefix_space: bool = False
    use_regex: bool = True


@dataclass(frozen=True)
class DigitsStep:
    """HF ``Digits``: isolate every digit (``individual``) or runs of digits."""

    individual: bool = False


PreTokenizerStep = SplitStep | ByteLevelStep | DigitsStep

ModelKind = Literal["BPE", "Unigram", "WordPiece", "WordLevel"]


@dataclass(frozen=True)
class ModelSpec:
    """A model over a string vocabulary, as its validated HF ``model`` node.

    ``BPE``: ``vocab`` (token -> id), ``merges`` (``[left, right]`` pairs), ``unk_token``,
    ``byte_fallback``, ``fuse_unk``, ``continuing_subword_prefix``, ``end_of_word_suffix``,
    ``ignore_merges``. ``Unigram``: ``vocab`` (``[piece, score]`` in id order), ``unk_id``,
    ``byte_fallback``. ``WordPiece``: ``vocab``, ``unk_token``, ``continuing_subword_prefix``,
    ``max_input_chars_per_word``. ``WordLevel``: ``vocab``, ``unk_token``.
    """

    kind: ModelKind
    node: Mapping[str, Any]

    def vocab_ids(self) -> dict[str, int]:
        """Token string -> id (for Unigram the last id of a repeated piece, as HF)."""
        vocab = self.node["vocab"]
        if self.kind == "Unigram":
            return {piece: i for i, (piece, _score) in enumerate(vocab)}
        return dict(vocab)


@dataclass(frozen=True)
class PipelineSpec:
    """HF pipeline nodes (``normalizer``, ``pre_tokenizer``, ``decoder``, ``post_processor``; None
    when absent), validated, regexes in HF's (Oniguruma) dialect."""

    normalizer: Mapping[str, Any] | None = None
    pre_tokenizer: Mapping[str, Any] | None = None
    decoder: Mapping[str, Any] | None = None
    post_processor: Mapping[str, Any] | None = None

    def components(self) -> dict[str, list[str]]:
        """Component type names per stage, ``Sequence``s flattened (for ``tokenforge info``)."""

        def names(node: Mapping[str, Any] | None, key: str) -> list[str]:
            if node is None:
                return []
            if node.get("type") == "Sequence":
                return [n for child in node[key] for n in names(child, key)]
            return [str(node["type"])]

        return {
            "normalizer": names(self.normalizer, "normalizers"),
            "pre_tokenizer": names(self.pre_tokenizer, "pretokenizers"),
            "decoder": names(self.decoder, "decoders"),
            "post_processor": names(self.post_processor, "processors"),
        }


@dataclass(frozen=True)
class TokenizerSpec:
    """Everything needed to build, compare and save a byte-level BPE tokenizer."""

    name: str
    vocab: Mapping[bytes, int]
    pre_tokenizer: tuple[PreTokenizerStep, ...]
    merges: tuple[tuple[int, int], ...] | None = None
    normalizers: tuple[str, ...] = ()
    added_tokens: tuple[AddedToken, ...] = ()
    #: Emit a piece that is itself a token without merging (tiktoken always does; HF ``ignore_merges``).
    ignore_merges: bool = True
    unk_token: str | None = None
    #: HF components kept verbatim for saving (``post_processor``, ``decoder``, ``truncation``...).
    hf_extra: Mapping[str, Any] = field(default_factory=dict)
    #: The artifact's ``tokenforge`` metadata block, if any.
    metadata: Mapping[str, Any] | None = None
    #: A string-vocabulary model; None means the byte-level BPE of ``vocab``/``merges``.
    model: ModelSpec | None = None
    #: HF pipeline nodes; when set they replace ``pre_tokenizer`` and ``normalizers``.
    pipeline: PipelineSpec | None = None

    @property
    def pattern(self) -> str | None:
        """The regex when the pre-tokenizer is a single isolated split (tiktoken style), else None.

        A ``ByteLevel`` step without prefix space and regex (what a byte-level ``tokenizer.json``
        needs beside a ``Split``) does not cut anything, so it is ignored here.
        """
        steps = tuple(
            s
            for s in self.pre_tokenizer
            if not (isinstance(s, ByteLevelStep) and not s.add_prefix_space and not s.use_regex)
        )
        if len(steps) == 1 and isinstance(steps[0], SplitStep) and steps[0].behavior == "isolated":
            return None if steps[0].invert else steps[0].pattern
        return None
