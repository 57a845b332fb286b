from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from experiments.data.idx import IdxFormatError, read_idx, read_idx_pair


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def images() -> np.ndarray:
    return np.arange(5 * 3 * 4, dtype=np.uint8).reshape(5, 3, 4)


def test_reads_valid_file(tmp_path, images):
    path = write(tmp_path / "imgs-idx3-ubyte", idx_bytes(images))
    out = read_idx(path, ndim=3)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, images)


def test_reads_gzip_and_float(tmp_path):
    values = np.linspace(-1, 1, 6, dtype=np.float32)
    path = write(tmp_path / "vals.idx1-ubyte.gz", gzip.compress(idx_bytes(values, code=0x0D)))
    np.testing.assert_array_equal(read_idx(path), values)


def test_wrong_magic_names_file(tmp_path, images):
    data = bytearray(idx_bytes(images))
    data[0] = 0x12
    path = write(tmp_path / "bad-magic-idx3-ubyte", bytes(data))
    with pytest.raises(IdxFormatError, match=r"bad-magic-idx3-ubyte: bad magic number"):
        read_idx(path)


def test_unknown_type_code(tmp_path, images):
    path = write(tmp_path / "code.idx", idx_bytes(images, code=0x07))
    with pytest.raises(IdxFormatError, match=r"code\.idx: unknown IDX data type code 0x07"):
        read_idx(path)


def test_wrong_ndim_names_file(tmp_path, images):
    path = write(tmp_path / "labels-idx1-ubyte", idx_bytes(images))
    with pytest.raises(IdxFormatError, match=r"labels-idx1-ubyte: expected 1 dimension\(s\), the header declares 3"):
        read_idx(path, ndim=1)


def test_truncated_payload_names_file(tmp_path, images):
    path = write(tmp_path / "short-idx3-ubyte", idx_bytes(images)[:-7])
    with pytest.raises(IdxFormatError, match=r"short-idx3-ubyte: truncated payload.*need 60 bytes.*has 53"):
        read_idx(path)


def test_truncated_header_and_trailing_bytes(tmp_path, images):
    with pytest.raises(IdxFormatError, match=r"hdr: truncated header"):
        read_idx(write(tmp_path / "hdr", idx_bytes(images)[:9]))
    with pytest.raises(IdxFormatError, match=r"long: 2 unexpected bytes"):
        read_idx(write(tmp_path / "long", idx_bytes(images) + b"\0\0"))
    with pytest.raises(IdxFormatError, match=r"tiny: only 2 bytes"):
        read_idx(write(tmp_path / "tiny", b"\0\0"))


def test_corrupt_gzip_names_file(tmp_path, images):
    packed = gzip.compress(idx_bytes(images))
    path = write(tmp_path / "cut-idx3-ubyte.gz", packed[: len(packed) // 2])
    with pytest.raises(IdxFormatError, match=r"cut-idx3-ubyte\.gz: corrupt or truncated gzip"):
        read_idx(path)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(IdxFormatError, match=r"nothere-idx1-ubyte: file does not exist"):
        read_idx(tmp_path / "nothere-idx1-ubyte")


def test_non_finite_float_rejected(tmp_path):
    values = np.array([0.5, np.nan, 1.0], dtype=np.float32)
    path = write(tmp_path / "nan.idx", idx_bytes(values, code=0x0D))
    with pytest.raises(IdxFormatError, match=r"nan\.idx: 1 non-finite"):
        read_idx(path)


def test_pair_count_mismatch_names_both_files(tmp_path, images):
    img = write(tmp_path / "i-idx3-ubyte", idx_bytes(images))
    lab = write(tmp_path / "l-idx1-ubyte", idx_bytes(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(IdxFormatError, match=r"i-idx3-ubyte: holds 5 images but .*l-idx1-ubyte holds 4 labels"):
        read_idx_pair(img, lab)


def test_pair_valid(tmp_path, images):
    img = write(tmp_path / "i-idx3-ubyte", idx_bytes(images))
    lab = write(tmp_path / "l-idx1-ubyte.gz", gzip.compress(idx_bytes(np.arange(5, dtype=np.uint8))))
    x, y = read_idx_pair(img, lab)
    assert x.shape == (5, 3, 4) and y.tolist() == [0, 1, 2, 3, 4]


def test_error_is_value_error():
    assert issubclass(IdxFormatError, ValueError)
