"""Profile: the per-kernel profile of each shape's candidate. On CUDA targets the GPU profile
(planctl.measure.gpu_profile): time, share, achieved TFLOP/s or GB/s and tensor-core use of each
kernel, and launches per call (whether CUDA graphs are active). On CPU targets the CPU profile
(planctl.measure.cpu_profile, TVM's VM instrument): time, share and GFLOP/s of each kernel, time in
VM builtins and allocations per call. Evidence only: a profiler that cannot run is recorded as
unavailable and never fails the apply."""
from __future__ import annotations

from typing import Optional, Union

from planctl.apply.context import RunContext, ShapeWork
from planctl.apply.stages.lowering import Lowering
from planctl.report.record import (CpuProfile, CpuProfileUnavailable, Evidence, GpuProfile, GpuProfileUnavailable,
                                   WorkloadFlops)

Profile = Union[GpuProfile, GpuProfileUnavailable]
# seconds of CPU profiling per bucket: MiniLM's 32 x 128 bucket takes seconds a call on 2 cores, and 45
# calls of it cost the main job minutes (measured: ~180 s over four buckets on a shared 2-core host)
CPU_PROFILE_MAX_SECONDS = 10.0
CpuProfiled = Union[CpuProfile, CpuProfileUnavailable]


class Profiles(Evidence):
    shapes: list[Optional[Profile]]   # by production shape; None on CPU targets
    cpu: list[Optional[CpuProfiled]] = []  # by production shape; None on CUDA targets or without a candidate


def run(ctx: RunContext, lowering: Lowering) -> Profiles:
    """``lowering``: its FLOP counts, taken before the build, give each kernel's FLOPs and bytes."""
    if ctx.device_kind != "cuda":
        return Profiles(shapes=[None] * len(ctx.shapes),
                        cpu=[_cpu_profile(ctx, work, low.flops) if work.has_candidate else None
                             for work, low in zip(ctx.shapes, lowering.shapes)])
    return Profiles(shapes=[_profile(ctx, work, low.flops) for work, low in zip(ctx.shapes, lowering.shapes)],
                    cpu=[None] * len(ctx.shapes))


def _first_line(exc: Exception) -> str:
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {first}"


def _cpu_profile(ctx: RunContext, work: ShapeWork, flops: Optional[WorkloadFlops]) -> CpuProfiled:
    from planctl.measure.cpu_profile import profile_artifact
    from planctl.verify.strategies import example_inputs

    with ctx.clock(f"cpu-profile[{work.tag}]"):
        try:
            example = example_inputs(ctx.spec, work.shape_env, seed=0)
            found = profile_artifact(work.candidate, work.imported.input_names, example,
                                     flops.model_dump() if flops is not None else None,
                                     max_seconds=CPU_PROFILE_MAX_SECONDS)
            return CpuProfile(**found)
        except Exception as exc:  # noqa: BLE001 - evidence only; the build itself was verified before
            return CpuProfileUnavailable(reason=_first_line(exc))


def _profile(ctx: RunContext, work: ShapeWork, flops: WorkloadFlops) -> Profile:
    from planctl.lowering.vm import vm_callable
    from planctl.measure.gpu_profile import cuda_source, profile_build
    from planctl.verify.strategies import example_inputs

    with ctx.clock(f"gpu-profile[{work.tag}]"):
        try:
            example = example_inputs(ctx.spec, work.shape_env, seed=0)
            call = vm_callable(work.candidate, work.imported.input_names, ctx.device_kind).bound(example)
            found = profile_build(call, work.scheduled, cuda_source(work.candidate), flops=flops.model_dump())
            return GpuProfile(**found) if found.get("available") else GpuProfileUnavailable(**found)
        except Exception as exc:  # noqa: BLE001 - evidence only; the build itself was verified before
            return GpuProfileUnavailable(reason=_first_line(exc))
