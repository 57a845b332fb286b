"""The converter's one error type for bad input.

Everything a model file can get wrong (its bytes, its graph, its tensors, its opsets) is reported as a
``ModelFormatError`` naming the file, the problem and, where there is one, the node, value or field; the
command line turns it into one ``error:`` line. Any other exception out of the converter is a bug of ours.
"""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` with control characters escaped: names come from the file and must not break a message
    into lines or drive the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class ModelFormatError(ValueError):
    """The model given to the converter is malformed or cannot be converted.

    ``kind`` is a short stable category ("cycle", "dangling-input", "tensor-size", ...) for tests and fuzzing
    figures; ``where`` names the node/value/field when there is one; ``source`` names the model (a path, or
    ``<ModelProto>``). The message is ``"{source}: {where}: {problem}"``, one line.
    """

    def __init__(self, problem: str, *, kind: str = "invalid", where: str | None = None,
                 source: str | None = None) -> None:
        self.problem, self.kind, self.where, self.source = problem, kind, where, source
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [p for p in (self.source, self.where) if p]
        return ": ".join(printable(p) for p in [*parts, self.problem])

    def located(self, source: str) -> ModelFormatError:
        """The same error naming ``source`` (checks deep in the graph do not know the file name)."""
        if self.source is None:
            self.source = source
            self.args = (self._message(),)
        return self


def node_label(name: str, op_type: str, index: int | None = None) -> str:
    """How messages name a node: by name when it has one (else by position), always with its op type."""
    if name:
        return f"node '{name}' ({op_type})"
    return f"node #{index} ({op_type})" if index is not None else f"unnamed {op_type} node"
