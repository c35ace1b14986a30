"""Gathers that TVM lowers without a bounds check, and what guards them.

``relax.op.take`` defaults to ``mode="fast"`` (and the ONNX importer keeps it for ``Gather``): the
lowered kernel reads ``table[index]`` unchecked, and TVM warns "Fast mode segfaults when there are
out-of-bounds indices" each time it legalizes one. planctl.runtime checks every call's inputs
against the plan's value domains before the library runs, so an out-of-domain id never reaches
such a kernel; the run's report says so once.
"""
from __future__ import annotations


def fast_gathers(mod) -> list[tuple[int, ...]]:
    """Shapes of the tables that ``mod``'s Relax functions gather from in fast mode."""
    from tvm import ir, relax

    found: list[tuple[int, ...]] = []

    def visit(expr):
        if (isinstance(expr, relax.Call) and isinstance(expr.op, ir.Op) and expr.op.name == "relax.take"
                and str(expr.attrs.mode) == "fast"):
            shape = getattr(expr.args[0].ty, "shape", None)
            found.append(tuple(int(d) for d in shape) if shape is not None else ())

    for func in mod.functions.values():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func.body, visit)
    return found


def fast_gather_note(mod, inputs) -> str | None:
    """The report's one note on fast-mode gathers (None when ``mod`` has none); ``inputs``: the
    plan's workload inputs (their integer value domains are what the runtime enforces)."""
    tables = fast_gathers(mod)
    if not tables:
        return None
    domains = [f"{i.name} in [{i.domain.min}, {i.domain.max}]" for i in inputs
               if getattr(i.domain, "kind", None) == "integer-range"]
    guarded = (f"planctl.runtime refuses out-of-domain ids before the library runs ({', '.join(domains)})"
               if domains else "the plan declares no integer domain for them, so nothing checks the ids")
    shapes = ", ".join("[" + ", ".join(map(str, t)) + "]" for t in tables)
    return (f"{len(tables)} gather(s) (relax.take on tables {shapes}) are built in TVM's fast mode, without a "
            f"bounds check (TVM's warning 'Fast mode segfaults when there are out-of-bounds indices' is in the "
            f"run's log): {guarded}")
