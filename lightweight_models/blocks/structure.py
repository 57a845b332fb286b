"""What a block declares about its own structure, as data, for the tools that change a model's widths
(structured pruning in ``compression.pruning``).

Those tools find no block by class name and read none of its private attributes: a block whose forward
depends on stored widths says so here, in its class, so a subclass or a renamed class keeps the
declaration. The declarations:

* ``channel_barrier`` (class attribute: the reason): the block reshapes or permutes its channel axis by a
  stored count, exposed as ``channels``; no channel group may reach it.
* ``pruning_locks()``: submodules whose output width must stay, each with the reason.
* ``head_layout()``: where each attention head lives (``HeadLayout``), so that whole heads can be removed;
  ``set_num_heads(n)`` then updates the stored counts.
* ``head_params`` (class attribute of a module an attention adds per-head terms from): its parameters
  with one slice per head, ``{name: head axis}``.
* ``shape_attrs`` (class attribute): the attributes that follow the block's tensor shapes, recorded with
  a pruned model so that it reloads from its config and those shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class ChannelLock:
    """``module``'s output channels must keep their width, because ``reason``."""

    module: nn.Module
    reason: str


@dataclass(frozen=True)
class HeadLayout:
    """Where the heads of an attention live in its tensors.

    ``qkv``'s outputs are ``[q of all heads | k of all heads | v of all heads]``, head-major inside each
    part (``key_dim`` rows per head for q and k, ``value_dim`` for v); ``proj``'s inputs are the heads'
    values in the same order. ``per_head`` lists the other parameters with one slice per head
    (owner, parameter name, head axis); ``opaque`` the modules that produce per-head terms without
    declaring how (their heads cannot be cut consistently).
    """

    num_heads: int
    key_dim: int
    value_dim: int
    qkv: nn.Linear
    proj: nn.Linear
    per_head: tuple[tuple[nn.Module, str, int], ...] = ()
    opaque: tuple[nn.Module, ...] = ()


def channel_barrier(module: nn.Module) -> str | None:
    """Why no channel group may reach ``module``, or None when it declares no barrier."""
    return getattr(module, "channel_barrier", None)


def pruning_locks(module: nn.Module) -> list[ChannelLock]:
    """The locks ``module`` itself declares (not those of its children)."""
    declare = getattr(module, "pruning_locks", None)
    return list(declare()) if callable(declare) else []


def head_layout(module: nn.Module) -> HeadLayout | None:
    """``module``'s head layout when it is an attention that declares one."""
    declare = getattr(module, "head_layout", None)
    return declare() if callable(declare) else None


def shape_attrs(module: nn.Module) -> tuple[str, ...]:
    return tuple(getattr(module, "shape_attrs", ()))


def per_head_params(module: nn.Module) -> tuple[tuple[nn.Module, str, int], ...] | None:
    """``(module, name, axis)`` of each per-head parameter ``module`` declares; None when it declares none."""
    declared = getattr(module, "head_params", None)
    if declared is None:
        return None
    return tuple((module, name, axis) for name, axis in declared.items())
