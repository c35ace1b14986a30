"""planctl.lowering.build: the candidate's passes under the per-pass recorder, the database swap,
and the candidate build with a default pass switched off (TVMScript modules)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")
sys.path.insert(0, str(Path(__file__).parent))
from lowering_harness import technique  # noqa: E402
from tvm import relax  # noqa: E402
from tvm.script import ir as I  # noqa: E402
from tvm.script import relax as R  # noqa: E402

from planctl.lowering import build  # noqa: E402

pytestmark = pytest.mark.tvm


@I.ir_module
class AddRelu:
    @R.function
    def main(x: R.Tensor((8, 8), "float32"), y: R.Tensor((8, 8), "float32")) -> R.Tensor((8, 8), "float32"):
        with R.dataflow():
            z = R.add(x, y)
            w = R.nn.relu(z)
            R.output(w)
        return w


def _techniques(*names):
    return [technique(n) for n in names]


def test_make_target_passes_the_dict_through_with_its_host():
    cuda = build.make_target({"kind": "cuda", "arch": "sm_90", "host": {"kind": "llvm", "mcpu": "znver3"}})
    assert cuda.kind.name == "cuda" and cuda.host.kind.name == "llvm" and build.is_gpu(cuda)
    assert not build.is_gpu(build.make_target({"kind": "llvm", "mcpu": "haswell"}))


def test_lower_candidate_legalizes_and_fuses_and_records_each_top_level_pass(cpu_target):
    lowered = build.lower_candidate(AddRelu, cpu_target, _techniques("operator-fusion"))
    names = [p.name for p in lowered.passes]
    assert names[-2:] == ["FuseOps", "FuseTIR"] and "LegalizeOps" in names
    fuse = lowered.passes[-1]
    assert (fuse.prim_funcs_before, fuse.prim_funcs_after) == (2, 1)   # add and relu: one kernel
    prims = [gv.name_hint for gv, f in lowered.mod.functions.items() if isinstance(f, tvm.tirx.PrimFunc)]
    assert prims == ["fused_add_relu"]


def test_apply_database_counts_what_it_scheduled(cpu_target, tmp_path):
    from tvm.s_tir import meta_schedule as ms

    lowered = build.lower_candidate(AddRelu, cpu_target, _techniques("operator-fusion")).mod
    empty = ms.database.MemoryDatabase()
    mod, scheduled, total = build.apply_database(lowered, cpu_target, empty)
    assert (scheduled, total) == (0, 1)
    tvm.ir.assert_structural_equal(mod, lowered)   # nothing to apply: the module is unchanged


def _run(executable, x, y):
    vm = relax.VirtualMachine(executable, tvm.cpu())
    return vm["main"](tvm.runtime.tensor(x), tvm.runtime.tensor(y)).numpy()


def test_candidate_builds_with_and_without_static_memory_planning(cpu_target):
    x, y = np.full((8, 8), -1.0, "float32"), np.arange(64, dtype="float32").reshape(8, 8)
    lowered = build.lower_candidate(AddRelu, cpu_target, _techniques("operator-fusion")).mod
    planned = build.build_candidate(lowered, cpu_target, [])
    unplanned = build.build_candidate(lowered, cpu_target, [], disabled_passes=["StaticPlanBlockMemory"])
    np.testing.assert_array_equal(_run(planned, x, y), np.maximum(x + y, 0))
    np.testing.assert_array_equal(_run(unplanned, x, y), np.maximum(x + y, 0))


def test_prepack_passes_only_when_autotuning_asks():
    assert build.prepack_passes(_techniques("operator-fusion")) == []
    tuning = technique("autotuning", budget={"trials": 1, "wall_clock_s": 1}, prepack_weights=True)
    names = [p.info.name for p in build.prepack_passes([tuning])]
    assert names == ["AttachAttrLayoutFreeBuffers", "KeepGatherLayouts", "SplitLayoutRewritePreproc", "FoldConstant"]
    assert build.PREPACK_BEFORE_TUNING == 2
