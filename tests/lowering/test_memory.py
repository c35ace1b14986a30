"""planctl.lowering.memory: the bytes StaticPlanBlockMemory plans for a small chain, and the
per-tensor total when a plan switches static memory planning off."""
from __future__ import annotations

import pytest

tvm = pytest.importorskip("tvm")
from tvm.script import ir as I  # noqa: E402
from tvm.script import relax as R  # noqa: E402

from planctl.lowering.build import lower_candidate  # noqa: E402
from planctl.lowering.memory import planned_memory  # noqa: E402

pytestmark = pytest.mark.tvm


@I.ir_module
class Chain:
    """Three elementwise steps on 16x16 float32 (1 KiB each): two intermediates and the result."""

    @R.function
    def main(x: R.Tensor((16, 16), "float32")) -> R.Tensor((16, 16), "float32"):
        with R.dataflow():
            a = R.exp(x)
            b = R.exp(a)
            c = R.exp(b)
            R.output(c)
        return c


def test_static_planning_reuses_storage_for_the_intermediates(cpu_target):
    found = planned_memory(lower_candidate(Chain, cpu_target, []).mod, cpu_target)
    # a and b are alive together (b reads a): two 1 KiB blocks; the result is allocated apart
    assert found == {"planned_bytes": 2048, "storages": 2, "output_bytes": 1024, "dynamic_storages": 0,
                     "static_planning": True}


def test_without_static_planning_every_tensor_is_its_own_allocation(cpu_target):
    found = planned_memory(lower_candidate(Chain, cpu_target, []).mod, cpu_target, static_planning=False)
    assert found == {"planned_bytes": 3072, "storages": 3, "output_bytes": 0, "dynamic_storages": 0,
                     "static_planning": False}
