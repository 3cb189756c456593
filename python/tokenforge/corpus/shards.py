"""Token shards in the Megatron-LM indexed-dataset format (``.bin`` + ``.idx``), which Megatron-Core,
NeMo and GPT-NeoX read directly, plus a numpy reader.

``NAME.bin``: every token id of every document, concatenated, little-endian, ``uint16`` when the
vocabulary has fewer than 65,500 ids, else ``int32`` (Megatron's choice).

``NAME.idx``:

====================  =======================================================================
bytes                 content
====================  =======================================================================
9                     magic ``b"MMIDIDX\\x00\\x00"``
8                     version, u64 little-endian = 1
1                     dtype code, u8 (Megatron's ``DType``: 4 = int32, 8 = uint16)
8                     sequence count S, u64
8                     document count D, u64 (= S + 1: the document index has a leading 0)
4 * S                 ``sizes``: tokens per sequence, int32
8 * S                 ``pointers``: byte offset of each sequence in ``.bin``, int64
8 * D                 ``doc_idx``: index of the first sequence of each document, int64, [0, 1, ..., S]
====================  =======================================================================

One sequence per document (an end-of-text id, if requested, is part of its document).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import CorpusError

__all__ = ["IDX_MAGIC", "ShardReader", "ShardWriter", "dtype_for_vocab"]

IDX_MAGIC = b"MMIDIDX\x00\x00"
_DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}
_CODE_DTYPES = {code: dtype for dtype, code in _DTYPE_CODES.items()}


def dtype_for_vocab(n_vocab: int) -> np.dtype:
    """Megatron's rule: ``uint16`` below 65,500 ids, else ``int32``."""
    return np.dtype(np.uint16) if n_vocab < 65500 else np.dtype(np.int32)


class ShardWriter:
    """Writes one shard: documents are appended to ``.bin`` as they come; ``close`` writes the
    ``.idx``. Until then the shard is incomplete (a resumed run deletes and redoes it)."""

    def __init__(self, prefix: Path, dtype: np.dtype) -> None:
        self.prefix = prefix
        self.dtype = np.dtype(dtype)
        self._bin = open(prefix.with_suffix(".bin"), "wb")
        self._sizes: list[npt.NDArray[np.int32]] = []
        self.tokens = 0
        self.documents = 0

    def add(self, ids: npt.NDArray[np.uint32], offsets: npt.NDArray[np.uint64]) -> None:
        """Appends documents given as flat ids and ``len + 1`` offsets."""
        if len(offsets) < 2:
            return
        self._bin.write(
            ids[offsets[0] : offsets[-1]].astype(self.dtype.newbyteorder("<"), copy=False).tobytes()
        )
        self._sizes.append(np.diff(offsets).astype(np.int32))
        self.tokens += int(offsets[-1] - offsets[0])
        self.documents += len(offsets) - 1

    def close(self) -> None:
        """Flushes ``.bin`` and writes ``.idx`` atomically; both are durable on return."""
        self._bin.flush()
        os.fsync(self._bin.fileno())
        self._bin.close()
        sizes = np.concatenate(self._sizes) if self._sizes else np.zeros(0, dtype=np.int32)
        pointers = np.zeros(len(sizes), dtype=np.int64)
        if len(sizes) > 1:
            np.cumsum(sizes[:-1].astype(np.int64) * self.dtype.itemsize, out=pointers[1:])
        doc_idx = np.arange(len(sizes) + 1, dtype=np.int64)
        idx = self.prefix.with_suffix(".idx")
        tmp = idx.with_name(idx.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(IDX_MAGIC)
            f.write(struct.pack("<Q", 1))
            f.write(struct.pack("<B", _DTYPE_CODES[self.dtype]))
            f.write(struct.pack("<Q", len(sizes)))
            f.write(struct.pack("<Q", len(doc_idx)))
            f.write(sizes.astype("<i4").tobytes())
            f.write(pointers.astype("<i8").tobytes())
            f.write(doc_idx.astype("<i8").tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, idx)

    def abort(self) -> None:
        self._bin.close()


class ShardReader:
    """Reads a shard with ``numpy.memmap``: ``len(reader)`` documents, ``reader[i]`` the ids of one."""

    def __init__(self, prefix: str | os.PathLike[str]) -> None:
        prefix = Path(prefix)
        if prefix.suffix in (".bin", ".idx"):
            prefix = prefix.with_suffix("")
        idx_path, bin_path = prefix.with_suffix(".idx"), prefix.with_suffix(".bin")
        try:
            data = idx_path.read_bytes()
        except OSError as exc:
            raise CorpusError(f"{idx_path}: cannot read the shard index ({exc.strerror})") from None
        header = len(IDX_MAGIC) + 8 + 1 + 8 + 8
        if len(data) < header or not data.startswith(IDX_MAGIC):
            raise CorpusError(f"{idx_path}: not a Megatron .idx file (bad magic)")
        version, code, count, doc_count = struct.unpack_from("<QBQQ", data, len(IDX_MAGIC))
        if version != 1 or code not in _CODE_DTYPES:
            raise CorpusError(f"{idx_path}: unsupported version {version} or dtype code {code}")
        if len(data) != header + count * 12 + doc_count * 8:
            raise CorpusError(f"{idx_path}: truncated or corrupt (size does not match its counts)")
        self.dtype = _CODE_DTYPES[code]
        self.sizes = np.frombuffer(data, dtype="<i4", count=count, offset=header)
        self.pointers = np.frombuffer(data, dtype="<i8", count=count, offset=header + 4 * count)
        self.doc_idx = np.frombuffer(data, dtype="<i8", count=doc_count, offset=header + 12 * count)
        expected = int(self.sizes.sum()) * self.dtype.itemsize
        if not bin_path.is_file() or bin_path.stat().st_size != expected:
            raise CorpusError(f"{bin_path}: missing or not {expected} bytes as its index says")
        self.tokens = (
            np.memmap(bin_path, dtype=self.dtype.newbyteorder("<"), mode="r")
            if expected
            else np.zeros(0, dtype=self.dtype)
        )

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, i: int) -> npt.NDArray[np.generic]:
        start = int(self.pointers[i]) // self.dtype.itemsize
        return self.tokens[start : start + int(self.sizes[i])]

    def __iter__(self) -> Iterator[npt.NDArray[np.generic]]:
        for i in range(len(self)):
            yield self[i]
