"""Planned activation memory: what TVM's static memory planner (``StaticPlanBlockMemory``) allocates.

After the dataflow-lowering passes of the target's backend, StaticPlanBlockMemory turns the
per-intermediate ``relax.builtin.alloc_tensor`` calls into a few reused
``relax.memory.alloc_storage`` blocks; the sum of their sizes (bytes, the first value of the size
``ShapeExpr``) is the activation memory the compiled function reserves (docs/tvm-0.27.md
§8). Weights are constants in the library and the function's result is allocated apart; neither
is counted (the result's bytes are reported as ``output_bytes``).

A plan that switches static-memory-planning off builds without StaticPlanBlockMemory: every
intermediate then gets its own allocation at run time, and ``planned_bytes`` is their total (the
result included), an upper bound of the activation memory.
"""
from __future__ import annotations


def _static(shape) -> int | None:
    values = getattr(shape, "values", None)
    if values is None or not all(hasattr(v, "value") for v in values):
        return None
    out = 1
    for v in values:
        out *= int(v.value)
    return out


def planned_memory(mod, target, static_planning: bool = True) -> dict:
    """``{"planned_bytes", "storages", "output_bytes", "dynamic_storages", "static_planning"}`` of a
    scheduled module (the one ``build_candidate`` compiles). Runs the dataflow-lowering passes and
    StaticPlanBlockMemory (unless ``static_planning`` is False) on a copy; nothing is compiled."""
    import tvm
    from tvm import relax

    from planctl.lowering.backend import backend_pipeline

    backend = backend_pipeline(target)
    plan = [relax.transform.StaticPlanBlockMemory()] if static_planning else []
    with target, tvm.transform.PassContext(opt_level=3):
        planned = tvm.transform.Sequential([*backend.dataflow_lower_passes(target), *plan])(mod)
    found = {"planned_bytes": 0, "storages": 0, "output_bytes": 0, "dynamic_storages": 0,
             "static_planning": static_planning}

    def visit(expr):
        if not isinstance(expr, relax.Call):
            return
        name = getattr(expr.op, "name", "")
        if name == "relax.memory.alloc_storage":
            size = _static(expr.args[0])
            if size is None:
                found["dynamic_storages"] += 1
            else:
                found["planned_bytes"] += size
                found["storages"] += 1
        elif name == "relax.builtin.alloc_tensor":
            count = _static(expr.args[0])
            dtype = getattr(expr.args[1], "value", None)
            if count is not None and dtype is not None:
                dt = tvm.runtime.DataType(str(dtype))
                size = count * max(dt.bits * dt.lanes // 8, 1)
                if static_planning:
                    found["output_bytes"] += size   # after planning, only the result is left
                else:
                    found["planned_bytes"] += size
                    found["storages"] += 1

    for _gv, func in planned.functions.items():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func.body, visit)
    return found
