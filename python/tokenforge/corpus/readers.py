"""Corpus files: which files an input names, their format, and streaming document readers.

Formats come from the file name: ``.jsonl``/``.ndjson``/``.json`` hold one JSON object per line
(text in a field), anything else is text; a final ``.gz`` or ``.zst`` means compressed. Inputs
expand the same way for every command (encode, train, count):

- a file is read whatever its name (unknown extensions as text);
- a directory is searched recursively for corpus files, i.e. names ending in one of
  :data:`CORPUS_SUFFIXES` (optionally compressed), skipping hidden files and hidden directories;
  a directory with none is an error that says what was looked for;
- a glob pattern reads every file it matches;

each in the given order, the files of a directory or glob sorted, so reading order is reproducible.

A :class:`Source` may also stand for a byte range of an uncompressed file (``start``/``end``, cut
just after a line end), which is how a corpus is split across the tasks of a cluster run: every
reader then sees exactly the lines of that range, so the ranges of a file read together give
what the whole file gives. Compressed files are never split.

Readers never hold a whole file: lines are read one at a time with a size limit, so a file with
one enormous line is an error that names the line, not an out-of-memory crash.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import os
import queue
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from ..errors import CorpusError

__all__ = [
    "CORPUS_SUFFIXES",
    "DEFAULT_MAX_DOCUMENT_BYTES",
    "Source",
    "expand_input",
    "expand_inputs",
    "read_ahead",
]

#: Longest line (document) accepted; longer lines raise CorpusError (raise it with max_document_bytes).
DEFAULT_MAX_DOCUMENT_BYTES = 64 * 1024 * 1024

_JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
_COMPRESSED = (".gz", ".zst")
#: Names a directory search picks up (each also with ``.gz`` or ``.zst`` after it).
CORPUS_SUFFIXES = (".txt", ".text", ".md", ".rst", *_JSONL_SUFFIXES)


def _kind(path: Path) -> tuple[str, str | None]:
    """``(format, compression)`` from the file name."""
    suffixes = [s.lower() for s in path.suffixes]
    compression = suffixes[-1][1:] if suffixes and suffixes[-1] in _COMPRESSED else None
    base = suffixes[-2] if compression and len(suffixes) >= 2 else (suffixes[-1] if suffixes else "")
    return ("jsonl" if base in _JSONL_SUFFIXES else "txt"), compression


@dataclass(frozen=True)
class Source:
    """One input file, or the byte range ``[start, end)`` of one (``end`` None: to the end)."""

    path: Path
    format: str
    compression: str | None
    size: int
    mtime_ns: int
    start: int = 0
    end: int | None = None

    @property
    def stop(self) -> int:
        """Where reading stops (the file size unless a range ends earlier)."""
        return self.size if self.end is None else self.end

    @property
    def length(self) -> int:
        """Bytes of the file this source covers."""
        return self.stop - self.start

    @property
    def is_range(self) -> bool:
        return self.start != 0 or self.end is not None

    @property
    def label(self) -> str:
        """The path, with the byte range when this is one (line numbers then count from it)."""
        return f"{self.path} (bytes {self.start}..{self.stop})" if self.is_range else str(self.path)

    def byte_range(self, start: int, end: int | None) -> Source:
        """This file's bytes ``[start, end)``; the caller cuts just after line ends."""
        if self.compression is not None and (start, end) not in ((0, None), (0, self.size)):
            raise CorpusError(f"{self.path}: a compressed file cannot be split into byte ranges")
        if not 0 <= start <= (self.size if end is None else end) <= self.size:
            raise CorpusError(f"{self.path}: byte range {start}..{end} outside the file ({self.size} bytes)")
        return replace(self, start=start, end=None if end == self.size else end)

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"path": str(self.path), "size": self.size, "mtime_ns": self.mtime_ns}
        if self.is_range:
            out["range"] = [self.start, self.stop]
        return out

    def open_streams(self) -> tuple[BinaryIO, BinaryIO]:
        """``(decompressed stream, raw file)``, the same object for an uncompressed file; the raw
        file's position is how far a compressed file has been consumed. Close both. A range's
        stream starts at ``start``."""
        raw = open(self.path, "rb")
        if self.start:
            raw.seek(self.start)
        if self.compression == "gz":
            return gzip.GzipFile(fileobj=raw, mode="rb"), raw  # type: ignore[return-value]
        if self.compression == "zst":
            try:
                import zstandard
            except ImportError as exc:
                raw.close()
                raise CorpusError(
                    f"{self.path}: reading .zst needs the 'zstandard' package (pip install zstandard)"
                ) from exc
            return _ZstdFrames(raw, zstandard.ZstdDecompressor(), self.path), raw  # type: ignore[return-value]
        return raw, raw

    def documents(
        self,
        *,
        field: str = "text",
        skip: int = 0,
        errors: str = "strict",
        max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
    ) -> Iterator[str]:
        """Non-empty documents in file order, after skipping the first ``skip`` of them.

        Empty documents (blank lines, empty fields) are not documents. ``errors`` is the UTF-8
        decoding policy (``"strict"``: invalid bytes raise :class:`CorpusError` naming the line;
        ``"replace"``: U+FFFD).
        """
        seen = 0
        left = self.length if self.end is not None else None
        stream, raw = self.open_streams()
        with raw, stream:
            reader = io.BufferedReader(stream) if not isinstance(stream, io.BufferedReader) else stream
            lineno = 0
            while left is None or left > 0:
                limit = max_document_bytes + 1 if left is None else min(left, max_document_bytes + 1)
                line = self._read_line(reader, limit, lineno + 1)
                if not line:
                    return
                if left is not None:
                    left -= len(line)
                lineno += 1
                if len(line) > max_document_bytes and not line.endswith(b"\n"):
                    raise CorpusError(
                        f"{self.label}, line {lineno}: a document longer than {max_document_bytes} bytes; "
                        "split the input or raise max_document_bytes (--max-document-mb)"
                    )
                text = self.parse_line(line, lineno, field, errors)
                if not text:
                    continue
                seen += 1
                if seen > skip:
                    yield text

    def _read_line(self, reader: io.BufferedReader, limit: int, lineno: int) -> bytes:
        """One line; a truncated or corrupt compressed file is a CorpusError naming the file."""
        try:
            return reader.readline(limit)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            problem = exc
        except OSError as exc:
            problem = exc
        except Exception as exc:  # zstandard.ZstdError (zstandard is optional)
            if type(exc).__name__ != "ZstdError":
                raise
            problem = exc
        raise CorpusError(
            f"{self.path}, line {lineno}: the {self.compression or 'file'} data is truncated or corrupt "
            f"({type(problem).__name__}: {problem})"
        ) from None

    def parse_line(self, line: bytes, lineno: int, field: str = "text", errors: str = "strict") -> str:
        """The document in one line of this file ("" for none): the line itself for text, the
        ``field`` of its JSON object for JSONL. Bad UTF-8, JSON or fields raise CorpusError."""
        try:
            decoded = line.decode("utf-8", errors=errors)
        except UnicodeDecodeError as exc:
            raise CorpusError(
                f"{self.label}, line {lineno}: invalid UTF-8 at byte {exc.start} of the line; "
                "fix the file or decode with errors='replace' (--utf8-errors replace)"
            ) from None
        if self.format == "txt":
            return decoded.rstrip("\r\n")
        stripped = decoded.strip()
        if not stripped:
            return ""
        try:
            record = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{self.label}, line {lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise CorpusError(
                f"{self.label}, line {lineno}: expected a JSON object, got {type(record).__name__}"
            )
        if field not in record:
            keys = ", ".join(sorted(map(str, record))[:10])
            raise CorpusError(
                f"{self.label}, line {lineno}: no field {field!r} (found: {keys}); "
                "choose the text field with field=... (CLI: --field)"
            )
        value = record[field]
        if value is None:
            return ""
        if not isinstance(value, str):
            raise CorpusError(
                f"{self.label}, line {lineno}: field {field!r} is {type(value).__name__}, not a string"
            )
        return value


class _ZstdFrames(io.RawIOBase):
    """The decompressed bytes of a ``.zst`` file, frame after frame. zstandard's own stream
    reader ends quietly at a truncated frame (a cut file read as empty or short); this one raises
    CorpusError naming the file."""

    def __init__(self, raw: BinaryIO, dctx: Any, path: Path) -> None:
        self._raw = raw
        self._dctx = dctx
        self._path = path
        self._frame: Any = None
        self._pending = b""
        self._offset = 0  # into _pending (slicing it per read was quadratic)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._offset == len(self._pending):
            self._pending, self._offset = b"", 0
            chunk = self._raw.read(1 << 20)
            if not chunk:
                if self._frame is not None and not self._frame.eof:
                    raise EOFError("the last zstd frame is cut short")
                return 0
            while chunk:
                if self._frame is None or self._frame.eof:
                    self._frame = self._dctx.decompressobj()
                self._pending += self._frame.decompress(chunk)
                chunk = self._frame.unused_data if self._frame.eof else b""
        n = min(len(buffer), len(self._pending) - self._offset)
        buffer[:n] = memoryview(self._pending)[self._offset : self._offset + n]
        self._offset += n
        return n


def _source(path: Path) -> Source:
    stat = path.stat()
    fmt, compression = _kind(path)
    return Source(
        path=path, format=fmt, compression=compression, size=stat.st_size, mtime_ns=stat.st_mtime_ns
    )


def _is_corpus_file(path: Path, root: Path) -> bool:
    if any(part.startswith(".") for part in path.relative_to(root).parts):
        return False
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes.pop()
    return bool(suffixes) and suffixes[-1] in CORPUS_SUFFIXES


def expand_input(item: str | os.PathLike[str] | Source) -> list[Source]:
    """Files named by one input: a file, a directory searched for corpus files, or a glob (a
    :class:`Source` stands for itself)."""
    if isinstance(item, Source):
        return [item]
    text = os.fspath(item)
    if not text:
        raise CorpusError("an empty string is not a corpus path")
    path = Path(text)
    if path.is_file():
        return [_source(path)]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and _is_corpus_file(p, path))
        if not files:
            looked_for = ", ".join(CORPUS_SUFFIXES)
            raise CorpusError(
                f"{text}: the directory holds no corpus files (looked for {looked_for}, also .gz/.zst, "
                "outside hidden folders); name other files explicitly"
            )
        return [_source(p) for p in files]
    if any(c in text for c in "*?["):
        matches = sorted(Path(m) for m in glob.glob(text, recursive=True) if Path(m).is_file())
        if not matches:
            raise CorpusError(f"the glob {text!r} matches no files")
        return [_source(p) for p in matches]
    raise CorpusError(f"{text}: not a file, a directory or a glob that matches files")


def expand_inputs(inputs: Iterable[str | os.PathLike[str] | Source]) -> list[Source]:
    """Files named by ``inputs``, in order (see the module notes)."""
    sources = [source for item in inputs for source in expand_input(item)]
    if not sources:
        raise CorpusError("no input files given")
    return sources


T = TypeVar("T")


def read_ahead(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``items``, produced on a background thread up to ``depth`` items ahead (reading and
    decoding overlap the caller's work, which releases the GIL); the producer's errors are raised
    in the caller. Leaving the loop early stops the producer."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put(("item", item))
            q.put(("end", None))
        except BaseException as exc:  # forwarded to the consumer
            q.put(("error", exc))

    thread = threading.Thread(target=work, name="tokenforge-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "item":
                yield value
            elif kind == "end":
                return
            else:
                raise value
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)
