"""Horizontal fusion: matmuls that read the same input through constant weights (a transformer's Q,
K and V projections) become one matmul over the weights concatenated along the output axis, then one
slice per projection.

Why: each projection alone is a small matmul (MiniLM: 384 x 384, 37.7 MFLOP at 8 x 16) that reads a
cold 590 KB weight per call; in the model it ran at about half the rate MetaSchedule measured for it
in isolation, where the weight stays in cache (docs/tvm-0.27.md §16). One 384 x 1152 matmul reads the
input once, launches once and gives the tuner a wider kernel. A constant bias added to each result
is concatenated too, so it stays in the matmul's epilogue after FuseOps. The outputs are unchanged
bit for bit: every output element is the same dot product in the same order.

TVM's own ``relax.transform.CombineParallelMatmul`` changes nothing on a module whose weights are
constants (planctl imports weights as constants), hence this pass.
"""
from __future__ import annotations


def _call_of(expr, op_name: str) -> bool:
    from tvm import relax
    return isinstance(expr, relax.Call) and getattr(expr.op, "name", None) == op_name


def _constant(expr, ndim: int) -> bool:
    import tvm
    return isinstance(expr, tvm.ir.expr.Constant) and len(expr.value.shape) == ndim


def _weight_matmul(call) -> bool:
    """``matmul(x, W)`` with a constant [K, N] weight and the input's dtype."""
    return (_call_of(call, "relax.matmul") and _constant(call.args[1], 2)
            and call.attrs.out_dtype in (None, "", "void"))


def _use_counts(block) -> dict:
    from tvm import relax
    uses: dict = {}

    def count(expr):
        if isinstance(expr, relax.Var):
            uses[expr] = uses.get(expr, 0) + 1
    for binding in block.bindings:
        relax.analysis.post_order_visit(binding.value, count)
    return uses


def parallel_groups(block) -> list[list[tuple]]:
    """Groups of two or more weight matmuls of ``block`` that share their input (same Var, same
    K and dtype): ``[(matmul var, bias-add var or None, weight, bias or None), ...]`` in block order.
    A matmul whose only use is ``add(result, constant [N])`` brings its bias; a group takes its
    biases only when each member has one."""
    uses = _use_counts(block)
    bias_of = {}
    for binding in block.bindings:
        value = binding.value
        if _call_of(value, "relax.add") and _constant(value.args[1], 1) and uses.get(value.args[0]) == 1:
            bias_of[value.args[0]] = (binding.var, value.args[1])
    found: dict = {}
    for binding in block.bindings:
        if _weight_matmul(binding.value):
            x, w = binding.value.args
            add_var, bias = bias_of.get(binding.var, (None, None))
            found.setdefault((x, int(w.value.shape[0]), str(w.value.dtype)), []).append(
                (binding.var, add_var, w, bias))
    groups = []
    for members in found.values():
        if len(members) < 2:
            continue
        biased = all(m[3] is not None and m[3].value.shape[0] == m[2].value.shape[1] for m in members)
        groups.append(members if biased else [(m[0], None, m[2], None) for m in members])
    return groups


def horizontal_fusion_pass():
    """The module pass (``planctl.HorizontalFusion``); raises nothing: a block without parallel
    matmuls is left as it is."""
    import numpy as np
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    from planctl.lowering.relax_match import rewrite_functions

    @mutator
    class Combine(PyExprMutator):
        def __init__(self, mod):
            super().__init__(mod)
            self.first: dict = {}   # the first matmul var of a group -> (group, its input)
            self.folded: set = set()

        def visit_dataflow_block_(self, block):
            for group in parallel_groups(block):
                first = group[0][0]
                self.first[first] = group
                self.folded.update(v for m in group for v in m[:2] if v is not None)
            return super().visit_dataflow_block_(block)

        def visit_var_binding_(self, binding):
            if binding.var in self.first:
                self._emit(self.first[binding.var], self.visit_expr(binding.value.args[0]))
            elif binding.var not in self.folded:
                super().visit_var_binding_(binding)

        def _emit(self, group, x):
            emit = self.builder_.emit
            y = emit(relax.op.matmul(x, relax.const(np.concatenate([m[2].value.numpy() for m in group], axis=1))))
            if group[0][3] is not None:
                y = emit(relax.op.add(y, relax.const(np.concatenate([m[3].value.numpy() for m in group]))))
            # one slice per member, not one split: FuseOps fuses each slice into its consumer (MiniLM:
            # the reshape and transpose to heads), where a split is a kernel of its own that copies
            # the whole result (3 x 12 MB at 32 x 128, 3% of the call)
            axis, begin = y.ty.ndim - 1, 0
            for matmul_var, add_var, w, _b in group:
                end = begin + int(w.value.shape[1])
                part = emit(relax.op.strided_slice(y, axes=[axis], begin=[begin], end=[end], assume_inbound=True))
                self.set_var_remap(add_var if add_var is not None else matmul_var, part)
                begin = end

    @tvm.transform.module_pass(opt_level=0, name="planctl.HorizontalFusion")
    def transform(mod, _ctx):
        return rewrite_functions(mod, Combine(mod))

    return transform
