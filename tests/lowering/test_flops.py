"""planctl.lowering.flops: FLOPs and compulsory bytes of a legalized module, per kernel launch."""
from __future__ import annotations

import pytest

tvm = pytest.importorskip("tvm")
from tvm.script import ir as I  # noqa: E402
from tvm.script import relax as R  # noqa: E402

from planctl.lowering.build import lower_candidate  # noqa: E402
from planctl.lowering.flops import workload_flops  # noqa: E402

pytestmark = pytest.mark.tvm


@I.ir_module
class TwoMatmuls:
    @R.function
    def main(x: R.Tensor((8, 16), "float32"), w: R.Tensor((16, 32), "float32")) -> R.Tensor((8, 32), "float32"):
        with R.dataflow():
            y = R.matmul(x, w)
            z = R.matmul(x, w)
            s = R.add(y, z)
            R.output(s)
        return s


def test_matmul_flops_are_two_per_multiply_add_and_bytes_each_argument_once(cpu_target):
    found = workload_flops(lower_candidate(TwoMatmuls, cpu_target, []).mod)
    matmul = next(k for k in found["kernels"] if k["name"].startswith("matmul"))
    assert matmul["calls"] == 2 and matmul["flops"] == 2 * (2 * 8 * 16 * 32)
    assert matmul["bytes"] == 2 * 4 * (8 * 16 + 16 * 32 + 8 * 32)
    assert found["launches"] == 3 and found["flops"] >= matmul["flops"]
    assert found["intensity"] == pytest.approx(found["flops"] / found["bytes"])
    assert found["unestimated"] == []
