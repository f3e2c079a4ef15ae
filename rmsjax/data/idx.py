"""A reader for the IDX format of the MNIST files (LeCun et al.), gzipped or not.

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, ``ndim`` big-endian uint32
dimension sizes, then the data in C order. MNIST uses type ``0x08`` (uint8): images are
``0x00000803`` (3 dimensions), labels ``0x00000801`` (1 dimension).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IDXError", "parse_idx", "read_idx"]

_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IDXError(ValueError):
    """A file is not a valid IDX file (bad magic number, wrong size, truncated, bad gzip)."""


def parse_idx(raw: bytes, *, name: str = "<bytes>", expect_ndim: int | None = None) -> np.ndarray:
    """Decode the (already decompressed) bytes of an IDX file; ``name`` is used in errors.

    >>> import struct
    >>> from rmsjax.data.idx import parse_idx
    >>> parse_idx(struct.pack(">I", 0x801) + struct.pack(">I", 3) + bytes([7, 8, 9]))
    array([7, 8, 9], dtype=uint8)
    """
    if len(raw) < 4:
        raise IDXError(f"{name}: only {len(raw)} bytes, too short for an IDX header")
    zero, zero2, type_code, ndim = raw[0], raw[1], raw[2], raw[3]
    magic = int.from_bytes(raw[:4], "big")
    if zero != 0 or zero2 != 0 or type_code not in _DTYPES or ndim == 0:
        raise IDXError(
            f"{name}: bad IDX magic number 0x{magic:08x} (expected 0x0000TTNN with a known type "
            f"TT, e.g. 0x00000803 for MNIST images, 0x00000801 for labels)"
        )
    if expect_ndim is not None and ndim != expect_ndim:
        raise IDXError(
            f"{name}: IDX magic number 0x{magic:08x} says {ndim} dimensions, expected {expect_ndim}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{name}: truncated IDX header ({len(raw)} bytes, need {header})")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header
    if got != expected:
        what = "truncated" if got < expected else "has trailing bytes"
        raise IDXError(
            f"{name}: {what}: header says shape {tuple(shape)} ({expected} bytes of data), "
            f"file has {got}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike, *, expect_ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain, decided by the content) into a NumPy array.

    Raises:
      FileNotFoundError: the file does not exist.
      IDXError: the file is corrupt, truncated or not IDX; the message names the file.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise IDXError(f"{path}: corrupt or truncated gzip data ({err})") from err
    return parse_idx(raw, name=str(path), expect_ndim=expect_ndim)
