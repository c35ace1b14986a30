"""Symbolic dims through TVM's ONNX frontend: two fixes the importer applies for one import, and the
check that finds a node that fixes a dim the graph's inputs leave symbolic.

- :func:`static_ranges`: TVM 0.27's ``Range`` converter treats a scalar that is already known as
  dynamic when it arrives as a TIR integer (what ``Squeeze(Shape(x))`` gives once the input's shape
  is bound), and computes any non-constant length through a tensor, introducing a fresh
  ``range_len`` variable unrelated to the input's dims. A dynamo-exported transformer builds its
  attention mask from ``Range(0, seq)``; the fresh variable then fails to unify with ``seq`` and a
  later ``Reshape`` stops the import ("Reshape expects the input tensor to have known shape",
  docs/tvm-0.27.md §15). With this fix a static scalar is a constant and an integer ``Range`` over
  shape values is ``R.arange(start, limit, delta)`` on those values, so its length is ``seq``.
- :class:`DimTracker`: during a symbolic import, the shapes each converted node gives its outputs.
  A node whose target shape is a constant (``Reshape`` to ``[2, -1, 12, 32]``, ``Expand`` to a
  baked size) either drops a dim the data carried or leaves a dim divided by a constant
  (``batch * seq // 2``): the exporter fixed that dim there, and a build at another value of it
  computes wrong results (or fails further on). :meth:`DimTracker.check` raises a LoweringError
  naming the node.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from planctl.errors import LoweringError

# ops whose output shape comes from a shape operand: where an exporter bakes a dim in
SHAPE_TAKING = {"Reshape", "Expand", "Tile", "Resize", "ConstantOfShape", "Flatten"}


@contextlib.contextmanager
def static_ranges() -> Iterator[None]:
    """Patch the frontend's ``Range`` converter for the duration of one import (restored after)."""
    from tvm.relax.frontend.onnx import onnx_frontend as frontend

    original = frontend.Range.__dict__["_impl_v12"]

    def impl(cls, bb, inputs, attr, params):
        values = [_scalar(frontend, x, params) for x in inputs[:3]]
        dtype = _dtype_of(frontend, inputs[0], params)
        if all(v is not None for v in values) and dtype.startswith("int"):
            return _arange(values, dtype)
        return original.__func__(cls, bb, inputs, attr, params)

    frontend.Range._impl_v12 = classmethod(impl)
    try:
        yield
    finally:
        frontend.Range._impl_v12 = original


def _scalar(frontend, x, params):
    """An int for a known integer scalar, the PrimExpr of a shape value, else None (a tensor)."""
    import tvm
    from tvm import tirx

    x = frontend.get_constant(x, params)
    if isinstance(x, tirx.IntImm):
        return int(x.value)
    if isinstance(x, tvm.ir.GenericConst):
        value = x.value.numpy()
        return int(value.item()) if value.size == 1 and value.dtype.kind in "iu" else None
    if tvm.ir.is_prim_expr(x):
        return x
    return None


def _dtype_of(frontend, x, params) -> str:
    import tvm

    x = frontend.get_constant(x, params)
    if tvm.ir.is_prim_expr(x):
        return str(getattr(x, "dtype", None) or x.ty)
    return str(x.ty.dtype)


def _arange(values: list, dtype: str):
    """``R.arange`` over known or shape values; all-known values are a constant, as TVM does."""
    import numpy as np
    from tvm import relax

    if all(isinstance(v, int) for v in values):
        return relax.const(np.arange(*values, dtype=dtype), dtype)
    return relax.op.arange(*values, dtype)


def _walk(expr) -> Iterator[Any]:
    """Every node of a PrimExpr tree (binary ops through ``a``/``b``, casts through ``value``)."""
    import tvm

    yield expr
    for name in ("a", "b", "value"):
        child = getattr(expr, name, None)
        if child is not None and not isinstance(child, (int, float, str)) and tvm.ir.is_prim_expr(child):
            yield from _walk(child)


@dataclass
class FixedDim:
    """A node that fixed a symbolic dim: which node, which dim, the shapes in and out."""

    node: str
    op: str
    index: int | None
    dim: str
    shape_in: str
    shape_out: str
    how: str

    def text(self) -> str:
        where = f"'{self.node}' ({self.op}" + (f", node {self.index} of the graph)" if self.index is not None else ")")
        return f"{where} fixes dim `{self.dim}`: {self.shape_in} -> {self.shape_out} ({self.how})"


@dataclass
class DimTracker:
    """Watches a symbolic import (``variables``: plan dim name -> TIR variable); inert for a static one."""

    variables: dict
    model: Any
    found: list[FixedDim] = field(default_factory=list)

    def __post_init__(self):
        self._index = {n.name: i for i, n in enumerate(self.model.graph.node) if n.name}

    def converted(self, bb, name: str | None, op: str, inputs, result) -> None:
        """Record a converted node; a shape-taking one that fixed a dim goes to ``found``."""
        if not self.variables or op not in SHAPE_TAKING or not inputs or inputs[0] is None:
            return
        shape_in, shape_out = _shape(inputs[0]), _shape(_normalized(bb, result))
        if shape_in is None or shape_out is None:
            return
        carried = {d for d, var in self.variables.items() if any(var.same_as(v) for e in shape_in
                                                                  for v in _vars(e))}
        for dim in sorted(carried):
            var = self.variables[dim]
            kept = [e for e in shape_out if any(var.same_as(v) for v in _vars(e))]
            how = None
            if not kept and op != "Flatten":
                how = "the output shape no longer depends on it"
            elif any(type(n).__name__ in ("FloorDiv", "FloorMod") for e in kept for n in _walk(e)):
                how = "its size is divided by a constant of the target shape"
            if how:
                self.found.append(FixedDim(name or "?", op, self._index.get(name), dim, _text(shape_in),
                                           _text(shape_out), how))

    def culprit_text(self) -> str | None:
        return self.found[0].text() if self.found else None

    def check(self, path: Path) -> None:
        """Raise LoweringError naming the first node that fixed a symbolic dim."""
        if not self.found:
            return
        first = self.found[0]
        raise LoweringError(
            f"ONNX node {first.text()}: the model was exported with `{first.dim}` baked into this "
            f"node, so a build at another {first.dim} computes wrong results",
            file=str(path), hint=f"export with {first.dim} dynamic, so that the node computes its target shape "
                                 "from the input's (torch.export dynamic_shapes, then torch.onnx.export(..., "
                                 "dynamo=True); examples/minilm/export.py), or declare a single value for "
                                 f"{first.dim} in production_shapes")


def _normalized(bb, expr):
    try:
        return bb.normalize(expr)
    except Exception:  # noqa: BLE001 - a result TVM cannot normalise has no shape to read
        return None


def _shape(expr):
    """The PrimExpr dims of a Relax tensor expression, None when unknown."""
    ty = getattr(expr, "ty", None) if expr is not None else None
    shape = getattr(ty, "shape", None)
    values = getattr(shape, "values", None)
    return list(values) if values is not None else None


def _vars(expr) -> list:
    import tvm
    from tvm import tirx

    return list(tirx.analysis.undefined_vars(expr)) if tvm.ir.is_prim_expr(expr) else []


def _text(dims) -> str:
    """``[2, batch * seq // 2, 12, 32]``: TVMScript's ``T.int64(2)`` written as ``2``."""
    import re

    return "[" + ", ".join(re.sub(r"T\.int64\((-?\d+)\)", r"\1", str(d)) for d in dims) + "]"
