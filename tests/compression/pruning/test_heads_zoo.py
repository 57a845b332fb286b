"""Head pruning on the zoo's attention models (MobileViT, EfficientFormer with its
relative-position bias): heads go, the model still runs, costs less, reloads from
config + a JSON shape spec, exports to ONNX and runs on the engine like PyTorch."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

import engine
from compression.pruning import prune_structured, rebuild
from export import convert_model, to_onnx
from lightweight_models.blocks.attention import MultiHeadSelfAttention
from tests.compression.pruning.helpers import macs, small_input, small_model

# EfficientFormer at half width: the same 8-head attention with its bias table, a quarter of the weights
MODELS = {"mobilevit_xxs": {}, "efficientformer_l1": {"width_mult": 0.5}}


def attentions(model: torch.nn.Module) -> dict[str, MultiHeadSelfAttention]:
    return {n: m for n, m in model.named_modules() if isinstance(m, MultiHeadSelfAttention)}


@pytest.fixture(scope="module", params=sorted(MODELS))
def case(request):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run before the per-test thread fixture
    name = request.param
    model, x = small_model(name, **MODELS[name]), small_input()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = prune_structured(model, x, 0.5)
        channels_only = prune_structured(model, x, 0.5, head_ratio=0.0).model
    torch.set_num_threads(threads)
    return name, model, x, result, channels_only


def test_every_attention_loses_half_its_heads_and_the_attention_costs_fall(case):
    _, model, x, result, channels_only = case
    before, after = attentions(model), attentions(result.model)
    assert before, "the model must have attention"
    for name, attn in before.items():
        pruned = after[name]
        assert pruned.num_heads == attn.num_heads // 2, name
        assert pruned.qkv.out_features < attn.qkv.out_features
        assert pruned.split == [pruned.key_dim * pruned.num_heads] * 2 + [pruned.value_dim * pruned.num_heads]
        if pruned.bias is not None:
            assert pruned.bias.table.shape[0] == pruned.bias.num_heads == pruned.num_heads
    assert set(result.heads_removed) == set(before)
    with torch.no_grad():
        assert result.model(x).shape == model(x).shape
    # the same channel cut without the head cut: the difference is the heads' work
    assert macs(result.model, x) < macs(channels_only, x) < macs(model, x)


def test_pruned_heads_reload_from_config_and_json_shapes_exactly(case):
    name, _, x, result, _ = case
    spec = json.loads(json.dumps(result.pruned_shapes))  # how a run directory stores it
    state = {"model": result.model.state_dict(), "pruned_shapes": spec}
    reloaded = rebuild(lambda: small_model(name, **MODELS[name]), state).eval()
    for attn_name, attn in attentions(result.model).items():
        again = attentions(reloaded)[attn_name]
        assert (again.num_heads, again.split) == (attn.num_heads, attn.split)
        if attn.bias is not None:
            assert again.bias.num_heads == attn.bias.num_heads
    with torch.no_grad():
        assert torch.equal(reloaded(x), result.model(x))


def test_pruned_heads_export_and_run_on_the_engine_like_pytorch(case, tmp_path):
    name, _, x, result, _ = case
    onnx_path = to_onnx(result.model, x, tmp_path / f"{name}.onnx")  # checks itself against onnxruntime
    convert_model(onnx_path, tmp_path / f"{name}.slm")
    session = engine.Session(tmp_path / f"{name}.slm", threads=1)
    (got,) = session.run(None, {session.inputs[0].name: x.numpy()})
    with torch.no_grad():
        expected = result.model(x).numpy()
    assert got.shape == expected.shape
    assert float(np.abs(got - expected).max()) <= 1e-4 * float(np.abs(expected).max())
