"""FLOPs and compulsory memory traffic of a lowered workload, for the report's roofline placement.

Each ``call_tir`` in the Relax functions of a legalized (and fused) module is one kernel launch:
its FLOPs are TVM's estimate for the PrimFunc it calls (``tvm.s_tir.analysis.estimate_tir_flops``),
its bytes the sizes of its tensor arguments and result (each read or written once: the traffic a
kernel cannot avoid, a lower bound on what it moves). Summed over launches, this is the workload's
FLOP count (the sum of the tuning tasks' FLOP estimates weighted by their call counts) and its
arithmetic intensity (FLOP per byte). The estimate counts multiply-adds of matmuls exactly; it
does not know the cost of transcendental functions (exp, tanh count as one FLOP).
"""
from __future__ import annotations

from collections import Counter


def _tensor_bytes(ty) -> int:
    """Bytes of a Relax tensor type with a static shape (0 when unknown); tuples are summed."""
    from tvm import relax

    fields = getattr(ty, "fields", None)
    if fields is not None:
        return sum(_tensor_bytes(f) for f in fields)
    shape, dtype = getattr(ty, "shape", None), getattr(ty, "dtype", None)
    values = getattr(shape, "values", None)
    if values is None or dtype is None or not isinstance(shape, relax.ShapeExpr):
        return 0
    count = 1
    for v in values:
        if not hasattr(v, "value"):
            return 0
        count *= int(v.value)
    import tvm

    bits = tvm.runtime.DataType(str(dtype)).bits * tvm.runtime.DataType(str(dtype)).lanes
    return count * max(bits // 8, 1)


def workload_flops(mod) -> dict:
    """``{"flops", "bytes", "intensity", "launches", "kernels": [{name, calls, flops, bytes}]}``.

    ``mod``: a legalized module (after LegalizeOps, optionally fused). FLOPs of PrimFuncs TVM cannot
    estimate count as 0 and are listed under ``unestimated``.
    """
    import tvm
    from tvm import relax, tirx
    from tvm.s_tir.analysis import estimate_tir_flops

    calls: Counter = Counter()
    traffic: Counter = Counter()

    library: dict[str, dict] = {}

    def visit(expr):
        if isinstance(expr, relax.Call) and getattr(expr.op, "name", "") == "relax.call_dps_packed" \
                and str(expr.args[0].global_symbol).startswith(("planctl_cublaslt", "planctl_blas")):
            flops, moved, _dtype, label = library_call_cost(expr)
            entry = library.setdefault(label, {"name": label, "calls": 0, "flops": 0.0, "bytes": 0})
            entry["calls"] += 1
            entry["flops"] += flops
            entry["bytes"] += moved
        if isinstance(expr, relax.Call) and getattr(expr.op, "name", "") == "relax.call_tir":
            name = expr.args[0].name_hint
            calls[name] += 1
            args = expr.args[1].fields if isinstance(expr.args[1], relax.Tuple) else [expr.args[1]]
            traffic[name] += sum(_tensor_bytes(a.ty) for a in args) + _tensor_bytes(expr.ty)

    for _gv, func in mod.functions.items():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func.body, visit)
    kernels, unestimated = [], []
    for gv, func in mod.functions.items():
        if not isinstance(func, tirx.PrimFunc) or gv.name_hint not in calls:
            continue
        try:
            # hand-written kernels (planctl.lowering.cuda_attention) carry their count: TVM cannot bound them
            known = func.attrs.get("planctl.flops") if func.attrs is not None else None
            flops = float(known) if known is not None else float(estimate_tir_flops(tvm.IRModule({"main": func})))
        except Exception:  # noqa: BLE001 - TVM raises TVMError for loops it cannot bound
            flops = 0.0
            unestimated.append(gv.name_hint)
        name = gv.name_hint
        kernels.append({"name": name, "calls": calls[name], "flops": flops * calls[name],
                        "bytes": traffic[name]})
    kernels.extend(library.values())
    kernels.sort(key=lambda k: -k["flops"])
    total = sum(k["flops"] for k in kernels)
    moved = sum(k["bytes"] for k in kernels)
    return {"flops": total, "bytes": moved, "intensity": total / moved if moved else None,
            "launches": sum(calls.values()) + sum(k["calls"] for k in library.values()), "kernels": kernels, "unestimated": unestimated,
            "method": "tvm.s_tir.analysis.estimate_tir_flops per PrimFunc x call_tir count; bytes: "
                      "tensor arguments and results of each launch"}


def library_call_cost(call) -> tuple[float, int, str, str]:
    """(FLOPs, bytes, operand dtype, label) of one library route call (planctl.lowering.cuda_library,
    planctl.lowering.cpu_library):
    2*M*N*K multiply-adds plus one FLOP per output element for each of bias and residual; bytes:
    its tensor arguments and output (the workspace is scratch, not counted)."""
    args = call.args[1].fields
    a, w = args[0].ty, args[1].ty
    out = call.ty.fields[0] if hasattr(call.ty, "fields") else call.ty
    dims = [int(v.value) for v in a.shape.values]
    k, n = (int(v.value) for v in w.shape.values)
    m = 1
    for d in dims[:-1]:
        m *= d
    epilogues = len(args) - 2
    flops = 2.0 * m * n * k + epilogues * m * n
    moved = sum(_tensor_bytes(x.ty) for x in args) + _tensor_bytes(out)
    name = str(call.args[0].global_symbol)
    label = f"{name} M={m} N={n} K={k} {a.dtype}->{out.dtype}"
    return flops, moved, str(a.dtype), label
