"""Report: the run record assembled from the stages' results alone, written as report.json,
report.md and report.html into the staging folder. Paths into the staging folder (parity
counterexamples) are written as they will be once the folder is renamed to its destination."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from planctl.apply.context import RunContext
from planctl.apply.stages.build import Builds
from planctl.apply.stages.decide import Decided
from planctl.apply.stages.documents import Documents
from planctl.apply.stages.emit import Emitted
from planctl.apply.stages.lowering import Lowering
from planctl.apply.stages.measure import Measured
from planctl.apply.stages.profile import Profiles
from planctl.apply.stages.tuning import Tuning
from planctl.apply.stages.verify import Verification
from planctl.report.record import Build, Legality, Parity, Quality, Roofline, RunRecord


def run(ctx: RunContext, documents: Documents, legality: Legality, lowering: Lowering, tuning: Tuning,
        builds: Builds, verification: Verification, profiles: Profiles, measured: Optional[Measured],
        decided: Decided,
        emitted: Emitted) -> RunRecord:
    from planctl.report.write import write_reports

    destination = Path(emitted.destination)
    parity = [_published(ctx, p, destination) for p in verification.parity]
    fallback = [_published(ctx, p, destination) for p in verification.fallback]
    quality = _by_shape(verification.quality, lowering)
    shapes = [Build(shape_env=low.shape_env, tag=low.tag, input_names=low.input_names,
                    output_names=low.output_names, tuning=tuned, libraries=built.libraries, parity=checked,
                    fallback_parity=base, quality=scored, flops=low.flops, planned_memory=built.planned_memory,
                    kernel_routes=low.kernel_routes, gpu_profile=profile, cpu_profile=cpu_profile)
              for low, tuned, built, checked, base, scored, profile, cpu_profile in zip(
                  lowering.shapes, tuning.shapes, builds.shapes, parity, fallback, quality, profiles.shapes,
                  profiles.cpu or [None] * len(lowering.shapes))]
    failures = [f.model_copy(update={"log": ctx.output.published(f.log, destination)}) for f in verification.failures]
    passes = next((low.passes for low in reversed(lowering.shapes) if low.passes), [])
    record = RunRecord(created=ctx.clock.started, plan=documents.plan, target=documents.target,
                       model=documents.model, legality=legality, environment=lowering.environment,
                       techniques=lowering.techniques, stages=ctx.clock.stages, passes=passes,
                       builds=shapes, failures=failures, parity=parity, quality=verification.quality,
                       bisect=verification.bisect,
                       latency=measured.latency if measured else {},
                       measurement=measured.measurement if measured else None,
                       speedup=measured.speedup if measured else None,
                       memory=decided.memory, roofline=_roofline(ctx, lowering, measured), decision=decided.decision,
                       fallback=emitted.fallback, artifacts=emitted.artifacts, library_sha256=emitted.library_sha256,
                       inputs=emitted.inputs, notes=[*lowering.notes, *verification.notes,
                                                     *(measured.notes if measured else []), *ctx.notes,
                                                     *emitted.notes])
    write_reports(record, ctx.staging)
    return record


def _by_shape(quality: list[Quality], lowering: Lowering) -> list[Optional[Quality]]:
    """The quality result of each production shape (None where none was scored: no candidate)."""
    return [next((q for q in quality if q.shape_env == low.shape_env), None) for low in lowering.shapes]


def _published(ctx: RunContext, parity: Parity, destination: Path) -> Parity:
    return parity.model_copy(update={"counterexample": ctx.output.published(parity.counterexample, destination),
                                     "replay": ctx.output.published(parity.replay, destination)})


def _roofline(ctx: RunContext, lowering: Lowering, measured: Optional[Measured]) -> Roofline | None:
    """The candidate placed against the target's peaks, at the first (measured) production shape."""
    from planctl.report.roofline import placement

    if measured is None or lowering.shapes[0].flops is None:
        return None
    peaks = ctx.target.model.spec.roofline
    found = placement(lowering.shapes[0].flops.model_dump(), measured.latency["candidate"].model_dump(),
                      peaks.model_dump() if peaks is not None else None,
                      latency_baseline=measured.latency["baseline"].model_dump(), dtype=_compute_dtype(ctx))
    return Roofline(**found) if found is not None else None


def _compute_dtype(ctx: RunContext) -> str:
    """The dtype the kernels compute in: a precision-changing technique's activations, else float32."""
    for t in ctx.techniques:
        if t.technique in ("mixed-precision", "quantization"):
            return t.precision.activations
    return "float32"
