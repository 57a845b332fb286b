"""ONNX's own backend node test cases through export.convert_model + engine.Session.

The cases are generated locally from the onnx wheel's test-case generators
(``onnx.backend.test.case.node``; nothing is downloaded). A case is a
candidate when every op in it is in ``engine.supported_ops()``. Every case
listed in onnx_backend_passing.txt must keep passing at every ISA; the test
prints how many candidates pass. Regenerate the list with

    .venv/bin/python -m tests.engine.test_onnx_backend --write
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

import engine
import export

PASSING_LIST = Path(__file__).with_name("onnx_backend_passing.txt")
RTOL, ATOL = 1e-4, 1e-5  # what ONNX's runner uses for these cases' float outputs at most


@lru_cache(maxsize=1)
def node_cases() -> dict[str, object]:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return {c.name: c for c in collect_testcases(None) if c.kind == "node"}


def candidates() -> list[str]:
    # Constant nodes never reach the engine: the converter turns them into initializers.
    ops = set(engine.supported_ops()) | {"Constant"}
    return sorted(n for n, c in node_cases().items() if all(nd.op_type in ops for nd in c.model.graph.node))


def run_case(name: str, tmp: Path) -> str | None:
    """None when the case passes at every ISA, else why not."""
    case = node_cases()[name]
    inputs, outputs = case.data_sets[0]
    model = case.model
    init_names = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in init_names]
    path = tmp / f"{name}.slm"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export.convert_model(model, path, optimize=False)
    except Exception as exc:  # the converter's own errors say why; all mean "not supported"
        return f"convert: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    feeds = {n: np.asarray(v) for n, v in zip(names, inputs)}
    for isa in engine.available_isas():
        try:
            got = engine.Session(path, threads=2, isa=isa).run(None, feeds)
        except engine.EngineError as exc:
            return f"engine ({isa}): {str(exc)[:200]}"
        if len(got) != len(outputs):
            return f"{isa}: {len(got)} outputs, expected {len(outputs)}"
        for g, e in zip(got, outputs):
            e = np.asarray(e)
            if g.shape != e.shape or g.dtype != e.dtype:
                return f"{isa}: got {g.dtype}{list(g.shape)}, expected {e.dtype}{list(e.shape)}"
            if e.dtype.kind == "f":
                if not np.allclose(g, e, rtol=RTOL, atol=ATOL, equal_nan=True):
                    return f"{isa}: max abs diff {np.nanmax(np.abs(g - e))}"
            elif not np.array_equal(g, e):
                return f"{isa}: values differ"
    return None


def listed() -> list[str]:
    return [ln.strip() for ln in PASSING_LIST.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def test_listed_backend_cases_pass(tmp_path):
    names = listed()
    assert len(names) > 100, "the committed list is unexpectedly short"
    failures = {}
    for name in names:
        assert name in node_cases(), f"listed case {name} no longer exists in the onnx package"
        why = run_case(name, tmp_path)
        if why is not None:
            failures[name] = why
    assert failures == {}


def test_candidate_pass_rate_is_reported(tmp_path):
    cands = candidates()
    listed_set = set(listed())
    unlisted = [n for n in cands if n not in listed_set]
    passing_unlisted = [n for n in unlisted if run_case(n, tmp_path) is None]
    passed = len(listed_set & set(cands)) + len(passing_unlisted)
    print(f"\nONNX backend node cases: {passed}/{len(cands)} candidates pass "
          f"({len(passing_unlisted)} passing but not yet listed)")
    assert set(listed()) <= set(cands), "a listed case uses an op the engine no longer declares"


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as d:
        results = {n: run_case(n, Path(d)) for n in candidates()}
    passing = sorted(n for n, why in results.items() if why is None)
    if "--write" in argv:
        PASSING_LIST.write_text("# ONNX backend node cases the engine passes (tests/engine/test_onnx_backend.py)\n"
                                + "\n".join(passing) + "\n")
    if "--why" in argv:
        for n, why in sorted(results.items()):
            if why is not None:
                print(f"{n}: {why}")
    print(f"{len(passing)}/{len(results)} candidate cases pass")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
