"""Piece counts: counting a corpus, and ``.tfc`` counts files that can be saved, merged across
shards (or machines) and trained from.

The ``.tfc`` format (version 1), little-endian::

    magic     8 bytes   b"TFCOUNTS"
    version   u32       1
    header    u32 length + UTF-8 JSON (see below)
    tables    u32 count, then per table: u64 number of pieces, then per piece in ascending byte
              order: LEB128 length, the piece's bytes, LEB128 count
    checksum  32 bytes  SHA-256 of everything before it

The header records what the counts mean, so shards that were counted differently are never merged
by mistake: ``tables`` (names, ``"subword"`` and for SuperBPE ``"superword"``), ``pretokenizers``
(per table: preset name and steps), ``normalizers``, ``line_boundaries``, ``excluded`` (special and
domain tokens cut out before counting), ``corpus`` (bytes, lines, documents, sources), ``pruning``
(the memory cap and what pruning removed) and ``library_version``. Tables are sorted, so a file's
bytes depend only on the counts, never on hash order or threads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import _core
from ..corpus.readers import read_ahead
from ..errors import CorpusError, InvalidArgumentError, TokenforgeError
from ..spec import PreTokenizerStep
from .config import preset_name, steps_from_json, steps_to_json
from .corpus import BATCH_BYTES, Corpus
from .progress import Progress

__all__ = ["Counts", "check_unnormalized_counts", "count_corpus", "engine_steps"]

FORMAT_NAME = "tokenforge.counts"
FORMAT_VERSION = 1


def engine_steps(steps: Sequence[PreTokenizerStep]) -> list[tuple[str, str | None, str | None, bool, bool]]:
    """Steps in the engine's tuple form."""
    from ..tokenizer import _step_tuple

    return [_step_tuple(s) for s in steps]


def _scrub(texts: list[str | bytes]) -> list[str | bytes]:
    # Lone surrogates cannot be UTF-8 encoded; like encoding, count them as U+FFFD.
    return [
        t if isinstance(t, bytes) else t.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        for t in texts
    ]


