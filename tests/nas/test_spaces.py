"""Spaces: sampled archs are plain data that build ordinary networks, validation names the offending field."""

from __future__ import annotations

import itertools
import json
import random

import pytest
import torch

from configs.registry import UnknownNameError
from nas import Arch, ArchError, build_model, make_space
from nas.arch import ARCH_FORMAT
from nas.spaces import SPACES
from tests.nas.conftest import TINY, tiny_space


def _distinct_archs(space):
    dims = space.dimensions()
    return {space.arch(dict(zip(dims, values))) for values in itertools.product(*dims.values())}


@pytest.mark.parametrize("name", ["mbconv", "shufflenet"])
def test_size_counts_distinct_networks(name):
    # brute force over every gene assignment; inactive genes must not multiply the count
    small = dict(TINY[name])
    if name == "shufflenet":
        small.update(stage_layers=[1, 1], blocks=["shuffle3", "xception"])
    else:
        small.update(stage_channels=[16], stage_strides=[2], stage_hswish=[True], kernels=[3, 5], expands=[2],
                     widths=[1.0], resolutions=[16])
    space = make_space(name, **small)
    assert len(_distinct_archs(space)) == space.size()


@pytest.mark.parametrize("name", sorted(TINY))
def test_sampled_arch_is_hashable_json_and_builds(name, tmp_path):
    space = tiny_space(name)
    arch = space.sample(random.Random(3))
    again = Arch.from_json(arch.to_json())
    assert again == arch and hash(again) == hash(arch) and again.digest == arch.digest
    assert json.loads(arch.to_json())["format"] == ARCH_FORMAT
    model = space.build(arch, num_classes=7, in_chans=1).eval()
    x = torch.randn(2, *space.input_shape(arch, 1)[1:])
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 7)
    # save, then reload from the arch JSON alone: the same network, the same outputs
    torch.save(model.state_dict(), tmp_path / "w.pt")
    rebuilt = build_model(json.loads(model.arch_json), num_classes=7, in_chans=1).eval()
    rebuilt.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))
    with torch.no_grad():
        assert torch.equal(rebuilt(x), y)


@pytest.mark.parametrize("name", sorted(TINY))
def test_smallest_is_cheaper_than_largest(name):
    space = tiny_space(name)
    def params(a):
        return sum(p.numel() for p in space.build(a, 10, 1).parameters())
    assert params(space.smallest()) < params(space.largest())


def test_depth_controls_which_block_genes_exist():
    space = tiny_space("mbconv")
    arch = space.arch({**space.params(space.largest()), "s0.depth": 1})
    assert "s0.b1.kernel" not in arch.gene_dict and "s1.b1.kernel" in arch.gene_dict
    assert len(space.build(arch, 10, 1).stages[0]) == 1


def test_validation_names_the_offending_field():
    space = tiny_space("mbconv")
    good = space.sample(random.Random(0)).to_dict()

    def refused(doc, field):
        with pytest.raises(ArchError) as err:
            build_model(doc, num_classes=10, in_chans=1)
        assert err.value.field == field and field.split(".")[0] in str(err.value)
        return str(err.value)

    with pytest.raises(ArchError) as err:
        tiny_space("shufflenet").validate(Arch.from_dict(good))
    assert err.value.field == "space" and "'mbconv'" in str(err.value)
    refused({**good, "space": "shufflenet"}, "options")
    assert "newer" in refused({**good, "format": ARCH_FORMAT + 1}, "format")
    assert "[3, 5]" in refused({**good, "genes": {**good["genes"], "s0.b0.kernel": 9}}, "s0.b0.kernel")
    genes = dict(good["genes"])
    genes.pop("width")
    refused({**good, "genes": genes}, "width")
    refused({**good, "genes": {**good["genes"], "s9.depth": 2}}, "s9.depth")
    refused({**good, "genes": {**good["genes"], "s0.depth": 1, "s0.b1.kernel": 3, "s0.b1.expand": 2}},
            "s0.b1.kernel")


def test_arch_from_another_space_options_is_refused():
    arch = tiny_space("mbconv").sample(random.Random(0))
    other = make_space("mbconv", **{**TINY["mbconv"], "kernels": [3, 7]})
    with pytest.raises(ArchError, match="kernels"):
        other.validate(arch)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(UnknownNameError) as err:
        make_space("mbconvv")
    assert all(n in str(err.value) for n in SPACES.names())
    with pytest.raises(ValueError, match="did you mean 'kernels'"):
        make_space("mbconv", kernel=[3])
