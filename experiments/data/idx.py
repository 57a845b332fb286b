"""Reading IDX files (the MNIST / Fashion-MNIST container), plain or gzipped.

Every structural property the format promises is checked, because a file cut
short by an interrupted download otherwise decodes into silently wrong images.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

# IDX type codes -> big-endian numpy dtypes (the format stores every number big-endian)
_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


class IdxFormatError(ValueError):
    """An IDX file that is truncated, corrupt or not shaped as expected; the message names the file."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IdxFormatError(path, "file does not exist") from None
    # detect gzip by content, not by name: renamed or hand-decompressed files are common
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise IdxFormatError(path, f"corrupt or truncated gzip stream ({err})") from None


def read_idx(path: str | Path, ndim: int | None = None) -> np.ndarray:
    """Decode one IDX file into a native-endian array; ``ndim`` is the number of dimensions required."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IdxFormatError(path, f"only {len(data)} bytes, too short for the 4-byte IDX magic number")
    if data[0] != 0 or data[1] != 0:
        raise IdxFormatError(
            path, f"bad magic number 0x{data[:4].hex()}: an IDX file starts with two zero bytes"
        )
    code, file_ndim = data[2], data[3]
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _DTYPES)
        raise IdxFormatError(path, f"unknown IDX data type code 0x{code:02X} (known: {known})")
    if file_ndim == 0:
        raise IdxFormatError(path, "magic number declares 0 dimensions")
    if ndim is not None and file_ndim != ndim:
        raise IdxFormatError(path, f"expected {ndim} dimension(s), the header declares {file_ndim}")
    header = 4 + 4 * file_ndim
    if len(data) < header:
        raise IdxFormatError(
            path, f"truncated header: {file_ndim} dimensions need {header} bytes, file has {len(data)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=file_ndim, offset=4))
    if 0 in dims:
        raise IdxFormatError(path, f"a dimension is zero: {dims}")
    dtype = _DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize
    actual = len(data) - header
    if actual < expected:
        raise IdxFormatError(
            path, f"truncated payload: dimensions {dims} need {expected} bytes of data, file has {actual}"
        )
    if actual > expected:
        raise IdxFormatError(
            path, f"{actual - expected} unexpected bytes after the {expected} bytes that dimensions {dims} need"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    if dtype.kind == "f" and not np.isfinite(array).all():
        raise IdxFormatError(path, f"{int((~np.isfinite(array)).sum())} non-finite (NaN/inf) values")
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx_pair(images_path: str | Path, labels_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, H, W]`` and labels ``[N]`` from a matching pair of IDX files."""
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if len(images) != len(labels):
        raise IdxFormatError(
            images_path, f"holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    return images, labels
