"""Per-pass evidence from TVM's own PassInstrument: time, Relax bindings and PrimFunc counts.

Instruments also fire for the passes that FoldConstant runs internally on TIR (about 60 per folded
constant, docs/tvm-0.27.md §7), so only top-level passes (depth 0) are recorded.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class PassRecord:
    """One top-level pass: wall time (s) and IR size before/after."""

    name: str
    seconds: float
    bindings_before: int
    bindings_after: int
    prim_funcs_before: int
    prim_funcs_after: int
    ops_before: int
    ops_after: int

    def to_dict(self) -> dict:
        return asdict(self)


def module_stats(mod) -> dict[str, int]:
    """Count Relax bindings, Relax operator calls (excluding call_tir) and PrimFuncs in ``mod``."""
    from tvm import relax, tirx

    stats = {"bindings": 0, "ops": 0, "prim_funcs": 0}

    def visit(expr):
        if isinstance(expr, relax.Call) and hasattr(expr.op, "name") and expr.op.name != "relax.call_tir":
            stats["ops"] += 1

    for _gv, func in mod.functions.items():
        if isinstance(func, tirx.PrimFunc):
            stats["prim_funcs"] += 1
        elif isinstance(func, relax.Function) and isinstance(func.body, relax.SeqExpr):
            stats["bindings"] += sum(len(block.bindings) for block in func.body.blocks)
            relax.analysis.post_order_visit(func.body, visit)
    return stats


def make_recorder(records: list[PassRecord]):
    """Return a PassInstrument instance appending a PassRecord per top-level pass to ``records``."""
    from tvm.ir.instrument import pass_instrument

    @pass_instrument
    class PassRecorder:
        def __init__(self):
            self.depth = 0
            self.start: list[tuple[float, dict]] = []

        def run_before_pass(self, mod, info):
            if self.depth == 0:
                self.start.append((time.perf_counter(), module_stats(mod)))
            self.depth += 1

        def run_after_pass(self, mod, info):
            self.depth -= 1
            if self.depth == 0 and self.start:
                t0, before = self.start.pop()
                after = module_stats(mod)
                records.append(PassRecord(info.name, time.perf_counter() - t0, before["bindings"],
                                          after["bindings"], before["prim_funcs"], after["prim_funcs"],
                                          before["ops"], after["ops"]))

    return PassRecorder()
