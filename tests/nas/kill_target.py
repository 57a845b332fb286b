"""A search that a test kills with SIGKILL mid-trial (run as a script: ``python kill_target.py <dir> <n>``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from nas import SearchSettings, open_storage, run_search  # noqa: E402
from nas.spaces import make_space  # noqa: E402

SPACE = dict(stage_channels=[32, 64], stage_layers=[2, 2], scales=[0.5, 1.0], resolutions=[16])


def evaluate(arch, ctx):
    # long enough that the kill lands inside a trial
    (ctx.directory / "started").write_text("")
    time.sleep(0.4)
    return {"val_top1": float(sum(v == "xception" for _, v in arch.genes)),
            "latency_ms": 1.0 + sum(float(v) for k, v in arch.genes if k.endswith(".scale"))}


def main(run_dir: str, n_trials: int) -> None:
    storage = open_storage(None, run_dir, heartbeat_s=1, grace_s=2, max_retry=2)
    settings = SearchSettings(objectives=["accuracy", "latency"], strategy="evolution",
                              strategy_options={"population": 4}, n_trials=n_trials, gc_after_trial=False)
    run_search(make_space("shufflenet", **SPACE), evaluate, settings, storage, run_dir)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
