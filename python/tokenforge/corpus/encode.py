"""Corpus -> token shards, streaming, parallel and resumable.

Documents are read in batches (a reader thread fills a small queue while the engine encodes the
previous batch on ``num_threads`` threads with the GIL released), appended to the current shard,
and a shard is closed once it holds ``shard_tokens`` tokens. ``manifest.json`` records, for every
closed shard, where in the inputs it ends and a sha256 of the documents of that input consumed so
far; it is rewritten atomically after each shard. A run that is interrupted therefore resumes from
the end of the last closed shard: the unfinished shard (which the manifest names before it is
created) is deleted and redone, so no document is lost or written twice. On resume the skipped
documents are hashed again, so an input edited in place (even with its size and mtime kept) is
an error, not a silent shift. Only files the manifest names are ever deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorpusError, FileAccessError, InvalidArgumentError, TokenforgeError
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


def _digest_update(hasher: Any, texts: Iterable[str]) -> None:
    """Adds documents to a running content fingerprint (length-prefixed, so boundaries count)."""
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        hasher.update(len(data).to_bytes(8, "little"))
        hasher.update(data)


def _batches(
    sources: Sequence[Source],
    start: tuple[int, int],
    expected_digest: str | None,
    field: str,
    errors: str,
    max_document_bytes: int,
) -> Iterator[tuple[list[str], int, int, int, Any]]:
    """``(texts, source_index, documents_done_in_that_source, utf8_bytes, hasher_before)`` batches
    from ``start`` (a source index and documents to skip in it); ``hasher_before`` fingerprints the
    documents of that source before the batch. A batch never spans two sources, so each batch end
    is an exact resume position. The skipped documents must match ``expected_digest``."""
    first, skip = start
    for index in range(first, len(sources)):
        source = sources[index]
        hasher = hashlib.sha256()
        documents = source.documents(field=field, errors=errors, max_document_bytes=max_document_bytes)
        done = 0
        if index == first and skip:
            for text in documents:
                _digest_update(hasher, (text,))
                done += 1
                if done == skip:
                    break
            if done < skip or (expected_digest is not None and hasher.hexdigest() != expected_digest):
                raise CorpusError(
                    f"{source.path} changed since the interrupted run: its first {skip} documents are "
                    "not the ones already encoded, so resuming would lose or repeat documents; "
                    "restore the file, or start again with overwrite=True (--overwrite)"
                )
        texts: list[str] = []
        size = 0
        before = hasher.copy()
        for text in documents:
            texts.append(text)
            size += len(text)
            if size >= BATCH_BYTES:
                _digest_update(hasher, texts)
                done += len(texts)
                yield texts, index, done, size, before
                texts, size = [], 0
                before = hasher.copy()
        if texts:
            _digest_update(hasher, texts)
            done += len(texts)
            yield texts, index, done, size, before
        else:
            yield [], index, done, 0, before  # marks the source as finished


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
    if (
        isinstance(max_document_bytes, bool)
        or not isinstance(max_document_bytes, int)
        or max_document_bytes < 1
    ):
        raise InvalidArgumentError(
            f"max_document_bytes must be a positive integer, got {max_document_bytes!r}"
        )
    eos_id = _resolve_eos(tokenizer, eos)
    sources = expand_inputs(inputs)
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".tokenforge-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise FileAccessError(
            f"output directory {out} cannot be created or written ({exc.strerror or exc})"
        ) from None
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
    previous = _read_manifest(manifest_path)
    if previous is not None:
        # A run that closed no shard has nothing to resume (a failed first run, e.g. a bad
        # --eos or JSON line): a corrected command starts afresh instead of being refused.
        if previous.get("shards") and not overwrite:
            if previous.get("config") != config:
                raise CorpusError(
                    f"{out} already holds shards made with other settings, tokenizer or input files; "
                    "use a new output directory or overwrite=True (--overwrite)"
                )
            shards = previous["shards"]
            resumed = True
            already_complete = bool(previous.get("complete"))
        # Only the files this manifest names: closed shards being overwritten, or the shard an
        # interrupted run was writing. Other files in the folder are never touched.
        owned = [s["name"] for s in previous.get("shards", [])[len(shards) :]]
        owned += [previous["writing"]] if previous.get("writing") else []
        for name in owned:
            for ext in (".bin", ".idx", ".idx.tmp"):
                (out / f"{name}{ext}").unlink(missing_ok=True)

    start = (shards[-1]["end_source"], shards[-1]["end_documents"]) if shards else (0, 0)
    expected_digest = shards[-1].get("end_digest") if shards else None
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
    end_digest: str | None = None

    def open_shard() -> ShardWriter:
        name = f"shard-{len(shards):05d}"
        manifest["writing"] = name
        _write_json(manifest_path, manifest)
        return ShardWriter(out / name, dtype)

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
                "end_digest": end_digest,
            }
        )
        manifest["writing"] = None
        _write_json(manifest_path, manifest)
        writer = None

    try:
        for texts, index, done, nbytes, before in read_ahead(
            _batches(sources, start, expected_digest, field, utf8_errors, max_document_bytes)
        ):
            if texts:
                ids, offsets = _encode_batch(tokenizer, texts, num_threads, eos_id, sources[index], done)
                run_docs += len(texts)
                run_tokens += int(offsets[-1])
                run_bytes += nbytes
                # Fill shards document by document, so a shard closes as soon as it is full and
                # its end position is exact even in the middle of a batch.
                first_doc = done - len(texts)
                k = 0
                while k < len(texts):
                    if writer is None:
                        writer = open_shard()
                    room = shard_tokens - writer.tokens
                    # Documents that fit (at least one, so a document longer than a shard still goes).
                    end = int(np.searchsorted(offsets, offsets[k] + room, side="right")) - 1
                    end = min(max(end, k + 1), len(texts))
                    writer.add(ids, offsets[k : end + 1])
                    k = end
                    if writer.tokens >= shard_tokens:
                        position = (index, first_doc + k)
                        hasher = before.copy()
                        _digest_update(hasher, texts[:k])
                        end_digest = hasher.hexdigest()
                        close_shard()
            position = (index, done)
            bar.update(len(shards), index, run_docs, run_tokens, run_bytes)
        position, end_digest = (len(sources), 0), None
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


def _read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest of an earlier run, if there is one (an unreadable one is an error)."""
    if not path.exists():
        return None
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{path}: unreadable manifest ({exc}); use a new output directory") from None
    if not isinstance(previous, dict) or previous.get("format") != FORMAT:
        raise CorpusError(
            f"{path} is not a tokenforge shard manifest; use a new output directory (nothing was changed)"
        )
    return previous


