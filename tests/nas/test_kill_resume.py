"""kill -9 in the middle of a trial, then resume: the same study, at most the trial in flight lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from tests.nas import kill_target


def test_sigkilled_search_resumes_the_same_study(tmp_path):
    proc = subprocess.Popen([sys.executable, str(Path(kill_target.__file__)), str(tmp_path), "6"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    try:
        # wait until the third candidate is being evaluated, then kill without warning
        while not (tmp_path / "trials" / "0002" / "started").is_file():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.time() < deadline, "the search did not reach its third candidate"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    before = optuna.load_study(study_name="search", storage=storage)
    assert [t.state for t in before.trials].count(TrialState.RUNNING) == 1
    done_before = sum(t.state == TrialState.COMPLETE for t in before.trials)
    assert done_before == 2

    time.sleep(3.0)  # past the grace period: the dead trial's heartbeat is stale
    kill_target.main(str(tmp_path), 6)

    after = optuna.load_study(study_name="search", storage=storage)
    states = [t.state for t in after.trials]
    assert states.count(TrialState.COMPLETE) == 6 and states.count(TrialState.FAIL) == 1
    assert TrialState.RUNNING not in states
    failed = next(t for t in after.trials if t.state == TrialState.FAIL)
    retried = [t for t in after.trials if t.system_attrs.get("failed_trial") == failed.number]
    # the killed candidate's network was re-enqueued and evaluated, not skipped
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE
    assert retried[0].params == failed.params
    assert after._study_id == before._study_id
