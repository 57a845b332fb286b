"""Search spaces, one registered class per module, registered by the explicit import list below.

    from nas.spaces import SPACES, make_space
    space = make_space("mbconv", resolutions=[28], small_input=True)
    arch = space.sample(random.Random(0)); model = space.build(arch, num_classes=10, in_chans=1)
"""

from __future__ import annotations

from typing import Any

from nas.spaces import mbconv, mobilevit, shufflenet, uib
from nas.spaces.base import SearchedNet, SearchSpace
from nas.spaces.registry import SPACES, register_space


def make_space(name: str, **options: Any) -> SearchSpace:
    """The space ``name`` with ``options``; an unknown name lists the registered ones."""
    return SPACES.get(name)(**options)


__all__ = ["SPACES", "SearchSpace", "SearchedNet", "make_space", "mbconv", "mobilevit", "register_space",
           "shufflenet", "uib"]
