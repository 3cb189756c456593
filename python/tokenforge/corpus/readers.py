"""Streaming document readers for corpus inputs: ``.txt`` (one document per line), ``.jsonl`` (one
JSON object per line, text in a field), optionally compressed with ``.gz`` or ``.zst``; directories
and glob patterns expand to the files they hold, in sorted order.

Readers never hold a whole file: lines are read one at a time with a size limit, so a file with
one enormous line is an error that names the line, not an out-of-memory crash.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import CorpusError

__all__ = ["DEFAULT_MAX_DOCUMENT_BYTES", "Source", "expand_inputs"]

#: Longest line (document) accepted; longer lines raise CorpusError (raise it with max_document_bytes).
DEFAULT_MAX_DOCUMENT_BYTES = 64 * 1024 * 1024

_TEXT_SUFFIXES = (".txt", ".text")
_JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
_COMPRESSED = (".gz", ".zst")


def _kind(path: Path) -> tuple[str, str | None]:
    """``(format, compression)`` from the file name."""
    suffixes = [s.lower() for s in path.suffixes]
    compression = suffixes[-1][1:] if suffixes and suffixes[-1] in _COMPRESSED else None
    base = suffixes[-2] if compression and len(suffixes) >= 2 else (suffixes[-1] if suffixes else "")
    if base in _JSONL_SUFFIXES:
        return "jsonl", compression
    if base in _TEXT_SUFFIXES or base == "":
        return "txt", compression
    return "txt", compression  # unknown extensions are read as text, one document per line


@dataclass(frozen=True)
class Source:
    """One input file."""

    path: Path
    format: str
    compression: str | None
    size: int
    mtime_ns: int

    def describe(self) -> dict[str, object]:
        return {"path": str(self.path), "size": self.size, "mtime_ns": self.mtime_ns}

    def open_binary(self) -> BinaryIO:
        raw = open(self.path, "rb")
        if self.compression == "gz":
            return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
        if self.compression == "zst":
            try:
                import zstandard
            except ImportError as exc:
                raw.close()
                raise CorpusError(
                    f"{self.path}: reading .zst needs the 'zstandard' package (pip install zstandard)"
                ) from exc
            return zstandard.ZstdDecompressor().stream_reader(raw)  # type: ignore[return-value]
        return raw

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
        with self.open_binary() as stream:
            reader = io.BufferedReader(stream) if not isinstance(stream, io.BufferedReader) else stream
            lineno = 0
            while True:
                line = reader.readline(max_document_bytes + 1)
                if not line:
                    return
                lineno += 1
                if len(line) > max_document_bytes and not line.endswith(b"\n"):
                    raise CorpusError(
                        f"{self.path}, line {lineno}: a document longer than {max_document_bytes} bytes; "
                        "split the input or raise max_document_bytes (--max-document-mb)"
                    )
                text = self._document(line, lineno, field, errors)
                if not text:
                    continue
                seen += 1
                if seen > skip:
                    yield text

    def _document(self, line: bytes, lineno: int, field: str, errors: str) -> str:
        try:
            decoded = line.decode("utf-8", errors=errors)
        except UnicodeDecodeError as exc:
            raise CorpusError(
                f"{self.path}, line {lineno}: invalid UTF-8 at byte {exc.start} of the line; "
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
            raise CorpusError(f"{self.path}, line {lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise CorpusError(
                f"{self.path}, line {lineno}: expected a JSON object, got {type(record).__name__}"
            )
        if field not in record:
            keys = ", ".join(sorted(map(str, record))[:10])
            raise CorpusError(f"{self.path}, line {lineno}: no field {field!r} (fields: {keys}); use --field")
        value = record[field]
        if value is None:
            return ""
        if not isinstance(value, str):
            raise CorpusError(
                f"{self.path}, line {lineno}: field {field!r} is {type(value).__name__}, not a string"
            )
        return value


def _source(path: Path) -> Source:
    stat = path.stat()
    fmt, compression = _kind(path)
    return Source(
        path=path, format=fmt, compression=compression, size=stat.st_size, mtime_ns=stat.st_mtime_ns
    )


def expand_inputs(inputs: Iterable[str | os.PathLike[str]]) -> list[Source]:
    """Files named by ``inputs`` (files, directories searched recursively, glob patterns), in a
    deterministic order: each input in the given order, the files inside a directory or glob sorted."""
    sources: list[Source] = []
    for item in inputs:
        path = Path(item)
        if path.is_file():
            sources.append(_source(path))
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            if not files:
                raise CorpusError(f"{path}: the directory holds no files")
            sources.extend(_source(p) for p in files)
        else:
            matches = sorted(Path(p) for p in glob.glob(str(item), recursive=True) if Path(p).is_file())
            if not matches:
                raise CorpusError(f"{item}: no such file, directory or glob match")
            sources.extend(_source(p) for p in matches)
    if not sources:
        raise CorpusError("no input files given")
    return sources