@dataclass
class Counts:
    """Counted pieces of a corpus: one table per pre-tokenizer, plus what they mean."""

    tables: dict[str, Any]
    pretokenizers: dict[str, tuple[PreTokenizerStep, ...]]
    normalizers: tuple[str, ...] = ()
    line_boundaries: bool = True
    excluded: tuple[str, ...] = ()
    corpus: dict[str, Any] = field(default_factory=dict)
    pruning: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ inspection

    def table(self, name: str) -> Any:
        try:
            return self.tables[name]
        except KeyError:
            raise InvalidArgumentError(
                f"these counts have no {name!r} table (tables: {', '.join(self.tables)}); "
                "count with the algorithm you train with (e.g. `tokenforge count --algorithm superbpe`)"
            ) from None

    def fingerprint(self, name: str = "subword") -> str:
        """SHA-256 of the sorted piece counts of one table."""
        return str(self.table(name).fingerprint())

    def summary(self) -> dict[str, Any]:
        """Corpus totals plus, per table, distinct pieces, total pieces and the fingerprint."""
        out: dict[str, Any] = dict(self.corpus)
        for name, table in self.tables.items():
            st = table.stats()
            out[name] = {
                "pretokenizer": preset_name(self.pretokenizers[name]) or "custom",
                "distinct_pieces": st["distinct"],
                "pieces": st["total"],
                "sha256": table.fingerprint(),
            }
        if self.pruning.get("passes"):
            out["pruning"] = dict(self.pruning)
        return out

    def most_common(self, n: int = 10, name: str = "subword") -> list[tuple[bytes, int]]:
        return list(self.table(name).most_common(n))

    # ------------------------------------------------------------------ files

    def header(self) -> dict[str, Any]:
        from .. import __version__

        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "tables": list(self.tables),
            "pretokenizers": {
                name: {"preset": preset_name(steps), "steps": steps_to_json(steps)}
                for name, steps in self.pretokenizers.items()
            },
            "normalizers": list(self.normalizers),
            "line_boundaries": self.line_boundaries,
            "excluded": list(self.excluded),
            "corpus": self.corpus,
            "pruning": self.pruning,
            "library_version": __version__,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes a ``.tfc`` file atomically (temporary file, then rename)."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        header = json.dumps(self.header(), ensure_ascii=False, sort_keys=True)
        try:
            _core.PieceCounter.write(str(tmp), header, list(self.tables.values()))
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Counts:
        """Reads a ``.tfc`` file (checksum verified)."""
        header_text, tables = _core.PieceCounter.read(os.fspath(path))
        try:
            header = json.loads(header_text)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path}: counts header is not valid JSON ({exc})") from None
        if header.get("format") != FORMAT_NAME or header.get("version") != FORMAT_VERSION:
            raise CorpusError(
                f"{path}: unsupported counts header (format {header.get('format')!r}, "
                f"version {header.get('version')!r}; this tokenforge reads {FORMAT_NAME} v{FORMAT_VERSION})"
            )
        names = list(header["tables"])
        if len(names) != len(tables):
            raise CorpusError(f"{path}: header names {len(names)} tables but the file holds {len(tables)}")
        return cls(
            tables=dict(zip(names, tables, strict=True)),
            pretokenizers={n: steps_from_json(header["pretokenizers"][n]["steps"]) for n in names},
            normalizers=tuple(header.get("normalizers", ())),
            line_boundaries=bool(header.get("line_boundaries", True)),
            excluded=tuple(header.get("excluded", ())),
            corpus=dict(header.get("corpus", {})),
            pruning=dict(header.get("pruning", {})),
        )

    def merge(self, other: Counts) -> Counts:
        """Adds another shard's counts into this one (in place; returns self). Both must have been
        counted the same way (tables, pre-tokenizers, normalizers, line boundaries, exclusions)."""
        for what, mine, theirs in (
            ("tables", list(self.tables), list(other.tables)),
            ("pre-tokenizers", self.pretokenizers, other.pretokenizers),
            ("normalizers", self.normalizers, other.normalizers),
            ("line_boundaries", self.line_boundaries, other.line_boundaries),
            ("excluded tokens", sorted(self.excluded), sorted(other.excluded)),
        ):
            if mine != theirs:
                raise InvalidArgumentError(
                    f"cannot merge counts made with different {what}: {mine!r} vs {theirs!r}"
                )
        for name, table in self.tables.items():
            table.merge_from(other.tables[name])
        for key in ("bytes", "lines", "documents"):
            self.corpus[key] = int(self.corpus.get(key, 0)) + int(other.corpus.get(key, 0))
        self.corpus["sources"] = list(self.corpus.get("sources", [])) + list(other.corpus.get("sources", []))
        if other.pruning.get("passes") or self.pruning.get("passes"):
            merged = dict(self.pruning)
            for key, value in other.pruning.items():
                if key in ("passes", "pieces", "occurrences", "threshold_sum"):
                    merged[key] = int(merged.get(key, 0)) + int(value)
                elif key == "max_threshold":
                    merged[key] = max(int(merged.get(key, 0)), int(value))
                else:
                    merged.setdefault(key, value)
            self.pruning = merged
        return self

    @classmethod
    def load_many(cls, paths: Iterable[str | os.PathLike[str]]) -> Counts:
        """Loads and merges several ``.tfc`` shards."""
        merged: Counts | None = None
        for p in paths:
            shard = cls.load(p)
            merged = shard if merged is None else merged.merge(shard)
        if merged is None:
            raise InvalidArgumentError("no counts files given")
        return merged


def check_unnormalized_counts(
    counts: Counts,
    algorithm: str,
    tables: Mapping[str, tuple[PreTokenizerStep, ...]],
    *,
    line_boundaries: bool,
    excluded: Sequence[str],
    excluded_option: str,
    recount: str,
) -> None:
    """Raises unless ``counts`` were made the way an algorithm that trains on unnormalized text
    counts (Unigram, LiB, hybrid): the same tables with the same pre-tokenizers, no normalizers,
    the same strings cut out before counting (``excluded``, the config's ``excluded_option``) and
    the same ``line_boundaries``. ``recount`` says how to count for this config."""
    for name, steps in tables.items():
        counts.table(name)  # raises a clear error when the table is missing
        if counts.pretokenizers[name] != steps:
            raise InvalidArgumentError(
                f"the counts' {name!r} table was made with another pre-tokenizer than {algorithm} "
                f"uses here; {recount}"
            )
    if counts.normalizers:
        raise InvalidArgumentError(
            f"{algorithm} trains on unnormalized counts; these have {counts.normalizers}"
        )
    if sorted(counts.excluded) != sorted(excluded):
        raise InvalidArgumentError(
            f"the counts were made with {list(counts.excluded)[:5] or 'nothing'} cut out, this "
            f"{algorithm} config cuts out {list(excluded)[:5] or 'nothing'}; count again with the "
            f"same {excluded_option}"
        )
    if counts.line_boundaries != line_boundaries:
        raise InvalidArgumentError(
            f"line_boundaries={line_boundaries} differs from the counts' ({counts.line_boundaries})"
        )


