"""Fast approximations of transcendental functions, as one Relax pass.

TVM's own ``relax.transform.FastMathTransform`` rewrites ``exp``, ``erf``, ``tanh`` and ``softmax``
into ``topi.fast_*`` (polynomial/range-reduction forms that vectorize, where the plain forms call
scalar libm routines). It leaves ``relax.nn.gelu`` alone, and GELU is where BERT-style encoders
spend their ``erf`` time (profile of the tuned MiniLM build on AVX2: the FFN-up matmul with the
GELU epilogue ran at about half the GFLOP/s of the FFN-down matmul). This pass extends it with
exact-form GELU, ``0.5 * x * (1 + erf(x / sqrt(2)))`` (Hendrycks & Gimpel, 2016), using
``topi.fast_erf``. The approximations' error is far below float32 parity tolerances of 1e-5, and
the plan's parity envelope still decides.
"""
from __future__ import annotations

import math
import re

# a last-axis softmax becomes a kernel named ``fast_softmax`` (``fast_softmax1``... once the name is
# taken), another axis's ``fast_softmax_axis<N>``: planctl.lowering.cuda_attention.find_attention
# tells an attention's softmax by that name after this pass
LAST_AXIS_SOFTMAX = re.compile(r"^fast_softmax\d*$")


def fast_math_pass():
    """Return the module pass (TVM is imported here, never at planctl import time)."""
    import tvm
    from tvm import topi
    from tvm.relax import expr_functor
    from tvm.relax.transform.fast_math import FastMathCodeGenerator

    def gelu(x):
        return x * (topi.fast_erf(x * (1.0 / math.sqrt(2.0))) + 1.0) * 0.5

    @expr_functor.mutator
    class FastMathWithGelu(FastMathCodeGenerator._cls):
        def visit_call_(self, call):
            if getattr(call.op, "name", None) == "relax.nn.gelu":
                return self.builder_.call_te(gelu, self.visit_expr(call.args[0]), primfunc_name_hint="fast_gelu")
            if getattr(call.op, "name", None) == "relax.nn.softmax":
                axis, ndim = int(call.attrs.axis), call.args[0].ty.ndim
                name = "fast_softmax" if axis in (-1, ndim - 1) else f"fast_softmax_axis{axis % ndim}"
                return self.builder_.call_te(topi.nn.fast_softmax, self.visit_expr(call.args[0]), axis,
                                             primfunc_name_hint=name)
            return super().visit_call_(call)

    @tvm.transform.module_pass(opt_level=0, name="FastMathTransform")
    def transform(mod, _ctx):
        from planctl.lowering.relax_match import rewrite_functions
        return rewrite_functions(mod, FastMathWithGelu(mod))

    return transform
