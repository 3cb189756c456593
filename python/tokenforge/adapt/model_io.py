"""HF model folders: find the embedding matrices, transplant them, write the adapted folder.

A folder holds ``config.json`` and ``model.safetensors`` or sharded ``model-0000x-of-0000n.safetensors``
with ``model.safetensors.index.json``. The input embedding is the first of :data:`INPUT_KEYS` present;
the output embedding (LM head) the first of :data:`OUTPUT_KEYS`; a model without one has tied
embeddings and the adapted folder stays tied. The written folder has the same shard layout, the new
rows, ``vocab_size`` and the special-token ids of ``config.json`` / ``generation_config.json`` mapped
to the new vocabulary, and the new tokenizer as ``tokenizer.json`` (+ a minimal
``tokenizer_config.json``), so ``transformers.AutoModelForCausalLM`` / ``AutoTokenizer`` load it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelFormatError, TokenforgeError, UnsupportedModelError
from ..formats.hf_json import parse_hf_json
from ..tokenizer import Tokenizer
from .embeddings import AuxSpace, TokenAdaptParams, TransplantResult, transplant
from .safetensors_io import SafetensorsFile, encode_tensor, write_safetensors

__all__ = [
    "ENCODER_MODEL_TYPES",
    "INPUT_KEYS",
    "OUTPUT_KEYS",
    "ModelEmbeddings",
    "adapt_model",
    "encoder_tokenizer",
    "read_model",
    "write_model",
]

INPUT_KEYS = (
    "model.embed_tokens.weight",
    "embed_tokens.weight",
    "model.language_model.embed_tokens.weight",
    "transformer.wte.weight",
    "wte.weight",
    "embeddings.word_embeddings.weight",
    "bert.embeddings.word_embeddings.weight",
    "roberta.embeddings.word_embeddings.weight",
    "transformer.word_embeddings.weight",
    "gpt_neox.embed_in.weight",
    "model.decoder.embed_tokens.weight",
    "transformer.embedding.word_embeddings.weight",
    "tok_embeddings.weight",
)
OUTPUT_KEYS = ("lm_head.weight", "embed_out.weight", "output.weight", "cls.predictions.decoder.weight")
# Per-token biases of output heads (resized with the vocabulary: copied for shared tokens, 0 for new).
BIAS_KEYS = ("cls.predictions.bias", "cls.predictions.decoder.bias", "final_logits_bias", "lm_head.bias")
# Tokenizer files of the source model: not copied (the new tokenizer replaces them).
_TOKENIZER_FILES = {
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "tokenizer.model",
    "spiece.model",
    "chat_template.jinja",  # templates name the old special tokens
    "chat_template.json",
}
_ID_FIELDS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", "sep_token_id")
#: Encoder (BERT-family) ``model_type`` values: ``word_embeddings`` is the only vocabulary-sized
#: input matrix (position and token-type embeddings are kept), a masked-LM head is optional, and
#: the tokenizer must provide the [CLS]/[SEP]/[PAD]/[MASK]/[UNK] roles (see :func:`encoder_tokenizer`).
ENCODER_MODEL_TYPES = frozenset(
    {"bert", "roberta", "xlm-roberta", "camembert", "distilbert", "electra", "mpnet", "deberta", "deberta-v2"}
)
#: Encoder-decoder models share one embedding between encoder, decoder and LM head (``shared``), with
#: decoder-start conventions transplant does not rewrite.
_ENCODER_DECODER_TYPES = frozenset(
    {"t5", "mt5", "umt5", "bart", "mbart", "marian", "pegasus", "m2m_100", "led", "whisper", "prophetnet"}
)
_ENCODER_ROLES = ("cls_token", "sep_token", "pad_token", "mask_token", "unk_token")


@dataclass
class ModelEmbeddings:
    """The embedding matrices of a model folder (float, BF16 widened to float32) and where they live."""

    directory: Path
    config: dict[str, Any]
    shards: dict[str, list[str]]  # file name -> tensor names
    input_key: str
    output_key: str | None
    embeddings: np.ndarray
    output_embeddings: np.ndarray | None
    dtypes: dict[str, str] = field(default_factory=dict)  # tensor name -> safetensors dtype

    @property
    def tied(self) -> bool:
        return self.output_key is None

    @property
    def is_encoder(self) -> bool:
        return self.config.get("model_type") in ENCODER_MODEL_TYPES


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise ModelFormatError(f"{path}: missing {what}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{path}: {what} is not valid JSON: {exc}") from None


def _shard_map(directory: Path) -> dict[str, list[str]]:
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        weight_map = _read_json(index, "safetensors index").get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ModelFormatError(f"{index}: no weight_map")
        shards: dict[str, list[str]] = {}
        for name, file in weight_map.items():
            shards.setdefault(file, []).append(name)
        return shards
    files = sorted(p.name for p in directory.glob("*.safetensors"))
    if not files:
        others = sorted(p.name for p in directory.glob("*.bin")) + sorted(
            p.name for p in directory.glob("*.pt")
        )
        hint = f" (found {', '.join(others)}: convert them to safetensors first)" if others else ""
        raise ModelFormatError(f"{directory}: no *.safetensors weights{hint}")
    return {f: [] for f in files}


def read_model(model_dir: str | os.PathLike[str]) -> ModelEmbeddings:
    """Reads ``config.json`` and the embedding matrices of an HF model folder."""
    directory = Path(model_dir)
    if not directory.is_dir():
        raise ModelFormatError(f"{directory}: model folder not found")
    config = _read_json(directory / "config.json", "config.json")
    if not isinstance(config, dict):
        raise ModelFormatError(f"{directory / 'config.json'}: not a JSON object")
    model_type = config.get("model_type")
    if config.get("is_encoder_decoder") or model_type in _ENCODER_DECODER_TYPES:
        raise UnsupportedModelError(
            f"{directory}: {model_type or 'encoder-decoder'} is an encoder-decoder model (one embedding "
            "shared by encoder, decoder and LM head); adapt supports decoder-only models and BERT-family "
            f"encoders ({', '.join(sorted(ENCODER_MODEL_TYPES))})"
        )
    shards = _shard_map(directory)
    files: dict[str, SafetensorsFile] = {}
    for name in shards:
        files[name] = SafetensorsFile(directory / name)
        shards[name] = files[name].keys()
    where = {tensor: name for name, tensors in shards.items() for tensor in tensors}
    input_key = next((k for k in INPUT_KEYS if k in where), None)
    if input_key is None:
        candidates = [k for k in where if "embed" in k and k.endswith("weight")]
        raise UnsupportedModelError(
            f"{directory}: no input embedding found (looked for {', '.join(INPUT_KEYS[:4])}, ...)"
            + (f"; embedding-like tensors: {', '.join(candidates[:5])}" if candidates else "")
        )
    output_key = next((k for k in OUTPUT_KEYS if k in where), None)
    dtypes = {k: files[where[k]].entries[k].dtype for k in where}
    emb = files[where[input_key]].tensor(input_key)
    out = files[where[output_key]].tensor(output_key) if output_key else None
    if out is not None and out.shape != emb.shape:
        raise ModelFormatError(
            f"{directory}: {output_key} has shape {out.shape} but {input_key} has {emb.shape}"
        )
    return ModelEmbeddings(directory, config, shards, input_key, output_key, emb, out, dtypes)


def _token_of(tokenizer: Tokenizer, token_id: int) -> str | bytes | None:
    for text, sid in tokenizer.special_tokens.items():
        if sid == token_id:
            return text
    try:
        return tokenizer.decode_single_token_bytes(token_id)
    except TokenforgeError:
        return None


def _map_id(old: Tokenizer | None, new: Tokenizer, value: Any) -> Any:
    """An old special-token id (or list of ids) of a config, re-expressed in the new vocabulary."""
    if isinstance(value, list):
        mapped = [_map_id(old, new, v) for v in value]
        kept = [v for v in mapped if v is not None]
        return kept or None
    if not isinstance(value, int) or old is None:
        return value
    token = _token_of(old, value)
    return None if token is None else new.token_to_id(token)


def _role_texts(source: Mapping[str, Any], roles: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for role in roles:
        value = source.get(role)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            out[role] = value
    return out


def _tokenizer_config(
    new: Tokenizer, source: Mapping[str, Any], roles: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A minimal ``tokenizer_config.json``: the fast tokenizer class and the roles of special tokens
    that the new vocabulary still has (``roles``: an encoder's roles, as the new tokenizer names them)."""
    out: dict[str, Any] = {"tokenizer_class": "PreTrainedTokenizerFast"}
    if "model_max_length" in source:
        out["model_max_length"] = source["model_max_length"]
    named = _role_texts(source, ("bos_token", "eos_token", "pad_token", "unk_token")) | dict(roles or {})
    for role, value in named.items():
        if value in new.special_tokens:
            out[role] = value
    return out


