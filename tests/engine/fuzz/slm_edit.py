"""Engine files (engine/FORMAT.md) as editable fields: ``parse`` reads any file whose encoding is readable,
whatever its values; ``SlmFile.to_bytes`` writes the fields back with correct sizes and CRCs. The Python twin of
engine/tests/fuzz/slm_file.h, used to craft the hostile files of the regression tests (one field changed in a
real model) without going through a writer that would refuse them.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field


@dataclass
class Attr:
    name: str
    type: int  # 1 int, 2 float, 3 string, 4 ints, 5 floats
    value: int | float | str | list[int] | list[float]


@dataclass
class Tensor:
    name: str
    dtype: int
    kind: int
    dims: list[int]
    dim_names: list[str]
    reserved: int = 0
    storage: int = 0
    reserved7: bytes = b"\0" * 7
    offset: int = 0
    size: int = 0


@dataclass
class Node:
    op: str
    name: str
    inputs: list[int]
    outputs: list[int]
    attrs: list[Attr]

    def attr(self, name: str) -> Attr | None:
        return next((a for a in self.attrs if a.name == name), None)

    def set_attr(self, name: str, type_: int, value: int | float | str | list[int] | list[float]) -> None:
        self.attrs = [a for a in self.attrs if a.name != name] + [Attr(name, type_, value)]


@dataclass
class SlmFile:
    major: int = 1
    minor: int = 0
    flags: int = 0
    tensors: list[Tensor] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    meta: list[tuple[str, str]] = field(default_factory=list)
    trailing: bytes = b""
    weights: bytes = b""

    def tensor(self, name: str) -> int:
        return next(i for i, t in enumerate(self.tensors) if t.name == name)

    def nodes_of(self, op: str) -> list[Node]:
        return [n for n in self.nodes if n.op == op]

    def to_bytes(self) -> bytes:
        g = bytearray(struct.pack("<I", len(self.tensors)))
        for t in self.tensors:
            g += _str(t.name) + struct.pack("<BBHI", t.dtype, t.kind, t.reserved, len(t.dims))
            g += b"".join(struct.pack("<q", d) for d in t.dims)
            g += b"".join(_str(n) for n in (t.dim_names + [""] * len(t.dims))[: len(t.dims)])
            if t.kind == 2:
                g += struct.pack("<B", t.storage) + t.reserved7 + struct.pack("<QQ", t.offset, t.size)
        for ids in (self.inputs, self.outputs):
            g += struct.pack("<I", len(ids)) + b"".join(struct.pack("<I", i) for i in ids)
        g += struct.pack("<I", len(self.nodes))
        for n in self.nodes:
            g += _str(n.op) + _str(n.name) + struct.pack("<I", len(n.inputs))
            g += b"".join(struct.pack("<i", i) for i in n.inputs)
            g += struct.pack("<I", len(n.outputs)) + b"".join(struct.pack("<I", o) for o in n.outputs)
            g += struct.pack("<I", len(n.attrs))
            for a in n.attrs:
                g += _str(a.name) + struct.pack("<B", a.type)
                if a.type == 1:
                    g += struct.pack("<q", a.value)
                elif a.type == 2:
                    g += struct.pack("<f", a.value)
                elif a.type == 3:
                    g += _str(str(a.value))
                elif a.type == 4:
                    g += struct.pack("<I", len(a.value)) + b"".join(struct.pack("<q", v) for v in a.value)  # type: ignore[arg-type]
                else:
                    g += struct.pack("<I", len(a.value)) + b"".join(struct.pack("<f", v) for v in a.value)  # type: ignore[arg-type]
        g += struct.pack("<I", len(self.meta)) + b"".join(_str(k) + _str(v) for k, v in self.meta)
        g += self.trailing
        woff = (64 + len(g) + 63) // 64 * 64
        header = b"SLIMLAB\0" + struct.pack("<HHIQQQQQII", self.major, self.minor, self.flags, woff + len(self.weights),
                                             64, len(g), woff, len(self.weights), zlib.crc32(bytes(g)),
                                             zlib.crc32(self.weights))
        return header + bytes(g) + b"\0" * (woff - 64 - len(g)) + self.weights


def _str(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("<I", len(raw)) + raw


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        out = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return out

    def str(self) -> str:
        (n,) = self.take("I")
        raw = self.data[self.pos:self.pos + n]
        self.pos += n
        return raw.decode("utf-8", "surrogateescape")


def parse(data: bytes) -> SlmFile:
    if data[:8] != b"SLIMLAB\0":
        raise ValueError("not an engine file")
    major, minor, flags, _size, goff, gsize, woff, wsize = struct.unpack_from("<HHIQQQQQ", data, 8)
    f = SlmFile(major=major, minor=minor, flags=flags, weights=data[woff:woff + wsize])
    r = _Reader(data[goff:goff + gsize])
    for _ in range(r.take("I")[0]):
        name = r.str()
        dtype, kind, reserved, rank = r.take("BBHI")
        dims = list(r.take(f"{rank}q"))
        t = Tensor(name, dtype, kind, dims, [r.str() for _ in range(rank)], reserved)
        if kind == 2:
            (t.storage,) = r.take("B")
            t.reserved7 = bytes(r.take("7B"))
            t.offset, t.size = r.take("QQ")
        f.tensors.append(t)
    f.inputs = list(r.take(f"{r.take('I')[0]}I"))
    f.outputs = list(r.take(f"{r.take('I')[0]}I"))
    for _ in range(r.take("I")[0]):
        op, name = r.str(), r.str()
        inputs = list(r.take(f"{r.take('I')[0]}i"))
        outputs = list(r.take(f"{r.take('I')[0]}I"))
        attrs = []
        for _ in range(r.take("I")[0]):
            aname = r.str()
            (atype,) = r.take("B")
            value: int | float | str | list[int] | list[float]
            if atype == 1:
                (value,) = r.take("q")
            elif atype == 2:
                (value,) = r.take("f")
            elif atype == 3:
                value = r.str()
            elif atype == 4:
                value = list(r.take(f"{r.take('I')[0]}q"))
            else:
                value = list(r.take(f"{r.take('I')[0]}f"))
            attrs.append(Attr(aname, atype, value))
        f.nodes.append(Node(op, name, inputs, outputs, attrs))
    f.meta = [(r.str(), r.str()) for _ in range(r.take("I")[0])]
    f.trailing = r.data[r.pos:]
    return f
