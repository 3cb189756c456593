"""Reading and writing ``.safetensors`` files with numpy alone.

The format is an 8-byte little-endian header length, a JSON header ``{name: {"dtype", "shape",
"data_offsets"}, "__metadata__": {...}}`` and the raw little-endian tensor bytes. It is implemented
here rather than through ``safetensors.numpy`` because most HF checkpoints store ``BF16``, which numpy
(and so ``safetensors.numpy``) cannot represent; here BF16 widens exactly to float32 and rounds back to
nearest-even, so unchanged values stay bit-identical. Tests check interoperability both ways against
the ``safetensors`` package. Tensors that are not modified are copied as raw bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelFormatError

__all__ = ["SafetensorsFile", "bf16_to_f32", "f32_to_bf16", "write_safetensors"]

_NUMPY = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "BF16": "<u2",  # raw bits; see bf16_to_f32
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U64": "<u8",
    "U32": "<u4",
    "U16": "<u2",
    "U8": "u1",
    "BOOL": "?",
}
_MAX_HEADER = 100 * 1024 * 1024


def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    """BF16 bit patterns (uint16) to float32, exactly."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(values: np.ndarray) -> np.ndarray:
    """float32 to BF16 bit patterns with round-to-nearest-even (NaN stays NaN)."""
    u = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(values)
    if nan.any():
        rounded[nan] = 0x7FC0
    return rounded


@dataclass(frozen=True)
class _Entry:
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


class SafetensorsFile:
    """One ``.safetensors`` file: its header validated on open, tensors read on demand."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFormatError(f"{self.path}: no such safetensors file")
        size = self.path.stat().st_size
        with open(self.path, "rb") as f:
            raw_len = f.read(8)
            if len(raw_len) < 8:
                raise ModelFormatError(f"{self.path}: truncated safetensors file (no header length)")
            n = int.from_bytes(raw_len, "little")
            if n > min(_MAX_HEADER, size - 8):
                raise ModelFormatError(
                    f"{self.path}: corrupt safetensors header (claims {n} bytes, file has {size}); "
                    "is this really a .safetensors file?"
                )
            try:
                header = json.loads(f.read(n))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ModelFormatError(f"{self.path}: corrupt safetensors header: {exc}") from None
        if not isinstance(header, dict):
            raise ModelFormatError(f"{self.path}: corrupt safetensors header (not a JSON object)")
        self.data_start = 8 + n
        self.metadata: dict[str, str] = dict(header.pop("__metadata__", None) or {})
        self.entries: dict[str, _Entry] = {}
        data_len = size - self.data_start
        for name, info in header.items():
            try:
                dtype, shape, (start, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
            except (KeyError, TypeError, ValueError):
                raise ModelFormatError(f"{self.path}: corrupt header entry for tensor {name!r}") from None
            if dtype not in _NUMPY:
                raise ModelFormatError(f"{self.path}: tensor {name!r} has unsupported dtype {dtype}")
            expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(_NUMPY[dtype]).itemsize
            if not 0 <= start <= end <= data_len or end - start != expected:
                raise ModelFormatError(
                    f"{self.path}: tensor {name!r} ({dtype}{list(shape)}) has offsets {start}..{end} that "
                    f"do not fit its size or the file ({data_len} data bytes): truncated or corrupt file"
                )
            self.entries[name] = _Entry(dtype, shape, start, end)

    def keys(self) -> list[str]:
        return list(self.entries)

    def raw(self, name: str) -> bytes:
        entry = self.entries[name]
        with open(self.path, "rb") as f:
            f.seek(self.data_start + entry.start)
            return f.read(entry.end - entry.start)

    def tensor(self, name: str) -> np.ndarray:
        """The tensor as numpy; BF16 is widened to float32 (exactly)."""
        entry = self.entries[name]
        array = np.frombuffer(self.raw(name), dtype=_NUMPY[entry.dtype]).reshape(entry.shape)
        return bf16_to_f32(array) if entry.dtype == "BF16" else array


def encode_tensor(array: np.ndarray, dtype: str) -> bytes:
    """Bytes of ``array`` stored as safetensors ``dtype`` (float32 values round to BF16 when asked)."""
    if dtype == "BF16":
        return f32_to_bf16(array).tobytes()
    return np.ascontiguousarray(array, dtype=_NUMPY[dtype]).tobytes()


def write_safetensors(
    path: str | os.PathLike[str],
    tensors: Mapping[str, tuple[str, tuple[int, ...], bytes]],
    metadata: Mapping[str, str] | None = None,
) -> int:
    """Writes ``{name: (dtype, shape, raw bytes)}`` atomically; returns the number of data bytes."""
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(len(encoded).to_bytes(8, "little"))
        f.write(encoded)
        for _dtype, _shape, data in tensors.values():
            f.write(data)
    os.replace(tmp, target)
    return offset
