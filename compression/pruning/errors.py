"""The one error type of the pruning package, so callers can tell bad input from bugs."""

from __future__ import annotations


class PruningError(ValueError):
    """Bad pruning input (ratio, layer name) or a model the dependency analysis cannot handle.

    Raised before any weight is changed; the message names the offending module or value.
    """
