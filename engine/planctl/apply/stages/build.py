"""Build: each shape's scheduled module compiled into the candidate, and both the candidate and
the baseline exported as libraries into the staging folder (what verify, measure and emit use)."""
from __future__ import annotations

from planctl.apply.context import RunContext, ShapeWork
from planctl.report.record import Evidence, Libraries, PlannedMemory


class ShapeBuild(Evidence):
    tag: str
    libraries: Libraries
    planned_memory: PlannedMemory


class Builds(Evidence):
    shapes: list[ShapeBuild]


def run(ctx: RunContext) -> Builds:
    """Set each shape's ``candidate`` executable and ``libraries`` (``.so`` in the staging folder)."""
    return Builds(shapes=[_build(ctx, work) for work in ctx.shapes])


def _build(ctx: RunContext, work: ShapeWork) -> ShapeBuild:
    from planctl.lowering import build
    from planctl.lowering.memory import planned_memory
    from planctl.lowering.techniques import disabled_passes

    off = disabled_passes(ctx.spec)
    with ctx.clock(f"candidate-build[{work.tag}]"):
        work.candidate = build.build_candidate(work.scheduled, ctx.tvm_target, ctx.techniques, disabled_passes=off)
        work.libraries = {"baseline": ctx.staging / f"baseline-{work.tag}.so",
                          "candidate": ctx.staging / f"candidate-{work.tag}.so"}
        work.baseline.export_library(str(work.libraries["baseline"]))
        work.candidate.export_library(str(work.libraries["candidate"]))
    planned = planned_memory(work.scheduled, ctx.tvm_target, static_planning="StaticPlanBlockMemory" not in off)
    return ShapeBuild(tag=work.tag, libraries=Libraries(**{k: v.name for k, v in work.libraries.items()}),
                      planned_memory=PlannedMemory(**planned))
