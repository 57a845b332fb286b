"""Test-only writer of engine model files (engine/FORMAT.md).

Minimal on purpose: it builds small hand-made graphs for the engine's tests.
The production writer (with validation and fusion) is ``export``'s converter.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

DTYPE_CODES = {"float32": 1, "uint8": 2, "int8": 3, "int32": 6, "int64": 7, "bool": 9, "float16": 10}
KIND_VALUE, KIND_INPUT, KIND_CONSTANT = 0, 1, 2


def _str(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("<I", len(raw)) + raw


def _dims(shape: list[int]) -> bytes:
    return struct.pack("<I", len(shape)) + b"".join(struct.pack("<q", d) for d in shape)


def _attr(name: str, value: object) -> bytes:
    out = _str(name)
    if isinstance(value, (bool, int, np.integer)):
        return out + struct.pack("<Bq", 1, int(value))
    if isinstance(value, float):
        return out + struct.pack("<Bf", 2, value)
    if isinstance(value, str):
        return out + struct.pack("<B", 3) + _str(value)
    values = list(value)  # type: ignore[call-overload]
    if all(isinstance(v, (int, np.integer)) for v in values):
        return out + struct.pack("<BI", 4, len(values)) + b"".join(struct.pack("<q", int(v)) for v in values)
    return out + struct.pack("<BI", 5, len(values)) + b"".join(struct.pack("<f", float(v)) for v in values)


@dataclass
class _Tensor:
    name: str
    dtype: str
    kind: int
    shape: list[int]
    dim_names: list[str]
    data: bytes = b""
    storage: str = ""


@dataclass
class SlmBuilder:
    tensors: list[_Tensor] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    nodes: list[bytes] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    _index: dict[str, int] = field(default_factory=dict)

    def _add(self, t: _Tensor) -> int:
        self._index[t.name] = len(self.tensors)
        self.tensors.append(t)
        return self._index[t.name]

    def input(self, name: str, shape: list[int | str], dtype: str = "float32") -> str:
        """A graph input; a str dim is symbolic (stored as -1 with that name)."""
        dims = [-1 if isinstance(d, str) else d for d in shape]
        names = [d if isinstance(d, str) else "" for d in shape]
        self.inputs.append(self._add(_Tensor(name, dtype, KIND_INPUT, dims, names)))
        return name

    def constant(self, name: str, array: np.ndarray, fp16: bool = False) -> str:
        array = np.ascontiguousarray(array)
        dtype = array.dtype.name
        storage = array.astype(np.float16) if fp16 else array
        self._add(_Tensor(name, dtype, KIND_CONSTANT, list(array.shape), [""] * array.ndim,
                          storage.tobytes(), "float16" if fp16 else dtype))
        return name

    def value(self, name: str, shape: list[int | str] | None = None, dtype: str = "float32") -> str:
        shape = shape or []
        dims = [-1 if isinstance(d, str) else d for d in shape]
        names = [d if isinstance(d, str) else "" for d in shape]
        self._add(_Tensor(name, dtype, KIND_VALUE, dims, names))
        return name

    def node(self, op_type: str, inputs: list[str | None], outputs: list[str], name: str | None = None,
             **attrs: object) -> None:
        for out in outputs:
            if out not in self._index:
                self.value(out)
        body = _str(op_type) + _str(name or f"{op_type.lower()}_{len(self.nodes)}")
        body += struct.pack("<I", len(inputs))
        body += b"".join(struct.pack("<i", -1 if i is None else self._index[i]) for i in inputs)
        body += struct.pack("<I", len(outputs)) + b"".join(struct.pack("<I", self._index[o]) for o in outputs)
        body += struct.pack("<I", len(attrs)) + b"".join(_attr(k, v) for k, v in attrs.items())
        self.nodes.append(body)

    def output(self, name: str) -> None:
        self.outputs.append(self._index[name])

    def to_bytes(self) -> bytes:
        weights = bytearray()
        graph = struct.pack("<I", len(self.tensors))
        for t in self.tensors:
            graph += _str(t.name) + struct.pack("<BBH", DTYPE_CODES[t.dtype], t.kind, 0) + _dims(t.shape)
            graph += b"".join(_str(n) for n in t.dim_names)
            if t.kind == KIND_CONSTANT:
                weights += b"\0" * (-len(weights) % 64)
                graph += struct.pack("<B7xQQ", DTYPE_CODES[t.storage], len(weights), len(t.data))
                weights += t.data
        graph += struct.pack("<I", len(self.inputs)) + b"".join(struct.pack("<I", i) for i in self.inputs)
        graph += struct.pack("<I", len(self.outputs)) + b"".join(struct.pack("<I", i) for i in self.outputs)
        graph += struct.pack("<I", len(self.nodes)) + b"".join(self.nodes)
        graph += struct.pack("<I", len(self.meta))
        graph += b"".join(_str(k) + _str(v) for k, v in self.meta.items())
        weights_offset = 64 + len(graph) + (-(64 + len(graph)) % 64)
        file_size = weights_offset + len(weights)
        flags = 1 if any(t.storage == "float16" and t.dtype == "float32" for t in self.tensors) else 0
        header = b"SLIMLAB\0" + struct.pack(
            "<HHIQQQQQII", 1, 0, flags, file_size, 64, len(graph), weights_offset, len(weights),
            zlib.crc32(bytes(graph)), zlib.crc32(bytes(weights)))
        return header + bytes(graph) + b"\0" * (weights_offset - 64 - len(graph)) + bytes(weights)
