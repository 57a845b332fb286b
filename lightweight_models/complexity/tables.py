"""Per-layer and per-block tables built from one recorded forward pass."""

from __future__ import annotations

from torch import nn

from lightweight_models.complexity.report import BlockRow, LayerRow

ROOT_NAME = "(model)"
# containers whose children are the architecture's blocks/stages: the default
# block table expands them one level, everything else stays at the top level
EXPANDED_CONTAINERS = ("stages", "features", "blocks", "layers")


def _join(parent: str, child: str) -> str:
    return f"{parent}.{child}" if parent else child


def layer_rows(
    model: nn.Module,
    macs_by_module: dict[str, int],
    output_shapes: dict[str, tuple[int, ...]],
    access_cost: dict[str, int],
) -> list[LayerRow]:
    """One row per leaf module that ran or holds parameters, plus an ``(own)`` row
    for every container with parameters or MACs of its own (e.g. a layer-scale
    parameter, or a matmul written in its ``forward``), so the rows add up to the totals."""
    rows: list[LayerRow] = []
    seen_params: set[int] = set()
    for fqn, module in model.named_modules():
        own = [p for p in module.parameters(recurse=False) if id(p) not in seen_params]
        seen_params.update(id(p) for p in own)
        params = sum(p.numel() for p in own)
        children = [_join(fqn, name) for name, _ in module.named_children()]
        if not children:
            if params == 0 and fqn not in output_shapes:
                continue  # never ran and holds nothing
            rows.append(
                LayerRow(
                    name=fqn or ROOT_NAME,
                    type=type(module).__name__,
                    output_shape=output_shapes.get(fqn),
                    params=params,
                    macs=macs_by_module.get(fqn, 0),
                    memory_access_cost=access_cost.get(fqn),
                )
            )
            continue
        own_macs = macs_by_module.get(fqn, 0) - sum(macs_by_module.get(c, 0) for c in children)
        if params or own_macs > 0:
            rows.append(
                LayerRow(
                    name=fqn or ROOT_NAME,
                    type=f"{type(module).__name__} (own)",
                    output_shape=output_shapes.get(fqn),
                    params=params,
                    macs=max(own_macs, 0),
                    memory_access_cost=None,
                )
            )
    return rows


def block_name(layer_name: str, model: nn.Module, depth: int | None) -> str:
    """The block a layer belongs to: its name cut to ``depth`` parts, or by default
    the children of ``stages``/``features`` (and the other top-level modules)."""
    if layer_name == ROOT_NAME:
        return ROOT_NAME
    parts = layer_name.split(".")
    if depth is None:
        depth = 2 if parts[0] in EXPANDED_CONTAINERS and hasattr(model, parts[0]) else 1
    return ".".join(parts[:depth])


def block_rows(
    model: nn.Module,
    layers: list[LayerRow],
    output_shapes: dict[str, tuple[int, ...]],
    depth: int | None = None,
) -> list[BlockRow]:
    """Layer rows summed per block, in the order the blocks first appear."""
    if depth is not None and depth < 1:
        raise ValueError(f"block depth must be >= 1, got {depth}")
    blocks: dict[str, BlockRow] = {}
    for row in layers:
        key = block_name(row.name, model, depth)
        block = blocks.get(key)
        if block is None:
            module = model if key == ROOT_NAME else model.get_submodule(key)
            block = blocks[key] = BlockRow(
                name=key,
                type=type(module).__name__,
                output_shape=output_shapes.get("" if key == ROOT_NAME else key),
                layers=0,
                params=0,
                macs=0,
                memory_access_cost=0,
            )
        block.layers += 1
        block.params += row.params
        block.macs += row.macs
        block.memory_access_cost += row.memory_access_cost or 0
    return list(blocks.values())