def _encoder_roles(directory: Path, old: Tokenizer) -> dict[str, str]:
    """The old tokenizer's special token per encoder role (``cls_token``...), from the folder's
    ``special_tokens_map.json`` / ``tokenizer_config.json``, else from its post-processor
    (``[CLS] $A [SEP]``) and unknown token."""
    roles: dict[str, str] = {}
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = directory / name
        if path.is_file():
            source = _read_json(path, name)
            if isinstance(source, dict):
                roles |= _role_texts(source, _ENCODER_ROLES)
    roles = {role: text for role, text in roles.items() if text in old.special_tokens}
    around = old.encode("", add_special_tokens=True)
    by_id = {i: t for t, i in old.special_tokens.items()}
    if around and "cls_token" not in roles and around[0] in by_id:
        roles["cls_token"] = by_id[around[0]]
    if around and "sep_token" not in roles and around[-1] in by_id:
        roles["sep_token"] = by_id[around[-1]]
    if "unk_token" not in roles and old.unk_token_id in by_id:
        roles["unk_token"] = by_id[old.unk_token_id]
    return roles


def encoder_tokenizer(
    new: Tokenizer, roles: Mapping[str, str], special_map: Mapping[str, str] | None = None
) -> tuple[Tokenizer, dict[str, str], dict[str, str]]:
    """``new`` made usable by an encoder whose tokenizer has the special tokens ``roles``
    (``{"cls_token": "[CLS]", ...}``).

    A role is filled by the new special token ``special_map`` maps to the old one, else by a new
    special token of the same text, else (for ``unk_token``) by the new tokenizer's own unknown
    token; a role still unfilled gets the old text as a special token appended after the last id.
    Without a post-processor, ``[CLS] $A [SEP]`` (pairs ``[CLS] $A [SEP] $B:1 [SEP]:1``) is added, as
    BERT's. Returns the tokenizer (``new`` itself when nothing was missing), the role -> new text
    map, and the special map (new text -> old text) that copies the roles' rows.
    """
    mapping = dict(special_map or {})
    inverse = {old: new_text for new_text, old in mapping.items() if new_text in new.special_tokens}
    unk_text = next((t for t, i in new.special_tokens.items() if i == new.unk_token_id), None)
    named: dict[str, str] = {}
    missing: list[str] = []
    for role, old_text in roles.items():
        if old_text in inverse:
            named[role] = inverse[old_text]
        elif old_text in new.special_tokens:
            named[role] = old_text
        elif role == "unk_token" and unk_text is not None:
            named[role] = unk_text
            mapping.setdefault(unk_text, old_text)
        else:
            named[role] = old_text
            missing.append(old_text)
    needs_template = new.encode("", add_special_tokens=True) == [] and {"cls_token", "sep_token"} <= set(
        named
    )
    if not missing and not needs_template:
        return new, named, mapping
    doc = new.to_hf_json()
    added = list(doc.get("added_tokens") or [])
    next_id = new.n_vocab
    for text in dict.fromkeys(missing):
        added.append(
            {
                "id": next_id,
                "content": text,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
        )
        next_id += 1
    doc["added_tokens"] = added
    if needs_template:
        ids = {t: i for t, i in new.special_tokens.items()} | {a["content"]: a["id"] for a in added}
        cls, sep = named["cls_token"], named["sep_token"]
        doc["post_processor"] = {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": cls, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": sep, "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": cls, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": sep, "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}},
                {"SpecialToken": {"id": sep, "type_id": 1}},
            ],
            "special_tokens": {
                t: {"id": t, "ids": [ids[t]], "tokens": [t]} for t in dict.fromkeys((cls, sep))
            },
        }
    return (
        Tokenizer(parse_hf_json(doc, source=f"{new.name} with encoder special tokens", name=new.name)),
        named,
        mapping,
    )


