from __future__ import annotations

import math

import pytest
import torch

from experiments.runs import CheckpointError, RunDir
from experiments.training import NonFiniteLossError, evaluate, fit
from experiments.training.optim import param_groups
from experiments.training.schedule import build_scheduler
from tests.training.conftest import make_bundle, tiny_model, train_cfg


def test_tiny_run_learns(bundle, tmp_path):
    model = tiny_model()
    before = evaluate(model, bundle.val_loader)
    state = fit(model, bundle, train_cfg(epochs=4, optimizer={"lr": 0.1}), tmp_path)
    history = RunDir(tmp_path).read_history()
    assert [r["epoch"] for r in history] == [0, 1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    after = evaluate(model, bundle.val_loader)
    assert after["top1"] > 60.0  # four classes: chance is 25%
    assert after["top1"] > before["top1"] + 20
    assert state["best_val_top1"] == max(r["val_top1"] for r in history)
    assert (tmp_path / "checkpoints" / "last.pt").is_file()
    assert (tmp_path / "checkpoints" / "best.pt").is_file()


class _Interrupt:
    def on_epoch_end(self, epoch, model, metrics):
        if epoch == 0:
            raise KeyboardInterrupt


@pytest.mark.parametrize("ema", [False, True])
def test_resume_equals_uninterrupted(tmp_path, ema):
    cfg = dict(epochs=2, optimizer={"lr": 0.05}, ema={"enabled": ema, "decay": 0.9}, schedule={"warmup_epochs": 0.5})
    full = tiny_model()
    fit(full, make_bundle(), train_cfg(**cfg), tmp_path / "full")

    interrupted = tiny_model()
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, make_bundle(), train_cfg(**cfg), tmp_path / "resumed", callbacks=[_Interrupt()])
    resumed = tiny_model(seed=123)  # fresh process: weights come from the checkpoint only
    state = fit(resumed, make_bundle(), train_cfg(resume=True, **cfg), tmp_path / "resumed")
    assert state["resumed_from_epoch"] == 1
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    assert len(RunDir(tmp_path / "resumed").read_history()) == 2
    if ema:
        a = RunDir(tmp_path / "full").load_checkpoint()["ema"]
        b = RunDir(tmp_path / "resumed").load_checkpoint()["ema"]
        assert all(torch.equal(a[k], b[k]) for k in a)


class _Poison:
    """Makes the loss NaN from the second epoch on."""

    def on_epoch_start(self, epoch, model):
        if epoch == 1:
            with torch.no_grad():
                model[-1].weight.fill_(float("nan"))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(bundle, tmp_path):
    model = tiny_model()
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 0 \(global step \d+\).*last good checkpoint"):
        fit(model, bundle, train_cfg(epochs=3), tmp_path, callbacks=[_Poison()])
    state = RunDir(tmp_path).load_checkpoint("last")
    assert state["epoch"] == 0
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())


def test_checkpoint_write_survives_crash_mid_write(tmp_path, monkeypatch):
    run = RunDir(tmp_path)
    run.save_checkpoint({"model": {"w": torch.ones(3)}, "epoch": 0})
    real_save = torch.save

    def crashing_save(obj, f, *a, **k):
        f.write(b"partial garbage")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="simulated"):
        run.save_checkpoint({"model": {"w": torch.zeros(3)}, "epoch": 1})
    monkeypatch.setattr(torch, "save", real_save)
    state = run.load_checkpoint()
    assert state["epoch"] == 0 and torch.equal(state["model"]["w"], torch.ones(3))
    assert [p.name for p in run.checkpoint_dir.iterdir()] == ["last.pt"]  # no temp file left behind


def test_corrupt_checkpoint_is_named(tmp_path):
    run = RunDir(tmp_path)
    run.checkpoint_dir.mkdir(parents=True)
    run.checkpoint_path().write_bytes(b"\x00not a checkpoint")
    with pytest.raises(CheckpointError, match="last.pt is corrupt"):
        run.load_checkpoint()


def test_no_weight_decay_on_norm_and_bias():
    model = tiny_model()
    decay, no_decay = param_groups(model, 1e-4)
    assert decay["weight_decay"] == 1e-4 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"])
    assert {id(p) for p in no_decay["params"]} == {id(p) for p in model.parameters() if p.ndim == 1}


def test_warmup_then_cosine():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    cfg = train_cfg(schedule={"warmup_epochs": 1.0, "warmup_start_factor": 0.0}).schedule
    sched = build_scheduler(opt, cfg, steps_per_epoch=10, epochs=3)
    lrs = []
    for _ in range(30):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == 0.0 and lrs[5] == pytest.approx(0.5)
    assert lrs[10] == pytest.approx(1.0)
    assert lrs[20] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_evaluate_top5_only_with_five_classes(bundle):
    out = evaluate(tiny_model(), bundle.test_loader)
    assert "top5" not in out and out["samples"] == 256 and out["throughput"] > 0
    wide = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    out = evaluate(wide, bundle.test_loader)
    assert 0 <= out["top1"] <= out["top5"] <= 100


class _Order:
    def __init__(self):
        self.events = []

    def on_epoch_start(self, epoch, model):
        self.events.append(("start", epoch))

    def on_validation_start(self, epoch, model):
        # the hook may change what validation sees (BN recalibration): it must run before evaluate
        self.events.append(("validation", epoch, model.training))

    def on_epoch_end(self, epoch, model, metrics):
        self.events.append(("end", epoch))


def test_validation_hook_runs_between_training_and_validation(bundle, tmp_path):
    order = _Order()
    fit(tiny_model(), bundle, train_cfg(epochs=2), tmp_path, callbacks=[order])
    assert order.events == [("start", 0), ("validation", 0, True), ("end", 0),
                            ("start", 1), ("validation", 1, True), ("end", 1)]


def test_channels_last_trains_the_same_network(bundle, tmp_path):
    cfg = dict(epochs=2, optimizer={"lr": 0.1})
    nchw, nhwc = tiny_model(), tiny_model()
    fit(nchw, bundle, train_cfg(**cfg), tmp_path / "nchw")
    state = fit(nhwc, bundle, train_cfg(channels_last=True, **cfg), tmp_path / "nhwc")
    assert nhwc[0].weight.stride() == (9, 1, 3, 1) and nchw[0].weight.stride() == (9, 9, 3, 1)  # (8, 1, 3, 3)
    # the same arithmetic in another order: equal to float rounding, and a checkpoint that loads anywhere
    for (k, a), b in zip(nchw.state_dict().items(), nhwc.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-3, atol=1e-4), k
    reloaded = tiny_model(seed=5)
    reloaded.load_state_dict(RunDir(tmp_path / "nhwc").load_checkpoint("last")["model"])
    assert evaluate(reloaded, bundle.val_loader)["top1"] == pytest.approx(state["history"][-1]["val_top1"])
