"""planctl.apply.stages.profile: a candidate's per-kernel profile (GPU on CUDA targets, CPU on CPU
targets) becomes typed evidence; a profiler that cannot run is recorded as unavailable and never
fails the apply (no TVM or GPU needed: the VM and the profilers are stand-ins)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from planctl.apply.context import ShapeWork, StageClock
from planctl.apply.stages import profile
from planctl.report.record import CpuProfile, CpuProfileUnavailable, GpuProfile, GpuProfileUnavailable

FLOPS = {"flops": 1e9, "bytes": 1000, "intensity": 1e6, "launches": 1, "unestimated": [], "method": "test",
         "kernels": [{"name": "fused_a", "calls": 1, "flops": 1e9, "bytes": 1000}]}
TRACED = {"available": True, "calls": 5, "kernel_us_per_call": 10.0, "kernels_per_call": 1.0,
          "graph_launches_per_call": 1.0, "api_per_call": {"cudaGraphLaunch": 1.0}, "launches_per_call": 1.0,
          "cuda_graphs": True, "method": "stand-in",
          "rows": [{"name": "fused_a", "kernels": "fused_a_kernel", "launches_per_call": 1.0, "ms_per_call": 0.01,
                    "share": 1.0, "flops_per_call": 1e9, "bytes_per_call": 1000.0, "tflops": 100.0, "gbps": 100.0,
                    "tensor_cores": "yes"}]}


CPU_PROFILE = {"available": True, "calls": 20, "plain_ms": 5.0, "instrumented_ms": 5.5, "kernel_ms": 5.0,
               "builtin_ms": 0.1, "kernel_gflops": 200.0, "launches_per_call": 1.0, "method": "stand-in",
               "allocations_per_call": {"vm.builtin.alloc_storage": 1.0},
               "rows": [{"name": "fused_a", "kind": "kernel", "launches_per_call": 1.0, "ms_per_call": 5.0,
                         "share": 1.0, "flops_per_call": 1e9, "gflops": 200.0}]}


def _run(device_kind: str, candidate=None):
    from planctl.apply.stages.lowering import ShapeLowering
    from planctl.report.record import WorkloadFlops

    work = ShapeWork({"batch": 2}, "batch-2", imported=SimpleNamespace(input_names=["x"]), candidate=candidate)
    ctx = SimpleNamespace(device_kind=device_kind, shapes=[work], clock=StageClock(), spec=None)
    low = ShapeLowering(shape_env=work.shape_env, tag=work.tag, input_names=["x"], output_names=["y"], passes=[],
                        flops=WorkloadFlops(**FLOPS), kernel_routes=[])
    return profile.run(ctx, SimpleNamespace(shapes=[low])), ctx


@pytest.fixture
def stand_ins(monkeypatch):
    from planctl.lowering import vm
    from planctl.measure import gpu_profile
    from planctl.verify import strategies

    seen = {}
    monkeypatch.setattr(strategies, "example_inputs", lambda spec, env, seed: {"x": None})
    monkeypatch.setattr(vm, "vm_callable", lambda exe, names, kind: SimpleNamespace(bound=lambda inputs: "call"))
    monkeypatch.setattr(gpu_profile, "cuda_source", lambda exe: None)

    def profile_build(call, mod, source, flops):
        seen["flops"] = flops
        return dict(TRACED)
    monkeypatch.setattr(gpu_profile, "profile_build", profile_build)
    return seen


def test_a_cuda_candidate_gets_a_typed_profile_with_the_flops_counted_before_the_build(stand_ins):
    profiles, ctx = _run("cuda")
    [found] = profiles.shapes
    assert isinstance(found, GpuProfile) and found.cuda_graphs and found.rows[0].tensor_cores == "yes"
    assert stand_ins["flops"]["kernels"][0]["flops"] == 1e9
    assert [s.name for s in ctx.clock.stages] == ["gpu-profile[batch-2]"]


def test_a_profiler_error_is_recorded_as_unavailable(stand_ins, monkeypatch):
    from planctl.measure import gpu_profile

    def broken(*_args, **_kwargs):
        raise RuntimeError("CUPTI_ERROR_NOT_INITIALIZED\nmore detail")
    monkeypatch.setattr(gpu_profile, "profile_build", broken)
    [found] = _run("cuda")[0].shapes
    assert found == GpuProfileUnavailable(reason="RuntimeError: CUPTI_ERROR_NOT_INITIALIZED")


def test_a_cpu_target_without_a_candidate_is_not_profiled(stand_ins):
    profiles, ctx = _run("cpu")
    assert profiles.shapes == [None] and profiles.cpu == [None] and ctx.clock.stages == [] and stand_ins == {}


def test_a_cpu_candidate_gets_a_typed_cpu_profile_with_the_flops_counted_before_the_build(stand_ins, monkeypatch):
    from planctl.measure import cpu_profile

    def profile_artifact(library, names, inputs, flops, max_seconds=None):
        stand_ins.update(library=library, names=names, flops=flops)
        return dict(CPU_PROFILE)
    monkeypatch.setattr(cpu_profile, "profile_artifact", profile_artifact)
    profiles, ctx = _run("cpu", candidate="executable")
    [found] = profiles.cpu
    assert isinstance(found, CpuProfile) and found.rows[0].gflops == 200.0 and profiles.shapes == [None]
    assert stand_ins["library"] == "executable" and stand_ins["flops"]["kernels"][0]["flops"] == 1e9
    assert [s.name for s in ctx.clock.stages] == ["cpu-profile[batch-2]"]


def test_a_cpu_profiler_error_is_recorded_as_unavailable(stand_ins, monkeypatch):
    from planctl.measure import cpu_profile

    def broken(*_args, **_kwargs):
        raise RuntimeError("VM instrument failed\ndetail")
    monkeypatch.setattr(cpu_profile, "profile_artifact", broken)
    [found] = _run("cpu", candidate="executable")[0].cpu
    assert found == CpuProfileUnavailable(reason="RuntimeError: VM instrument failed")