def write_model(
    model: ModelEmbeddings,
    output_dir: str | os.PathLike[str],
    new_tokenizer: Tokenizer,
    embeddings: np.ndarray,
    output_embeddings: np.ndarray | None,
    *,
    old_tokenizer: Tokenizer | None = None,
    copied_from: Mapping[int, int] | None = None,
    roles: Mapping[str, str] | None = None,
) -> Path:
    """Writes the adapted folder: every tensor as before except the embedding matrices (and per-token
    output biases, whose rows follow ``copied_from``: new id -> old id, new rows 0). ``roles`` names
    an encoder's special tokens in the new vocabulary (``tokenizer_config.json``)."""
    target = Path(output_dir)
    if target.resolve() == model.directory.resolve():
        raise ModelFormatError(f"{target}: the output folder must differ from the model folder")
    target.mkdir(parents=True, exist_ok=True)
    rows = embeddings.shape[0]
    total = 0
    weight_map: dict[str, str] = {}
    for file, names in model.shards.items():
        source = SafetensorsFile(model.directory / file)
        tensors: dict[str, tuple[str, tuple[int, ...], bytes]] = {}
        for name in names:
            dtype = source.entries[name].dtype
            if name == model.input_key:
                tensors[name] = (dtype, embeddings.shape, encode_tensor(embeddings, dtype))
            elif name == model.output_key:
                assert output_embeddings is not None
                tensors[name] = (dtype, output_embeddings.shape, encode_tensor(output_embeddings, dtype))
            elif name in BIAS_KEYS and source.entries[name].shape[-1] == model.embeddings.shape[0]:
                old_bias = source.tensor(name).reshape(-1, model.embeddings.shape[0])
                bias = np.zeros((old_bias.shape[0], rows), dtype=old_bias.dtype)
                for new_id, old_id in (copied_from or {}).items():
                    bias[:, new_id] = old_bias[:, old_id]
                shape = (*source.entries[name].shape[:-1], rows)
                tensors[name] = (dtype, shape, encode_tensor(bias.reshape(shape), dtype))
            else:
                entry = source.entries[name]
                tensors[name] = (dtype, entry.shape, source.raw(name))
            weight_map[name] = file
        metadata = dict(source.metadata)
        metadata.setdefault("format", "pt")
        total += write_safetensors(target / file, tensors, metadata)
    if (model.directory / "model.safetensors.index.json").is_file():
        index = _read_json(model.directory / "model.safetensors.index.json", "safetensors index")
        index.setdefault("metadata", {})["total_size"] = total
        index["weight_map"] = weight_map
        (target / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    for path in model.directory.iterdir():
        skip = path.name in _TOKENIZER_FILES or path.suffix in (".safetensors", ".bin", ".pt", ".gguf")
        if path.is_file() and not skip and path.name not in ("config.json", "model.safetensors.index.json"):
            shutil.copy2(path, target / path.name)
    for module in _module_folders(model.directory):
        shutil.copytree(model.directory / module, target / module, dirs_exist_ok=True)
    config = dict(model.config)
    config["vocab_size"] = rows
    for key in _ID_FIELDS:
        if key in config:
            config[key] = _map_id(old_tokenizer, new_tokenizer, config[key])
    config["tie_word_embeddings"] = model.tied
    (target / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    generation = target / "generation_config.json"
    if generation.is_file():
        gen = _read_json(generation, "generation_config.json")
        for key in _ID_FIELDS:
            if key in gen:
                gen[key] = _map_id(old_tokenizer, new_tokenizer, gen[key])
        generation.write_text(json.dumps(gen, indent=2, ensure_ascii=False) + "\n")
    source_tok_config = model.directory / "tokenizer_config.json"
    tok_config = _read_json(source_tok_config, "tokenizer_config.json") if source_tok_config.is_file() else {}
    new_tokenizer.save(target / "tokenizer.json")
    (target / "tokenizer_config.json").write_text(
        json.dumps(_tokenizer_config(new_tokenizer, tok_config, roles), indent=2, ensure_ascii=False) + "\n"
    )
    return target


def _module_folders(directory: Path) -> list[str]:
    """The sentence-transformers module folders that ``modules.json`` lists (``1_Pooling``...). Other
    sub-folders are not copied: exports such as ``onnx/`` hold the old vocabulary's weights."""
    path = directory / "modules.json"
    if not path.is_file():
        return []
    modules = _read_json(path, "modules.json")
    if not isinstance(modules, list):
        raise ModelFormatError(f"{path}: expected a list of modules")
    out = []
    for module in modules:
        sub = module.get("path") if isinstance(module, dict) else None
        if isinstance(sub, str) and sub and (directory / sub).is_dir() and Path(sub).name == sub:
            out.append(sub)
    return out


def _load_tokenizer(value: Tokenizer | str | os.PathLike[str], what: str) -> Tokenizer:
    if isinstance(value, Tokenizer):
        return value
    from ..loader import load

    return load(value)


def adapt_model(
    model_dir: str | os.PathLike[str],
    new_tokenizer: Tokenizer | str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    method: str = "mean",
    old_tokenizer: Tokenizer | str | os.PathLike[str] | None = None,
    aux: AuxSpace = None,
    seed: int = 0,
    params: TokenAdaptParams | None = None,
    special_map: Mapping[str, str] | None = None,
    pad_to_multiple_of: int | None = None,
) -> TransplantResult:
    """Transplants an HF model folder onto ``new_tokenizer`` and writes the result to ``output_dir``.

    Decoder-only models (tied or untied LM head) and BERT-family encoders (``model_type`` in
    :data:`ENCODER_MODEL_TYPES`, with or without a masked-LM head) are supported; encoder-decoder
    models raise :class:`~tokenforge.UnsupportedModelError`. For an encoder the new tokenizer gets
    the old [CLS]/[SEP]/[PAD]/[MASK]/[UNK] roles (:func:`encoder_tokenizer`), and the written folder
    keeps its sentence-transformers modules (pooling, normalization).

    ``old_tokenizer`` defaults to the folder's own ``tokenizer.json``. Rows past the old vocabulary
    are accepted when ``config.json``'s ``vocab_size`` says the model pads its matrix. Returns the
    :class:`~tokenforge.adapt.TransplantResult` (its matrices are numpy float arrays).
    """
    model = read_model(model_dir)
    if old_tokenizer is None:
        if not (model.directory / "tokenizer.json").is_file():
            raise ModelFormatError(
                f"{model.directory}: no tokenizer.json; pass the model's tokenizer "
                "(old_tokenizer= / --old-tokenizer)"
            )
        old_tokenizer = model.directory / "tokenizer.json"
    old = _load_tokenizer(old_tokenizer, "old tokenizer")
    new = _load_tokenizer(new_tokenizer, "new tokenizer")
    roles: dict[str, str] | None = None
    if model.is_encoder:
        new, roles, mapped = encoder_tokenizer(new, _encoder_roles(model.directory, old), special_map)
        special_map = mapped or None
    rows = model.embeddings.shape[0]
    padded = rows > old.n_vocab and model.config.get("vocab_size") == rows
    result = transplant(
        old,
        new,
        model.embeddings,
        method,
        output_embeddings=model.output_embeddings,
        aux=aux,
        seed=seed,
        params=params,
        special_map=special_map,
        allow_padded_rows=padded,
        pad_to_multiple_of=pad_to_multiple_of,
    )
    copied = {n: int(ids[0]) for n, (ids, coef) in result.weights.items() if len(ids) == 1 and coef[0] == 1.0}
    write_model(
        model,
        output_dir,
        new,
        result.embeddings,
        result.output_embeddings,
        old_tokenizer=old,
        copied_from=copied,
        roles=roles,
    )
    return result
