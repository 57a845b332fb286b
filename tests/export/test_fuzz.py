"""A bounded structure-aware fuzz run of the converter (the long run: ``python -m tests.export.fuzz_converter``).

Every mutant of two exported zoo models must either convert into a file the engine loads, or be refused
with ModelFormatError naming the file; see tests/export/fuzzing.py for the mutations and the oracle.
"""

from __future__ import annotations

import pytest

from tests.export.fuzzing import Fuzzer, export_seeds, prepare_folder, run_range

MUTANTS = 800  # about 6 s on an idle core; the mutants are the same on every run (base seed 0)


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory) -> Fuzzer:
    paths = export_seeds(tmp_path_factory.mktemp("fuzz-seeds"))
    return Fuzzer([p.read_bytes() for p in paths], base_seed=0)


def test_mutants_convert_or_fail_with_a_named_error(fuzzer, tmp_path):
    import engine

    tally = run_range(fuzzer, range(MUTANTS), prepare_folder(tmp_path), engine.supported_ops())
    report = "\n".join(f"mutant {f.index} {f.steps}: {f.error}\n{f.trace}" for f in tally.findings[:5])
    assert not tally.findings, f"{len(tally.findings)} findings; first ones:\n{report}"
    # the run must exercise both outcomes and a spread of refusals, or it tests little
    assert tally.mutants == MUTANTS and tally.converted >= MUTANTS // 20
    assert len(tally.errors) >= 15, tally.errors
