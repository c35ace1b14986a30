"""Mixed precision: TVM's ``ToMixedPrecision``, then the plan's ``keep_fp32_ops`` computed in float32.

``relax.transform.ToMixedPrecision`` decides per operator from TVM's own policy
(``TMixedPrecisionPolicy``: matmul and conv always float16, most elementwise ops and ``layer_norm``
follow their inputs, ops without a policy stay float32). ``layer_norm`` therefore runs in float16
whenever its inputs and its (constant) scale and shift are float16, whatever a plan asks. The
:func:`keep_float32` pass honours ``keep_fp32_ops``: each call of a listed operator that still
has a float16 argument gets its float16 arguments cast to float32, runs in float32, and its result
is cast back to float16, so its consumers see the same types as before (FoldConstant folds the
casts of constant arguments).

Operator names are Relax's without the namespace: ``softmax`` is ``relax.nn.softmax``, ``sum``
is ``relax.sum``.
"""
from __future__ import annotations

from typing import Iterable

NAMESPACES = ("relax.nn.", "relax.")


def relax_op_name(name: str) -> str | None:
    """``relax.nn.<name>`` or ``relax.<name>``, whichever TVM registers (None when neither)."""
    import tvm

    for prefix in NAMESPACES:
        full = prefix + name
        try:
            tvm.ir.Op.get(full)
        except Exception:  # noqa: BLE001 - TVM raises TVMError/ValueError for an unknown op name
            continue
        return full
    return None


def _float16(expr) -> bool:
    from tvm import relax

    ty = getattr(expr, "ty", None)
    return isinstance(ty, relax.TensorType) and ty.dtype == "float16"


def keep_float32(names: Iterable[str]):
    """A module pass computing every call of the named operators in float32 (see the module doc);
    names are resolved with :func:`relax_op_name` (unknown names are skipped: the lowering stage
    refuses them first, at their line in the plan)."""
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    ops = {full for full in (relax_op_name(n) for n in names) if full is not None}

    @mutator
    class KeepFloat32(PyExprMutator):
        def visit_call_(self, call):
            call = super().visit_call_(call)
            if not isinstance(call.op, tvm.ir.Op) or call.op.name not in ops or not any(map(_float16, call.args)):
                return call
            args = [self.builder_.emit(relax.op.astype(a, "float32")) if _float16(a) else a for a in call.args]
            out = self.builder_.emit(relax.Call(call.op, args, call.attrs, call.ty_args))
            return relax.op.astype(out, "float16") if _float16(call) else out

    @tvm.transform.module_pass(opt_level=0, name="planctl.KeepFloat32")
    def transform(mod, _ctx):
        from planctl.lowering.relax_match import rewrite_functions
        return rewrite_functions(mod, KeepFloat32(mod))

    return transform
