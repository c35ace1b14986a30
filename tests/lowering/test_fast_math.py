"""planctl.lowering.fast_math: GELU and exp become TVM's vectorizable fast forms (TVMScript before,
TE-built expected after, as TVM's own FastMathTransform tests do), and the numbers stay close."""
from __future__ import annotations

import math

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")
from tvm import relax, topi  # noqa: E402
from tvm.script import ir as I  # noqa: E402
from tvm.script import relax as R  # noqa: E402

from planctl.lowering.fast_math import fast_math_pass  # noqa: E402

pytestmark = pytest.mark.tvm


@I.ir_module
class Gelu:
    @R.function
    def main(x: R.Tensor((4, 8), "float32")) -> R.Tensor((4, 8), "float32"):
        with R.dataflow():
            y = R.nn.gelu(x)
            z = R.exp(y)
            R.output(z)
        return z


def _expected():
    def gelu(x):
        return x * (topi.fast_erf(x * (1.0 / math.sqrt(2.0))) + 1.0) * 0.5

    bb = relax.BlockBuilder()
    x = relax.Var("x", R.Tensor((4, 8), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(bb.call_te(gelu, x, primfunc_name_hint="fast_gelu"))
            z = bb.emit_output(bb.call_te(topi.fast_exp, y))
        bb.emit_func_output(z)
    return bb.get()


def test_gelu_and_exp_become_fast_kernels():
    tvm.ir.assert_structural_equal(fast_math_pass()(Gelu), _expected())


def test_fast_gelu_stays_within_float32_parity_tolerance(cpu_target):
    x = np.linspace(-6, 6, 32, dtype="float32").reshape(4, 8)
    results = []
    for mod in (Gelu, fast_math_pass()(Gelu)):
        vm = relax.VirtualMachine(tvm.compile(mod, cpu_target), tvm.cpu())
        results.append(vm["main"](tvm.runtime.tensor(x)).numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)