def _encode_batch(
    tokenizer: Tokenizer,
    texts: list[str],
    num_threads: int | None,
    eos_id: int | None,
    source: Source,
    done: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Encodes one batch; a failure names the document (its number among the non-empty documents
    of its input) instead of failing the whole batch opaquely."""
    try:
        return tokenizer.encode_batch_to_numpy(
            texts, num_threads=num_threads, disallowed_special=(), separator=eos_id
        )
    except TokenforgeError:
        first = done - len(texts) + 1
        for number, text in enumerate(texts, start=first):
            try:
                tokenizer.count(text, disallowed_special=())
            except TokenforgeError as exc:
                raise CorpusError(
                    f"{source.path}, document {number} ({len(text.encode('utf-8', 'replace')):,} bytes, "
                    f"starting {text[:40]!r}): {exc}"
                ) from None
        raise


def _resolve_eos(tokenizer: Tokenizer, eos: int | str | None) -> int | None:
    if isinstance(eos, str) and eos in tokenizer.special_tokens:
        return tokenizer.special_tokens[eos]
    if isinstance(eos, str) and eos.isascii() and eos.isdigit():
        eos = int(eos)  # only ASCII digits: "٣".isdigit() is true too
    if eos is None:
        return None
    if isinstance(eos, int) and not isinstance(eos, bool):
        if not (0 <= eos < 2**32 and tokenizer.id_to_token(eos) is not None):
            raise InvalidArgumentError(f"eos id {eos} is not in the vocabulary of {tokenizer.name!r}")
        return eos
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
