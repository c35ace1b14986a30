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
            f"run's log): {guarded}; every kernel that still gathers after constant folding (a gather at "
            f"constant ids, such as positions, can fold away) keeps TVM's default schedule, named in each "
            f"bucket's tuning line (not tuned: their MetaSchedule schedules broke parity, and they take under "
            f"0.1% of the call)")


# ------------------------------------------------------------------ weight prepacking and gathers
def _loads_a_buffer(expr) -> bool:
    """Whether the index expression ``expr`` reads a buffer (a data-dependent index). TVM 0.27's
    ``tirx.BufferLoad`` builds a ``tvm.ir.expr.TensorLoad``; every expression is a ``tvm.ir.expr.Expr``."""
    from tvm.ir.expr import Expr, TensorLoad

    if isinstance(expr, TensorLoad):
        return True
    children = [getattr(expr, name, None) for name in ("a", "b", "value", "condition", "true_value", "false_value")]
    children += list(getattr(expr, "args", None) or [])
    return any(isinstance(c, Expr) and _loads_a_buffer(c) for c in children)


def indirect_reads(func) -> set[str]:
    """Names of the buffers that a block of PrimFunc ``func`` reads at data-dependent indices
    (``table[ids[i], j]``: a gather's table). Read from the blocks' read regions
    (``tvm.s_tir.Schedule``), so it sees the access pattern whatever the kernel's name."""
    from tvm.s_tir import Schedule

    sch = Schedule(func)
    found: set[str] = set()
    pending = [sch.get_sblock("root")]
    while pending:
        for child in sch.get_child_blocks(pending.pop()):
            block = sch.get(child)
            found.update(r.source.name for r in block.reads
                         if any(_loads_a_buffer(rng.min) or _loads_a_buffer(rng.extent) for rng in r.region))
            pending.append(child)
    return found


def keep_gather_layouts():
    """A module pass, between AttachAttrLayoutFreeBuffers and tuning: a buffer that a kernel reads
    at data-dependent indices (a gather's table) is no longer layout-free. MetaSchedule's layout
    rewrite (``RewriteLayout``, folded into the constants by weight prepacking) maps each access
    through an index map of the loop variables, which a data-dependent index is not; a schedule
    found for MiniLM's ``gather_nd`` did rewrite its constant operand. A defence: since gathers
    are left out of tuning (planctl.tuning.search.extract) no gather schedule reaches the build,
    and MiniLM's parity break with tuned gathers (max abs 0.047) persisted with this pass, so the
    gather schedules themselves, not the layout, broke it. Such a kernel keeps the operand's layout;
    its other layout-free buffers stay. A hand-scheduled kernel (``tirx.is_scheduled``) keeps every
    layout. Returns a ``tvm.transform.Pass``."""
    import tvm
    from tvm import tirx

    @tvm.transform.module_pass(opt_level=0, name="KeepGatherLayouts")
    def run(mod, _ctx):
        updates = {}
        for gv, func in mod.functions.items():
            if not isinstance(func, tirx.PrimFunc) or func.attrs is None or "layout_free_buffers" not in func.attrs:
                continue
            if func.attrs.get("tirx.is_scheduled", False):
                # a hand-written kernel (planctl.lowering.cpu_attention) has no blocks to re-lay out:
                # SplitLayoutRewritePreproc would fail on it ("should be a root block")
                updates[gv] = func.without_attr("layout_free_buffers")
                continue
            indirect = indirect_reads(func)
            if not indirect:
                continue
            free = [int(i) for i in func.attrs["layout_free_buffers"]]
            # TVM 0.27: a PrimFunc's params are its buffers (a Var named as the buffer)
            kept = [i for i in free if func.params[i].name not in indirect]
            if kept != free:
                updates[gv] = (func.with_attr("layout_free_buffers", kept) if kept
                               else func.without_attr("layout_free_buffers"))
        for gv, func in updates.items():
            mod[gv] = func
        return mod

    return run
