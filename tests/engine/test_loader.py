"""Model-file validation seen from Python: malformed files raise engine.EngineError
with a message naming the problem (the C++ tests cover every byte and bit)."""

from __future__ import annotations

import struct
import zlib

import pytest

import engine
from tests.engine.models import ConvReluAdd


@pytest.fixture(scope="module")
def data() -> bytes:
    return ConvReluAdd().data


def _with_fixed_crc(raw: bytearray) -> bytes:
    graph_size, weights_offset = struct.unpack_from("<Q", raw, 32)[0], struct.unpack_from("<Q", raw, 40)[0]
    struct.pack_into("<I", raw, 56, zlib.crc32(bytes(raw[64:64 + graph_size])))
    struct.pack_into("<I", raw, 60, zlib.crc32(bytes(raw[weights_offset:])))
    return bytes(raw)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:40], "too small for the 64-byte header"),
        (lambda d: d[:-1], "file_size"),
        (lambda d: b"NOTSLIM\0" + d[8:], "bad magic"),
        (lambda d: d[:8] + struct.pack("<H", 2) + d[10:], "version_major is 2"),
        (lambda d: d[:70] + bytes([d[70] ^ 0x10]) + d[71:], "graph_crc32 mismatch"),
        (lambda d: d[:-3] + bytes([d[-3] ^ 1]) + d[-2:], "weights_crc32 mismatch"),
        (lambda d: _with_fixed_crc(bytearray(d[:64]) + struct.pack("<I", 0x7FFFFFFF) + d[68:]), "num_tensors"),
    ],
)
def test_malformed_files_raise_clear_errors(data: bytes, mutate, message: str) -> None:
    with pytest.raises(engine.EngineError, match=message):
        engine.Session(mutate(data))


def test_file_errors_name_the_path(data: bytes, tmp_path) -> None:
    missing = tmp_path / "missing.slm"
    with pytest.raises(engine.EngineError, match="missing.slm"):
        engine.Session(missing)
    truncated = tmp_path / "cut.slm"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(engine.EngineError, match=r"file_size.*cut\.slm"):
        engine.Session(truncated)
    empty = tmp_path / "empty.slm"
    empty.write_bytes(b"")
    with pytest.raises(engine.EngineError, match="empty"):
        engine.Session(empty)


def test_every_truncation_is_rejected(data: bytes) -> None:
    for n in range(0, len(data), 7):
        with pytest.raises(engine.EngineError):
            engine.Session(data[:n])
