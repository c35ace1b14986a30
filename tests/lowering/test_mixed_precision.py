"""planctl.lowering.mixed_precision: keep_fp32_ops names resolve to Relax operators, and the
KeepFloat32 pass computes the named operators in float32 (TVMScript before and after)."""
from __future__ import annotations

import pytest

tvm = pytest.importorskip("tvm")
from tvm.script import ir as I  # noqa: E402
from tvm.script import relax as R  # noqa: E402

from planctl.lowering.mixed_precision import keep_float32, relax_op_name  # noqa: E402

pytestmark = pytest.mark.tvm


@I.ir_module
class HalfLayerNorm:
    @R.function
    def main(x: R.Tensor((2, 4), "float16"), g: R.Tensor((4,), "float16"),
             b: R.Tensor((4,), "float16")) -> R.Tensor((2,), "float32"):
        with R.dataflow():
            y = R.nn.layer_norm(x, g, b, axes=[-1])
            s = R.exp(y)
            t = R.astype(s, "float32")
            u = R.sum(t, axis=[-1])
            R.output(u)
        return u


def test_operator_names_are_relax_names_without_the_namespace():
    assert relax_op_name("softmax") == "relax.nn.softmax"
    assert relax_op_name("layer_norm") == "relax.nn.layer_norm"
    assert relax_op_name("sum") == "relax.sum" and relax_op_name("mean") == "relax.mean"
    assert relax_op_name("softmaxx") is None


def test_a_kept_operator_with_float16_arguments_runs_in_float32():
    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((2, 4), "float16"), g: R.Tensor((4,), "float16"),
                 b: R.Tensor((4,), "float16")) -> R.Tensor((2,), "float32"):
            with R.dataflow():
                x32 = R.astype(x, "float32")
                g32 = R.astype(g, "float32")
                b32 = R.astype(b, "float32")
                y32 = R.nn.layer_norm(x32, g32, b32, axes=[-1])
                y = R.astype(y32, "float16")
                s = R.exp(y)
                t = R.astype(s, "float32")
                u = R.sum(t, axis=[-1])
                R.output(u)
            return u

    after = keep_float32(["layer_norm", "sum"])(HalfLayerNorm)   # sum already has float32 inputs
    tvm.ir.assert_structural_equal(after, Expected)


def test_nothing_to_keep_leaves_the_module_alone():
    tvm.ir.assert_structural_equal(keep_float32([])(HalfLayerNorm), HalfLayerNorm)
    tvm.ir.assert_structural_equal(keep_float32(["softmax"])(HalfLayerNorm), HalfLayerNorm)
