"""Corpus -> token shards, streaming, parallel and resumable.

Documents are read in batches (a reader thread fills a small queue while the engine encodes the
previous batch on ``num_threads`` threads with the GIL released), appended to the current shard,
and a shard is closed once it holds ``shard_tokens`` tokens. ``manifest.json`` records, for every
closed shard, where in the inputs it ends; it is rewritten atomically after each shard. A run that
is interrupted therefore resumes from the end of the last closed shard: the unfinished shard is
deleted and redone, so no document is lost or written twice.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorpusError, InvalidArgumentError
from ..tokenizer import Tokenizer
from .readers import DEFAULT_MAX_DOCUMENT_BYTES, Source, expand_inputs, read_ahead
from .shards import ShardReader, ShardWriter, dtype_for_vocab

__all__ = ["EncodeStats", "encode_corpus", "read_corpus"]

MANIFEST = "manifest.json"
FORMAT = "tokenforge-megatron-shards"
# A batch is handed to the engine once it holds this much text: large enough to keep both
# threads busy and amortise the Python round trip, small enough to bound memory.
BATCH_BYTES = 8 * 1024 * 1024


@dataclass
class EncodeStats:
    """What a run did (this run only, plus totals over the whole output)."""

    documents: int
    tokens: int
    bytes: int
    seconds: float
    shards: int
    total_documents: int
    total_tokens: int
    resumed: bool

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _batches(
    sources: Sequence[Source],
    start: tuple[int, int],
    field: str,
    errors: str,
    max_document_bytes: int,
) -> Iterator[tuple[list[str], int, int, int]]:
    """``(texts, source_index, documents_done_in_that_source, utf8_bytes)`` batches from ``start``
    (a source index and documents to skip in it). A batch never spans two sources, so each batch
    end is an exact resume position."""
    first, skip = start
    for index in range(first, len(sources)):
        done = skip if index == first else 0
        texts: list[str] = []
        size = 0
        for text in sources[index].documents(
            field=field, skip=done, errors=errors, max_document_bytes=max_document_bytes
        ):
            texts.append(text)
            size += len(text)
            if size >= BATCH_BYTES:
                done += len(texts)
                yield texts, index, done, size
                texts, size = [], 0
        if texts:
            done += len(texts)
            yield texts, index, done, size
        else:
            yield [], index, done, 0  # marks the source as finished


class _Progress:
    def __init__(
        self, enabled: bool, total_files: int, sink: Callable[[dict[str, int]], None] | None = None
    ) -> None:
        self.enabled = enabled
        self.total_files = total_files
        self.sink = sink
        self.start = time.perf_counter()
        self.last = 0.0

    def update(
        self, shard: int, file_index: int, docs: int, tokens: int, nbytes: int, final: bool = False
    ) -> None:
        now = time.perf_counter()
        if not self.enabled or (not final and now - self.last < 0.5):
            return
        self.last = now
        if self.sink is not None:
            self.sink({"shards": shard, "documents": docs, "tokens": tokens, "bytes": nbytes})
            return
        rate = nbytes / 1e6 / max(now - self.start, 1e-9)
        line = (
            f"\rshard {shard} | file {min(file_index + 1, self.total_files)}/{self.total_files} | "
            f"{nbytes / 1e6:,.1f} MB | {docs:,} docs | {tokens:,} tokens | {rate:,.1f} MB/s"
        )
        sys.stderr.write(line + ("\n" if final else ""))
        sys.stderr.flush()


def encode_corpus(
    tokenizer: Tokenizer,
    inputs: Iterable[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    *,
    field: str = "text",
    eos: int | str | None = None,
    shard_tokens: int = 1 << 28,
    num_threads: int | None = None,
    utf8_errors: str = "strict",
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
    overwrite: bool = False,
    progress: bool | Callable[[dict[str, int]], None] | None = None,
    allow_empty: bool = False,
) -> EncodeStats:
    """Encodes documents from ``inputs`` into Megatron ``.bin``/``.idx`` shards in ``output_dir``.

    Inputs are files (``.txt``: a document per line; ``.jsonl``: the ``field`` of each object;
    either ``.gz``/``.zst`` compressed), directories and globs. ``eos`` (an id or a special token's
    text) is appended to every document. Special-token text inside documents is encoded as ordinary
    text. Re-running with the same arguments resumes an interrupted run; different arguments on an
    existing output raise unless ``overwrite``. See :mod:`tokenforge.corpus.shards` for the format.
    ``progress``: a bar on stderr (default: when it is a terminal), or a callable that receives
    this run's totals twice a second. ``allow_empty``: inputs without a document give an empty
    complete output instead of an error (one part of a split corpus may hold none).
    """
    if shard_tokens < 1:
        raise InvalidArgumentError(f"shard_tokens must be positive, got {shard_tokens}")
    if utf8_errors not in ("strict", "replace"):
        raise InvalidArgumentError(f"utf8_errors must be 'strict' or 'replace', got {utf8_errors!r}")
    eos_id = _resolve_eos(tokenizer, eos)
    sources = expand_inputs(inputs)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    dtype = dtype_for_vocab(tokenizer.n_vocab)
    config = {
        "tokenizer": {
            "name": tokenizer.name,
            "fingerprint": tokenizer.fingerprint(),
            "n_vocab": tokenizer.n_vocab,
        },
        "dtype": dtype.name,
        "eos": eos_id,
        "field": field,
        "utf8_errors": utf8_errors,
        "shard_tokens": shard_tokens,
        "inputs": [s.describe() for s in sources],
    }
    manifest_path = out / MANIFEST
    shards: list[dict[str, Any]] = []
    resumed = already_complete = False
    if manifest_path.exists() and not overwrite:
        previous = json.loads(manifest_path.read_text(encoding="utf-8"))
        if previous.get("format") != FORMAT or previous.get("config") != config:
            raise CorpusError(
                f"{out} already holds shards made with other settings, tokenizer or input files; "
                "use a new output directory or overwrite=True (--overwrite)"
            )
        shards = previous["shards"]
        resumed = True
        already_complete = bool(previous.get("complete"))
    elif manifest_path.exists():
        manifest_path.unlink()
    known = {f"{s['name']}{ext}" for s in shards for ext in (".bin", ".idx")}
    for stray in out.glob("shard-*"):
        if stray.name not in known:
            stray.unlink()  # an unfinished shard of an interrupted run, or output being overwritten

    start = (shards[-1]["end_source"], shards[-1]["end_documents"]) if shards else (0, 0)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": 1,
        "config": config,
        "shards": shards,
        "complete": False,
    }
    if already_complete:
        total_docs = sum(s["documents"] for s in shards)
        return EncodeStats(0, 0, 0, 0.0, len(shards), total_docs, sum(s["tokens"] for s in shards), True)
    _write_json(manifest_path, manifest)

    if callable(progress):
        bar = _Progress(True, len(sources), progress)
    else:
        bar = _Progress(sys.stderr.isatty() if progress is None else progress, len(sources))
    began = time.perf_counter()
    run_docs = run_tokens = run_bytes = 0
    writer: ShardWriter | None = None
    position = start

    def close_shard() -> None:
        nonlocal writer
        assert writer is not None
        writer.close()
        shards.append(
            {
                "name": writer.prefix.name,
                "documents": writer.documents,
                "tokens": writer.tokens,
                "end_source": position[0],
                "end_documents": position[1],
            }
        )
        _write_json(manifest_path, manifest)
        writer = None

    try:
        for texts, index, done, nbytes in read_ahead(
            _batches(sources, start, field, utf8_errors, max_document_bytes)
        ):
            if texts:
                ids, offsets = tokenizer.encode_batch_to_numpy(
                    texts, num_threads=num_threads, disallowed_special=(), separator=eos_id
                )
                run_docs += len(texts)
                run_tokens += int(offsets[-1])
                run_bytes += nbytes
                # Fill shards document by document, so a shard closes as soon as it is full and
                # its end position is exact even in the middle of a batch.
                first_doc = done - len(texts)
                k = 0
                while k < len(texts):
                    if writer is None:
                        writer = ShardWriter(out / f"shard-{len(shards):05d}", dtype)
                    room = shard_tokens - writer.tokens
                    # Documents that fit (at least one, so a document longer than a shard still goes).
                    end = int(np.searchsorted(offsets, offsets[k] + room, side="right")) - 1
                    end = min(max(end, k + 1), len(texts))
                    writer.add(ids, offsets[k : end + 1])
                    k = end
                    if writer.tokens >= shard_tokens:
                        position = (index, first_doc + k)
                        close_shard()
            position = (index, done)
            bar.update(len(shards), index, run_docs, run_tokens, run_bytes)
        position = (len(sources), 0)
        if writer is not None:
            close_shard()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if not shards and not allow_empty:
        raise CorpusError(f"no documents in {len(sources)} input file(s): every line is empty")
    manifest["complete"] = True
    manifest["totals"] = {
        "documents": sum(s["documents"] for s in shards),
        "tokens": sum(s["tokens"] for s in shards),
        "shards": len(shards),
    }
    _write_json(manifest_path, manifest)
    seconds = time.perf_counter() - began
    bar.update(len(shards), len(sources), run_docs, run_tokens, run_bytes, final=True)
    return EncodeStats(
        documents=run_docs,
        tokens=run_tokens,
        bytes=run_bytes,
        seconds=seconds,
        shards=len(shards),
        total_documents=manifest["totals"]["documents"],
        total_tokens=manifest["totals"]["tokens"],
        resumed=resumed,
    )


def _resolve_eos(tokenizer: Tokenizer, eos: int | str | None) -> int | None:
    if eos is None or isinstance(eos, int):
        return eos
    if eos in tokenizer.special_tokens:
        return tokenizer.special_tokens[eos]
    if eos.isdigit():
        return int(eos)
    raise InvalidArgumentError(
        f"eos {eos!r} is neither an id nor a special token of {tokenizer.name!r} "
        f"(special tokens: {', '.join(sorted(tokenizer.special_tokens)[:6])})"
    )


def read_corpus(output_dir: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """The documents of an encoded corpus, in input order, as id arrays (memory-mapped)."""
    out = Path(output_dir)
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{out}: no readable {MANIFEST} ({exc})") from None
    if not manifest.get("complete"):
        raise CorpusError(f"{out}: the encoding run did not finish; run it again to resume")
    for shard in manifest["shards"]:
        yield from ShardReader(out / shard["name"])
