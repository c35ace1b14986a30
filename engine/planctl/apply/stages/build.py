"""Build: each shape's scheduled module compiled into the candidate, and both the candidate and
the baseline exported as libraries into the staging folder (what verify, measure and emit use).
A TVM failure while building or exporting the candidate is recorded on the shape (the run goes on
with the baseline); one while exporting the baseline stops apply (planctl.lowering.failures)."""
from __future__ import annotations

from typing import Optional

from planctl.apply.context import RunContext, ShapeWork
from planctl.report.record import Evidence, KernelPath, Libraries, PlannedMemory


class ShapeBuild(Evidence):
    tag: str
    libraries: Libraries
    planned_memory: Optional[PlannedMemory]   # None without a candidate
    kernel_path: Optional[KernelPath] = None   # the int8 kernels' path and its proof, when the plan quantizes
    float_planned_bytes: Optional[int] = None  # activation memory of the same graph in float32, when it quantizes


class Builds(Evidence):
    shapes: list[ShapeBuild]


def run(ctx: RunContext) -> Builds:
    """Set each shape's ``candidate`` executable and ``libraries`` (``.so`` in the staging folder)."""
    return Builds(shapes=[_build(ctx, work) for work in ctx.shapes])


def _baseline_library(ctx: RunContext, work: ShapeWork):
    """The baseline's library in the staging folder: the shared dynamic one (exported once), else
    this bucket's ``baseline-<tag>.so``."""
    from planctl.apply.stages.lowering import model_errors_at_plan
    from planctl.lowering.failures import tvm_stage

    shared = ctx.shared_baseline
    tag = shared.TAG if shared is not None else work.tag
    library = ctx.staging / f"baseline-{tag}.so"
    if shared is not None and shared.library is not None:
        return shared.library
    with model_errors_at_plan(ctx), tvm_stage("export", shape=tag, file=str(ctx.model_file),
                                              hint="the baseline build could not be exported as a library"):
        work.baseline.export_library(str(library))
    if shared is not None:
        shared.library = library
    return library


def _build(ctx: RunContext, work: ShapeWork) -> ShapeBuild:
    from planctl.lowering import build
    from planctl.lowering.failures import tvm_stage
    from planctl.lowering.memory import planned_memory
    from planctl.lowering.techniques import disabled_passes

    off = disabled_passes(ctx.spec)
    planned = None
    with ctx.clock(f"candidate-build[{work.tag}]"):
        work.libraries = {"baseline": _baseline_library(ctx, work)}
        if work.failure is None:
            with tvm_stage("candidate-build", shape=work.tag, log_dir=ctx.staging, record=True) as capture:
                work.candidate = build.build_candidate(work.scheduled, ctx.tvm_target, ctx.techniques,
                                                       disabled_passes=off, instruments=capture.instruments)
                library = ctx.staging / f"candidate-{work.tag}.so"
                work.candidate.export_library(str(library))
                work.libraries["candidate"] = library
                planned = PlannedMemory(**planned_memory(work.scheduled, ctx.tvm_target,
                                                         static_planning="StaticPlanBlockMemory" not in off))
            if capture.failure is not None:
                work.failure, work.candidate, planned = capture.failure, None, None
                work.libraries.pop("candidate", None)
                (ctx.staging / f"candidate-{work.tag}.so").unlink(missing_ok=True)   # no half-written library
    return ShapeBuild(tag=work.tag, libraries=Libraries(**{k: v.name for k, v in work.libraries.items()}),
                      planned_memory=planned, kernel_path=_kernel_path(ctx, work),
                      float_planned_bytes=_float_planned_bytes(ctx, work))


def _kernel_path(ctx: RunContext, work: ShapeWork) -> Optional[KernelPath]:
    """Which int8 path the candidate's kernels took, from its scheduled TIR and machine code (none
    without a candidate build)."""
    from planctl.documents.techniques import find
    from planctl.lowering.int8_kernels import kernel_path
    from planctl.lowering.quant_scheme import FLOAT_DTYPES
    from planctl.report.quantization import kernel_evidence

    technique = find(ctx.techniques, "quantization")
    if technique is None or work.scheduled is None:
        return None
    path = None if technique.precision.activations in FLOAT_DTYPES else kernel_path(ctx.tvm_target)
    return kernel_evidence(path, work.scheduled, work.candidate)


def _float_planned_bytes(ctx: RunContext, work: ShapeWork) -> Optional[int]:
    """The activation memory the float32 graph plans (legalized and fused, as TVM's default build
    lowers it), to set the quantized build's beside it."""
    from planctl.documents.techniques import find
    from planctl.report.quantization import float_planned_bytes

    if find(ctx.techniques, "quantization") is None:
        return None
    return float_planned_bytes(work.imported.mod, ctx.tvm_target)
