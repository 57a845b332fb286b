"""Fuzzes the engine's loader (and session creation) through the binding.

Run as a script (in a subprocess, so that a crash is a test failure rather
than the end of pytest): ``python -m tests.engine.fuzz_driver SECONDS``.
Uses atheris (coverage-guided) when installed, else a seeded mutation loop.
Half the mutants get their CRCs recomputed so mutations reach the parser.

``python -m tests.engine.fuzz_driver SECONDS --structured`` rewrites graph
fields of the committed real-model seeds instead (engine/tests/fuzz/seeds, with
valid CRCs, like the C++ fuzz_model) and also plans and runs each mutant that
loads: every failure must be an EngineError without "internal error". The long
structure-aware campaign is C++ (tests/engine/fuzz/campaign.py); this one checks
the binding's side of the same errors.
"""

from __future__ import annotations

import contextlib
import random
import struct
import sys
import tempfile
import time
import zlib

import engine
from tests.engine.models import ConvReluAdd


def fix_crcs(raw: bytearray) -> bytes:
    if len(raw) >= 64:
        gsize, woff, wsize = struct.unpack_from("<QQQ", raw, 32)
        if 64 + gsize <= len(raw):
            struct.pack_into("<I", raw, 56, zlib.crc32(bytes(raw[64:64 + gsize])))
        if woff <= len(raw) and woff + wsize <= len(raw):
            struct.pack_into("<I", raw, 60, zlib.crc32(bytes(raw[woff:woff + wsize])))
    return bytes(raw)


def load_once(data: bytes) -> None:
    # Malformed input must fail exactly like this; anything else propagates.
    with contextlib.suppress(engine.EngineError):
        engine.Session(data)


def mutate(seed: bytes, rng: random.Random) -> bytes:
    raw = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        if not raw:
            break
        at = rng.randrange(len(raw))
        op = rng.randrange(4)
        if op == 0:
            raw[at] ^= 1 << rng.randrange(8)
        elif op == 1:
            raw[at] = rng.randrange(256)
        elif op == 2:
            del raw[at:]
        else:
            raw[at:at + 4] = b"\xff\xff\xff\xff"
    return fix_crcs(raw) if rng.random() < 0.5 else bytes(raw)


def run_builtin(seconds: float) -> int:
    seed = ConvReluAdd().data
    rng = random.Random(0)
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        load_once(mutate(seed, rng))
        count += 1
    return count


def run_atheris(seconds: float) -> None:
    import atheris

    seed = ConvReluAdd().data

    def one_input(data: bytes) -> None:
        # The first byte picks between raw bytes and a CRC-fixed mutant of the seed.
        if data and data[0] & 1:
            raw = bytearray(seed)
            for i in range(1, len(data) - 2, 3):
                raw[(data[i] << 8 | data[i + 1]) % len(raw)] = data[i + 2]
            load_once(fix_crcs(raw))
        else:
            load_once(data)

    # Crash artifacts go to a temporary folder, never into the checkout.
    prefix = tempfile.mkdtemp(prefix="slimlab-fuzz-") + "/"
    atheris.Setup([sys.argv[0], f"-max_total_time={int(seconds)}", "-seed=1", "-rss_limit_mb=2048",
                   f"-artifact_prefix={prefix}"], one_input)
    atheris.Fuzz()


INTERESTING = [0, 1, -1, 2, 3, 65535, 2**31, 2**31 - 1, 2**32, 2**40, 2**62, 2**63 - 1, -(2**63)]


def mutate_fields(data: bytes, rng: random.Random) -> bytes:
    """One to three graph fields of an engine file rewritten (tests/engine/fuzz/slm_edit.py)."""
    from tests.engine.fuzz import slm_edit

    f = slm_edit.parse(data)
    dims = [d for t in f.tensors for d in t.dims if d > 0]

    def value() -> int:
        d = rng.choice(dims) if dims else 1
        return rng.choice([rng.choice(INTERESTING), d, d * 2, d + 1, d - 1, d // 2])

    for _ in range(rng.randint(1, 3)):
        what = rng.randrange(5)
        node = rng.choice(f.nodes)
        if what == 0 and node.attrs:  # an attribute value
            a = rng.choice(node.attrs)
            if a.type == 1:
                a.value = value()
            elif a.type == 4 and a.value:
                a.value[rng.randrange(len(a.value))] = value()  # type: ignore[index]
            elif a.type == 2:
                a.value = rng.choice([0.0, -1.0, float("nan"), float("inf"), 1e38])
        elif what == 1:  # an input index, keeping the order valid most of the time
            if node.inputs:
                node.inputs[rng.randrange(len(node.inputs))] = rng.randrange(-1, len(f.tensors))
        elif what == 2:  # a dim
            t = rng.choice(f.tensors)
            if t.dims:
                t.dims[rng.randrange(len(t.dims))] = value()
        elif what == 3:  # an int64 constant's value (shapes, axes, pads ...)
            ints = [t for t in f.tensors if t.kind == 2 and t.dtype == 7 and t.size >= 8]
            if ints:
                t = rng.choice(ints)
                w = bytearray(f.weights)
                struct.pack_into("<q", w, t.offset + 8 * rng.randrange(t.size // 8), value())
                f.weights = bytes(w)
        else:  # an op type
            node.op = rng.choice(sorted(engine.supported_ops()))
    return f.to_bytes()


def run_once(data: bytes) -> None:
    """Load, plan and run; only a clean EngineError may end it."""
    import numpy as np

    try:
        s = engine.Session(data)
        feeds = {i.name: np.ones([1 if isinstance(d, str) else d for d in i.shape], np.dtype(i.dtype))
                 for i in s.inputs if i.dtype in ("float32", "int64", "int32", "bool", "uint8", "int8")}
        if sum(a.size for a in feeds.values()) <= 1 << 22:
            s.run(None, feeds)
    except engine.EngineError as exc:
        if "internal error" in str(exc):
            raise


def run_structured(seconds: float) -> int:
    from pathlib import Path

    seeds = [p.read_bytes() for p in sorted((Path(__file__).resolve().parents[2] / "engine" / "tests" / "fuzz" /
                                             "seeds").glob("*.slm"))]
    rng = random.Random(0)
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        run_once(mutate_fields(rng.choice(seeds), rng))
        count += 1
    return count


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    if "--structured" in sys.argv:
        print(f"fuzz_driver: structure-aware, {run_structured(seconds)} mutants, no crash")
        return
    try:
        import atheris  # noqa: F401
    except ImportError:
        print(f"fuzz_driver: builtin mutator, {run_builtin(seconds)} inputs, no crash")
        return
    run_atheris(seconds)


if __name__ == "__main__":
    main()