def count_corpus(
    inputs: Any,
    pretokenizers: Mapping[str, tuple[PreTokenizerStep, ...]],
    *,
    normalizers: Sequence[str] = (),
    excluded: Sequence[str] = (),
    line_boundaries: bool = True,
    max_memory: int | None = None,
    field: str = "text",
    num_threads: int = 1,
    progress: Progress | None = None,
) -> tuple[Counts, list[str]]:
    """Streams ``inputs`` through one counter per pre-tokenizer (one read of the corpus feeds them
    all). Returns the counts and up to three sample lines (for self-tests).

    ``max_memory`` bounds the whole count: half of it goes to the tables (each pruned to stay under
    its share; see :mod:`tokenforge.train` for the effect of pruning), the rest is left for the
    text in flight, which is read in smaller batches with less read-ahead under a cap.
    """
    progress = progress or Progress(None)
    if max_memory is None:
        corpus = Corpus(inputs, field=field)
        share = None
        depth = 2
    else:
        # Measured on 60 MB of unique random words with a 64 MiB cap: tables at 1/2 of the cap,
        # 4 MiB batches and two batches read ahead peaked at +97 MiB; this budget stays under it.
        corpus = Corpus(inputs, field=field, batch_bytes=max(256 << 10, min(BATCH_BYTES, max_memory // 32)))
        share = max(1 << 20, max_memory // (2 * len(pretokenizers)))
        depth = 1
    try:
        counters = {
            name: _core.PieceCounter(
                engine_steps(steps), list(normalizers), list(excluded), line_boundaries, share
            )
            for name, steps in pretokenizers.items()
        }
    except TokenforgeError as exc:
        raise InvalidArgumentError(f"cannot build the pre-tokenizer: {exc}") from None
    first = next(iter(counters.values()))
    total = corpus.total_bytes
    progress.start("count", total=total, unit="B")
    for batch in read_ahead(corpus.batches(), depth):
        for counter in counters.values():
            try:
                counter.add(batch, num_threads)
            except UnicodeEncodeError:
                batch = _scrub(batch)
                counter.add(batch, num_threads)
        done = corpus.stats.file_bytes if total is not None else first.stats()["bytes"]
        progress.update(done, pieces=len(first))
    stats = first.stats()
    if stats["bytes"] == 0:
        raise CorpusError(f"the corpus is empty (inputs: {', '.join(corpus.described)})")
    pruning: dict[str, Any] = {"max_memory": max_memory}
    for counter in counters.values():
        st = counter.stats()
        if st["prune_passes"]:
            pruning["passes"] = pruning.get("passes", 0) + st["prune_passes"]
            pruning["pieces"] = pruning.get("pieces", 0) + st["pruned_pieces"]
            pruning["occurrences"] = pruning.get("occurrences", 0) + st["pruned_occurrences"]
            pruning["max_threshold"] = max(pruning.get("max_threshold", 0), st["prune_max_threshold"])
            pruning["threshold_sum"] = max(pruning.get("threshold_sum", 0), st["prune_threshold_sum"])
    progress.finish(corpus.stats.file_bytes if total is not None else stats["bytes"], pieces=len(first))
    counts = Counts(
        tables=counters,
        pretokenizers=dict(pretokenizers),
        normalizers=tuple(normalizers),
        line_boundaries=line_boundaries,
        excluded=tuple(excluded),
        corpus={
            "bytes": stats["bytes"],
            "lines": stats["lines"],
            "documents": corpus.stats.documents,
            "sources": corpus.described,
        },
        pruning=pruning if max_memory is not None else {},
    )
    return counts, corpus.stats.samples
