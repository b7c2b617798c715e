"""Read and write IDX files, the format MNIST and Fashion-MNIST are distributed in.

An IDX file is a 4-byte magic number ``00 00 TT NN`` (``TT`` the element type code,
``NN`` the number of dimensions), then ``NN`` big-endian int32 sizes, then the
elements in C order, big-endian. Files may be gzip-compressed; a gzip stream is
recognised by its magic bytes ``1f 8b`` whatever the file is called.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import TypeAlias

import numpy as np

# IDX type code -> big-endian NumPy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"

PathLike: TypeAlias = "str | os.PathLike[str]"


def _code_for_dtype(dtype: np.dtype) -> int:
    for code, idx_dtype in IDX_DTYPES.items():
        if idx_dtype.kind == dtype.kind and idx_dtype.itemsize == dtype.itemsize:
            return code
    supported = ", ".join(str(d.newbyteorder("=")) for d in IDX_DTYPES.values())
    raise ValueError(f"IDX cannot store dtype {dtype}; supported dtypes: {supported}")


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into an ndarray of the stored shape.

    The result is in native byte order and of the stored type (uint8, int8, int16,
    int32, float32 or float64). Raises ``ValueError`` naming the file for a bad magic
    number, an unknown type code, or a data size that does not match the header.

    >>> import os, tempfile
    >>> import numpy as np
    >>> from tinygrad_conv.data import read_idx, write_idx
    >>> path = os.path.join(tempfile.mkdtemp(), "x-idx2-ubyte.gz")
    >>> write_idx(path, np.arange(6, dtype=np.uint8).reshape(2, 3))
    >>> read_idx(path)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise ValueError(f"{path}: gzip stream is corrupt or truncated ({exc})") from exc

    if len(raw) < 4:
        raise ValueError(f"{path}: not an IDX file: only {len(raw)} bytes, the magic number needs 4")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{path}: not an IDX file: bad magic number {raw[:4].hex(' ')} "
            "(an IDX file starts with two zero bytes, then a type code and the number of dimensions)"
        )
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} ({d.newbyteorder('=')})" for c, d in IDX_DTYPES.items())
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X}; known codes: {known}")
    dtype = IDX_DTYPES[code]

    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise ValueError(
            f"{path}: truncated header: {ndim} dimensions need {header_len} header bytes, file has {len(raw)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    if any(d < 0 for d in shape):
        raise ValueError(f"{path}: negative dimension in header shape {shape}")

    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header_len
    if got < expected:
        raise ValueError(
            f"{path}: truncated data: shape {shape} of {dtype.newbyteorder('=')} "
            f"expected {expected} bytes got {got}"
        )
    if got > expected:
        raise ValueError(
            f"{path}: {got - expected} unexpected trailing bytes: shape {shape} of "
            f"{dtype.newbyteorder('=')} expected {expected} bytes got {got}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    # Native byte order and a private, writable copy (frombuffer views are read-only).
    return data.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzip-compressed when ``compress`` is true.

    ``compress=None`` (default) compresses when the name ends in ``.gz``. The array's
    dtype must be one IDX can store (uint8, int8, int16, int32, float32, float64);
    byte order is converted to the big-endian the format requires. Gzip output has a
    zero timestamp, so the same array always gives the same bytes.

    >>> import os, tempfile
    >>> import numpy as np
    >>> from tinygrad_conv.data import read_idx, write_idx
    >>> path = os.path.join(tempfile.mkdtemp(), "y-idx1-ubyte")
    >>> write_idx(path, np.array([3, 1, 4], dtype=np.uint8))
    >>> read_idx(path)
    array([3, 1, 4], dtype=uint8)
    """
    path = Path(path)
    array = np.asarray(array)
    code = _code_for_dtype(array.dtype)
    if array.ndim > 255:
        raise ValueError(f"IDX stores at most 255 dimensions, array has {array.ndim}")
    if any(d > np.iinfo(np.int32).max for d in array.shape):
        raise ValueError(f"IDX dimensions are int32; shape {array.shape} does not fit")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    body = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    payload = header + body
    if compress is None:
        compress = path.name.endswith(".gz")
    if compress:
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
