"""planctl.lowering.vm: the one VM callable, from an executable or an exported library."""
from __future__ import annotations

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")
from tvm.script import ir as I  # noqa: E402
from tvm.script import relax as R  # noqa: E402

from planctl.lowering.vm import vm_callable  # noqa: E402

pytestmark = pytest.mark.tvm


@I.ir_module
class TwoOutputs:
    @R.function
    def main(a: R.Tensor((2,), "float32"), b: R.Tensor((2,), "float32")):
        with R.dataflow():
            s = R.add(a, b)
            d = R.subtract(a, b)
            out = (s, d)
            R.output(out)
        return out


@I.ir_module
class OneOutput:
    @R.function
    def main(a: R.Tensor((2,), "float32")) -> R.Tensor((2,), "float32"):
        with R.dataflow():
            s = R.add(a, a)
            R.output(s)
        return s


def test_inputs_by_name_outputs_as_a_list(cpu_target):
    run = vm_callable(tvm.compile(TwoOutputs, cpu_target), ["a", "b"])
    a, b = np.array([1, 2], "float32"), np.array([3, 5], "float32")
    total, diff = run({"b": b, "a": a})
    np.testing.assert_array_equal(total, a + b)
    np.testing.assert_array_equal(diff, a - b)


def test_a_library_path_and_a_bound_call(cpu_target, tmp_path):
    path = tmp_path / "one.so"
    tvm.compile(OneOutput, cpu_target).export_library(str(path))
    run = vm_callable(path, ["a"], "cpu")
    [out] = run({"a": np.array([1, 2], "float32")})
    np.testing.assert_array_equal(out, [2, 4])
    call = run.bound({"a": np.array([1, 2], "float32")})
    assert call() is not None   # main on inputs already on the device, for timing
