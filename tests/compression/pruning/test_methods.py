"""The compress methods (prune_*, slimming, distill_*) on a tiny data set: each produces a
model that evaluates, and pruned results rebuild from the run directory."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from compression.pruning import overall_sparsity
from configs.schema import ModelConfig
from experiments.compress_methods import COMPRESS_METHODS, CompressContext, validate_compress
from experiments.compress_methods.prune_common import SHAPES_FILE
from experiments.models import build_model
from experiments.runs import RunDir
from experiments.training import evaluate
from tests.training.conftest import train_cfg

SIZE, CLASSES = 16, 4


@dataclass
class Bundle:
    train_loader: DataLoader
    val_loader: DataLoader
    test_loader: DataLoader
    num_classes: int = CLASSES


def _bundle() -> Bundle:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, CLASSES, (48,), generator=g)
    x = torch.randn(CLASSES, 1, SIZE, SIZE, generator=g)[y] + 0.3 * torch.randn(48, 1, SIZE, SIZE, generator=g)
    ds = TensorDataset(x, y)
    return Bundle(DataLoader(ds, batch_size=16), DataLoader(ds, batch_size=24), DataLoader(ds, batch_size=24))


def _context(tmp_path, method: str, options: dict) -> CompressContext:
    model_cfg = OmegaConf.structured(ModelConfig)
    model_cfg.merge_with({"name": "simple_cnn", "num_classes": CLASSES, "input_size": SIZE})
    cfg = OmegaConf.create({"compress": {"method": method, "options": options}, "model": model_cfg,
                            "train": train_cfg(epochs=1, num_threads=1)})
    torch.manual_seed(0)
    fp32 = build_model(cfg.model).eval()
    data = _bundle()
    example = next(iter(data.val_loader))[0][:2]
    return CompressContext(cfg, fp32, None, example, data, RunDir(tmp_path))


def _compress(ctx: CompressContext):
    method = COMPRESS_METHODS.get(ctx.cfg.compress.method)
    model = method.prepare(ctx)
    info = method.run(ctx, model)
    return model.eval(), info


def test_structured_method_prunes_finetunes_reports_and_rebuilds(tmp_path):
    ctx = _context(tmp_path, "prune_structured", {"ratio": 0.5, "finetune_epochs": 1, "measure_latency": False})
    model, info = _compress(ctx)
    assert info["macs_after"] < info["macs_before"] and info["params_after"] < info["params_before"]
    assert (tmp_path / SHAPES_FILE).is_file() and (tmp_path / "pruning_report.md").is_file()
    # rebuild the way experiments.compress.load_compressed does: prepare without data, then load
    rebuilt_ctx = copy.copy(ctx)
    rebuilt_ctx.data = None
    rebuilt = COMPRESS_METHODS.get("prune_structured").prepare(rebuilt_ctx)
    rebuilt.load_state_dict(model.state_dict())
    x = ctx.example_input
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), model(x))


def test_unstructured_method_reaches_sparsity_and_reloads(tmp_path):
    ctx = _context(tmp_path, "prune_unstructured", {"sparsity": 0.6, "finetune_epochs": 2, "rewind": True})
    model, info = _compress(ctx)
    assert info["sparsity"] == pytest.approx(0.6, abs=0.01)
    rebuilt = COMPRESS_METHODS.get("prune_unstructured").prepare(ctx)
    rebuilt.load_state_dict(model.state_dict())
    rebuilt.eval()(ctx.example_input)
    assert overall_sparsity(rebuilt) == pytest.approx(0.6, abs=0.01)


def test_slimming_method(tmp_path):
    ctx = _context(tmp_path, "slimming", {"ratio": 0.5, "sparsity_epochs": 1, "finetune_epochs": 1,
                                          "measure_latency": False, "strength": 1e-3})
    model, info = _compress(ctx)
    assert info["macs_after"] < info["macs_before"]
    assert "sparsity_epochs" in ctx.info
    assert evaluate(model, ctx.data.test_loader)["top1"] >= 0


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("distill_logit", {"teacher": "simple_cnn", "temperature": 2.0, "alpha": 0.5}),
        ("distill_feature", {"teacher": "simple_cnn", "feature_pairs": [["features.2", "features.3"]], "alpha": 0.0}),
        ("distill_dml", {"temperature": 1.0}),
    ],
)
def test_distillation_methods_train_a_student(tmp_path, method, options):
    ctx = _context(tmp_path, method, options)
    model, info = _compress(ctx)
    assert info["distill_epochs"] == 1
    with torch.no_grad():
        assert model(ctx.example_input).shape == (2, CLASSES)
    assert not any(k.startswith("adapters") for k in model.state_dict())


def test_unknown_option_is_named_with_the_valid_ones_before_work(tmp_path):
    ctx = _context(tmp_path, "prune_structured", {"ratoi": 0.5})
    with pytest.raises(ValueError, match=r"compress\.options\.ratoi: .*Did you mean: ratio.*Valid keys: .*round_to"):
        validate_compress(ctx.cfg)
    with pytest.raises(ValueError, match="ratoi"):
        COMPRESS_METHODS.get("prune_structured").prepare(ctx)
    assert not (tmp_path / SHAPES_FILE).exists()


@pytest.mark.parametrize(("method", "option"), [("distill_dml", "teacher"), ("prune_unstructured", "ratio"),
                                                ("distill_logit", "feature_pairs")])
def test_each_method_accepts_only_its_own_options(tmp_path, method, option):
    with pytest.raises(ValueError, match=f"compress.options.{option}: not a setting of compress method '{method}'"):
        validate_compress(_context(tmp_path, method, {option: 1}).cfg)


def test_every_method_registers_a_dataclass_of_options_with_defaults():
    import dataclasses

    for name in COMPRESS_METHODS:
        options = COMPRESS_METHODS.get(name).options
        assert dataclasses.is_dataclass(options), name
        options()  # every setting has a default: a method runs from its YAML file alone


def test_distillation_without_teacher_is_explained(tmp_path):
    ctx = _context(tmp_path, "distill_logit", {})
    model = COMPRESS_METHODS.get("distill_logit").prepare(ctx)
    with pytest.raises(ValueError, match="options.teacher is required"):
        COMPRESS_METHODS.get("distill_logit").run(ctx, model)
