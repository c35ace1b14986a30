"""The per-kernel CPU profile (planctl.measure.cpu_profile): per-call time, share, GFLOP/s and
allocations from TVM's VM instrument; the summary is checked without TVM, the instrument on a
two-kernel Relax module built here."""
from __future__ import annotations

import pytest

from planctl.measure.cpu_profile import summarize

FLOPS = {"kernels": [{"name": "matmul", "calls": 1, "flops": 2e9, "bytes": 0},
                     {"name": "dense", "calls": 1, "flops": 1e9, "bytes": 0}]}


def test_the_summary_gives_per_call_time_share_rate_and_allocations():
    spent = {"matmul": 40_000_000, "add": 10_000_000, "vm.builtin.alloc_storage": 0, "vm.builtin.alloc_tensor": 0}
    launches = {"matmul": 4, "add": 8, "vm.builtin.alloc_storage": 2, "vm.builtin.alloc_tensor": 6}
    found = summarize(spent, launches, calls=2, flops=FLOPS, plain_ms=[20.0, 22.0, 21.0], instrumented_ms=[26.0])
    rows = {r["name"]: r for r in found["rows"]}
    assert [r["name"] for r in found["rows"]][:2] == ["matmul", "add"]
    assert rows["matmul"]["ms_per_call"] == pytest.approx(20.0) and rows["matmul"]["launches_per_call"] == 2
    assert rows["matmul"]["share"] == pytest.approx(0.8) and rows["matmul"]["gflops"] == pytest.approx(100.0)
    assert rows["add"]["gflops"] is None and rows["vm.builtin.alloc_storage"]["kind"] == "builtin"
    assert found["allocations_per_call"] == {"vm.builtin.alloc_storage": 1.0, "vm.builtin.alloc_tensor": 3.0}
    assert found["plain_ms"] == 21.0 and found["kernel_ms"] == pytest.approx(25.0)
    assert found["launches_per_call"] == 6


def test_a_kernel_renamed_by_weight_prepacking_keeps_its_flops():
    found = summarize({"dense_prepacked": 10_000_000}, {"dense_prepacked": 1}, calls=1, flops=FLOPS,
                      plain_ms=[10.0], instrumented_ms=[10.0])
    assert found["rows"][0]["flops_per_call"] == 1e9 and found["rows"][0]["gflops"] == pytest.approx(100.0)
    assert found["kernel_gflops"] == pytest.approx(100.0)


def test_a_library_routes_calls_of_every_size_add_up_under_its_symbol():
    flops = {"kernels": [{"name": "planctl_blas_gemm_bias M=64 N=1152 K=384 float32->float32", "flops": 3e8},
                         {"name": "planctl_blas_gemm_bias M=64 N=1536 K=384 float32->float32", "flops": 4e8},
                         {"name": "planctl_blas_gemm_bias_residual M=64 N=384 K=384 float32->float32", "flops": 1e8}]}
    found = summarize({"planctl_blas_gemm_bias": 7_000_000}, {"planctl_blas_gemm_bias": 12}, calls=1, flops=flops,
                      plain_ms=[7.0], instrumented_ms=[7.0])
    assert found["rows"][0]["flops_per_call"] == 7e8 and found["rows"][0]["gflops"] == pytest.approx(100.0)


@pytest.mark.tvm
def test_the_vm_instrument_times_each_kernel_of_a_built_module():
    np = pytest.importorskip("numpy")
    tvm = pytest.importorskip("tvm")
    from tvm import relax

    from planctl.lowering.flops import workload_flops
    from planctl.measure.cpu_profile import profile_artifact

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((32, 64), "float32"))
    w = relax.Var("w", relax.TensorType((64, 16), "float32"))
    with bb.function("main", [x, w]):
        with bb.dataflow():
            y = bb.emit(relax.op.matmul(x, w))
            out = bb.emit_output(relax.op.exp(y))
        bb.emit_func_output(out)
    mod = relax.transform.LegalizeOps()(bb.get())
    flops = workload_flops(mod)
    executable = tvm.compile(mod, tvm.target.Target("llvm"))
    inputs = {"x": np.ones((32, 64), "float32"), "w": np.ones((64, 16), "float32")}
    found = profile_artifact(executable, ["x", "w"], inputs, flops, calls=3)
    kernels = {r["name"]: r for r in found["rows"] if r["kind"] == "kernel"}
    assert set(kernels) == {"matmul", "tir_exp"} and found["launches_per_call"] == 2
    assert kernels["matmul"]["flops_per_call"] == 2 * 32 * 64 * 16 and kernels["matmul"]["gflops"] > 0
    assert sum(r["share"] for r in found["rows"]) == pytest.approx(1.0)
    assert found["plain_ms"] > 0 and found["instrumented_ms"] > 0


def test_a_time_budget_scales_the_calls_down_but_keeps_a_median_of_three():
    """A call that takes longer than the budget allows still gets MIN_CALLS plain and instrumented
    calls and one warm-up: 7 calls, not 45 (MiniLM's large buckets cost the main job minutes)."""
    pytest.importorskip("tvm")
    import time as clock

    from planctl.measure import cpu_profile

    made = []

    class SlowVM:
        def __getitem__(self, name):
            return lambda *args: (made.append(1), clock.sleep(0.05))

        def set_instrument(self, hook):
            pass

    found = cpu_profile.profile_vm(SlowVM(), [], calls=20, max_seconds=0.01)
    assert found["calls"] == cpu_profile.MIN_CALLS and len(made) == 1 + 2 * cpu_profile.MIN_CALLS
    assert "after 1 warm-up calls" in found["method"]
