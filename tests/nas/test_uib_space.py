"""The MobileNetV4 UIB space: valid samples, networks of UIB blocks, arch JSON and timm block-string round trips,
validation naming the field, and one tiny candidate through ONNX to the engine."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
import torch

from lightweight_models.blocks import UniversalInvertedBottleneck
from nas import Arch, ArchError, build_model, make_space
from nas.spaces.uib import FFN, kernels_of

TINY = dict(stage_channels=[16, 24], stage_strides=[2, 2], depths=[1, 2], kernels=[3, 5], expands=[2, 4],
            widths=[0.5, 1.0], resolutions=[28], stem_channels=8, head_channels=32, head_hidden=32, small_input=True)


def tiny(**over):
    return make_space("uib", **{**TINY, **over})


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def every_variant():
    """Stage 0 (stride 1 under small_input): FFN then IB; stage 1 (stride 2): ConvNeXt-like then ExtraDW."""
    return tiny().arch({"resolution": 28, "width": 1.0, "s0.depth": 2, "s0.b0.dw": FFN, "s0.b0.expand": 2,
                        "s0.b1.dw": "a0_k5", "s0.b1.expand": 4, "s1.depth": 2, "s1.b0.dw": "a3_k0",
                        "s1.b0.expand": 4, "s1.b1.dw": "a5_k3", "s1.b1.expand": 2})


def test_samples_are_valid_and_no_ffn_downsamples():
    space, rng = tiny(small_input=False), random.Random(0)
    archs = [space.sample(rng) for _ in range(200)]
    assert all(space.validate(a) == a for a in archs)
    # with small_input off both stages start with stride 2: an FFN cannot be there, but is sampled elsewhere
    assert not any(a[f"s{s}.b0.dw"] == FFN for a in archs for s in (0, 1))
    assert any(a.get("s0.b1.dw") == FFN for a in archs)
    assert FFN in tiny().dimensions()["s0.b0.dw"]  # small_input keeps stage 0 at stride 1


def test_variant_choices_cover_the_four_instantiations_cheapest_first():
    choices = tiny().dimensions()["s1.b1.dw"]
    pairs = [kernels_of(v) for v in choices]
    assert set(pairs) == {(0, 0), (3, 0), (5, 0), (0, 3), (0, 5), (3, 3), (3, 5), (5, 3), (5, 5)}
    assert pairs[0] == (0, 0) and pairs[-1] == (5, 5)
    space = make_space("uib", **{**TINY, "widths": [1.0]})
    costs = [n_params(space.build(space.arch({**space.params(space.smallest()), "s1.b0.dw": v}), 10, 1))
             for v in space.dimensions()["s1.b0.dw"]]
    assert costs[0] == min(costs) and costs[-1] == max(costs)


def test_builds_uib_blocks_and_runs_small_and_rgb_inputs():
    arch = every_variant()
    model = tiny().build(arch, num_classes=10, in_chans=1).eval()
    blocks = [m for m in model.modules() if isinstance(m, UniversalInvertedBottleneck)]
    assert [(isinstance(b.dw_start, torch.nn.Identity), isinstance(b.dw_mid, torch.nn.Identity), b.stride)
            for b in blocks] == [(True, True, 1), (True, False, 1), (False, True, 2), (False, False, 1)]
    with torch.no_grad():
        assert model(torch.randn(1, 1, 28, 28)).shape == (1, 10)

    space = tiny(small_input=False, resolutions=[32])
    rgb = space.build(space.sample(random.Random(1)), num_classes=5, in_chans=3).eval()
    x = torch.randn(2, *space.input_shape(rgb.arch, 3)[1:])
    with torch.no_grad():
        assert rgb(x).shape == (2, 5)
        assert rgb.forward_features(x).shape[-1] == 32 // rgb.total_stride == 4


def test_arch_json_round_trip_rebuilds_the_same_network(tmp_path):
    space = tiny()
    for seed in range(5):
        arch = space.sample(random.Random(seed))
        path = tmp_path / f"{seed}.json"
        path.write_text(arch.to_json())
        again = Arch.load(path)
        assert again == arch and again.digest == arch.digest
        a, b = space.build(arch, 10, 1), build_model(again.to_json(), num_classes=10, in_chans=1)
        assert n_params(a) == n_params(b) and str(a) == str(b)
        b.load_state_dict(a.state_dict())


@pytest.mark.parametrize("strides, small_input", [([2, 1], False), ([2, 2], True)])
def test_size_counts_distinct_networks(strides, small_input):
    space = make_space("uib", **{**TINY, "stage_strides": strides, "small_input": small_input,
                                 "variants": ["ffn", "ib", "extradw"], "kernels": [3]})
    dims = space.dimensions()
    distinct = {space.arch(dict(zip(dims, values))) for values in itertools.product(*dims.values())}
    assert len(distinct) == space.size()
    assert make_space("uib").size() == (24 * (27 ** 4 - 1) // 26) ** 4  # 8 variants x 3 expands on b0, 9 x 3 after


def refused(doc, field):
    with pytest.raises(ArchError) as err:
        build_model(doc, num_classes=10, in_chans=1)
    assert err.value.field == field and field in str(err.value)
    return str(err.value)


def test_validation_names_the_offending_field():
    good = tiny(small_input=False).sample(random.Random(0)).to_dict()
    genes = good["genes"]
    assert "a3_k5" in refused({**good, "genes": {**genes, "s1.b0.dw": "a7_k3"}}, "s1.b0.dw")
    assert "stride-2" in refused({**good, "genes": {**genes, "s0.b0.dw": FFN}}, "s0.b0.dw")
    assert "did you mean 's0.b0.dw'" in refused({**good, "genes": {**genes, "s0.b0.dwk": "a3_k3"}}, "s0.b0.dwk")
    refused({**good, "genes": {**genes, "s1.b0.expand": 3}}, "s1.b0.expand")


def test_block_strings_render_timm_notation_and_parse_back():
    space = tiny()
    arch = every_variant()
    assert space.block_strings(arch) == [["uir_r1_a0_k0_s1_e2_c16", "uir_r1_a0_k5_s1_e4_c16"],
                                         ["uir_r1_a3_k0_s2_e4_c24", "uir_r1_a5_k3_s1_e2_c24"]]
    same = space.arch({**arch.gene_dict, "s1.b1.dw": "a3_k0", "s1.b1.expand": 4})
    assert space.block_strings(same)[1] == ["uir_r2_a3_k0_s2_e4_c24"]  # a timm repeat strides its first block only
    for a in [arch, same, *(space.sample(random.Random(s)) for s in range(20))]:
        assert space.arch_from_block_strings(space.block_strings(a), width=float(a["width"])) == a
    one_width = tiny(widths=[0.5])
    a = one_width.sample(random.Random(2))
    assert one_width.arch_from_block_strings(one_width.block_strings(a)) == a


@pytest.mark.parametrize("text, field, says", [
    ("uir_r1_a3_k5_s1_e4", "block_strings[0][0]", "missing c<channels>"),
    ("ir_r1_k3_s1_e4_c16", "block_strings[0][0]", "'ir' is not 'uir'"),
    ("uir_r1_a3_k5_s1_e4_c16_se0.25", "block_strings[0][0]", "'se0.25' is not one of"),
    ("uir_r0_a3_k5_s1_e4_c16", "block_strings[0][0]", "r must be a positive integer"),
    ("uir_r1_a3_k5_s2_e4_c16", "block_strings[0][0]", "s1 in this space"),
    ("uir_r1_a3_k7_s1_e4_c16", "s0.b0.dw", "'a3_k7' is not one of"),
    ("uir_r3_a3_k5_s1_e4_c16", "s0.depth", "3 is not one of"),
])
def test_malformed_block_strings_are_named(text, field, says):
    with pytest.raises(ArchError) as err:
        tiny().arch_from_block_strings([[text], ["uir_r1_a3_k3_s2_e2_c24"]], width=1.0)
    assert err.value.field == field and says in str(err.value)


def test_block_strings_need_the_width_when_the_space_searches_it():
    with pytest.raises(ArchError) as err:
        tiny().arch_from_block_strings([["uir_r1_a3_k3_s1_e2_c16"], ["uir_r1_a3_k3_s2_e2_c24"]])
    assert err.value.field == "width" and "[0.5, 1.0]" in str(err.value)


def test_exports_to_onnx_and_runs_on_the_engine(tmp_path):
    engine = pytest.importorskip("engine")
    from measure import export_model

    model = tiny().build(every_variant(), num_classes=10, in_chans=1).eval()
    x = torch.randn(1, 1, 28, 28)
    with torch.no_grad():
        want = model(x).numpy()
    exported = export_model(model, x, tmp_path, "uib")
    assert exported.onnx.is_file() and exported.slm.stat().st_size > 0
    sess = engine.Session(str(exported.slm))
    (got,) = sess.run(None, {sess.inputs[0].name: x.numpy()})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
