"""Fuzzes the engine's loader (and session creation) through the binding.

Run as a script (in a subprocess, so that a crash is a test failure rather
than the end of pytest): ``python -m tests.engine.fuzz_driver SECONDS``.
Uses atheris (coverage-guided) when installed, else a seeded mutation loop.
Half the mutants get their CRCs recomputed so mutations reach the parser.
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


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    try:
        import atheris  # noqa: F401
    except ImportError:
        print(f"fuzz_driver: builtin mutator, {run_builtin(seconds)} inputs, no crash")
        return
    run_atheris(seconds)


if __name__ == "__main__":
    main()
