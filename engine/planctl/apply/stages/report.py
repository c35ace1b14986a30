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
from planctl.report.record import (Build, BucketChoice, Legality, Parity, Quality, Quantization, Roofline, RunRecord,
                                   Traffic, TrafficPoint, TrafficSummary)


def run(ctx: RunContext, documents: Documents, legality: Legality, lowering: Lowering, tuning: Tuning,
        builds: Builds, verification: Verification, profiles: Profiles, measured: Measured,
        decided: Decided,
        emitted: Emitted) -> RunRecord:
    from planctl.report.write import write_reports

    destination = Path(emitted.destination)
    parity = [_published(ctx, p, destination) for p in verification.parity]
    fallback = [_published(ctx, p, destination) for p in verification.fallback]
    quality = _by_shape(verification.quality, lowering)
    shares = _bucket_shares(ctx)
    shapes = [Build(shape_env=low.shape_env, tag=low.tag, input_names=low.input_names,
                    output_names=low.output_names, tuning=tuned, libraries=built.libraries, parity=checked,
                    fallback_parity=base, quality=scored, flops=low.flops, planned_memory=built.planned_memory,
                    kernel_routes=low.kernel_routes, gpu_profile=profile, cpu_profile=cpu_profile, padding=padded,
                    latency=done.latency if done else {}, speedup=done.speedup if done else None,
                    measurement=done.measurement if done else None, traffic_share=shares.get(low.tag))
              for low, tuned, built, checked, base, scored, profile, cpu_profile, padded, done in zip(
                  lowering.shapes, tuning.shapes, builds.shapes, parity, fallback, quality, profiles.shapes,
                  profiles.cpu or [None] * len(lowering.shapes), verification.padding, measured.buckets)]
    first = measured.first
    failures = [f.model_copy(update={"log": ctx.output.published(f.log, destination)}) for f in verification.failures]
    passes = next((low.passes for low in reversed(lowering.shapes) if low.passes), [])
    record = RunRecord(created=ctx.clock.started, plan=documents.plan, target=documents.target,
                       model=documents.model, legality=legality, environment=lowering.environment,
                       techniques=lowering.techniques, stages=ctx.clock.stages, passes=passes,
                       builds=shapes, failures=failures, parity=parity, quality=verification.quality,
                       bisect=verification.bisect,
                       quantization=_quantization(ctx, lowering, builds, verification, decided),
                       buckets=_choice(ctx, lowering), traffic=_traffic(ctx, shapes, decided, measured),
                       latency=first.latency if first else {},
                       measurement=first.measurement if first else None,
                       speedup=first.speedup if first else None,
                       memory=decided.memory, roofline=_roofline(ctx, lowering, first), decision=decided.decision,
                       fallback=emitted.fallback, artifacts=emitted.artifacts, library_sha256=emitted.library_sha256,
                       inputs=emitted.inputs, notes=[*lowering.notes, *verification.notes,
                                                     *measured.notes,
                                                     *(n for b in measured.buckets if b for n in b.notes), *ctx.notes,
                                                     *emitted.notes])
    write_reports(record, ctx.staging)
    return record


def _by_shape(quality: list[Quality], lowering: Lowering) -> list[Optional[Quality]]:
    """The quality result of each production shape (None where none was scored: no candidate)."""
    return [next((q for q in quality if q.shape_env == low.shape_env), None) for low in lowering.shapes]


def _published(ctx: RunContext, parity: Parity, destination: Path) -> Parity:
    return parity.model_copy(update={"counterexample": ctx.output.published(parity.counterexample, destination),
                                     "replay": ctx.output.published(parity.replay, destination)})


def _quantization(ctx: RunContext, lowering: Lowering, builds: Builds, verification: Verification,
                  decided: Decided) -> Quantization | None:
    """The quantized operators, kernel path, size and memory against the float build (first shape),
    and the sensitivity search, when the plan quantizes."""
    from planctl.documents.techniques import find
    from planctl.report.quantization import size_evidence

    technique = find(ctx.techniques, "quantization")
    if technique is None:
        return None
    work, built, lowered = ctx.shapes[0], builds.shapes[0], lowering.shapes[0]
    planned = built.planned_memory.planned_bytes if built.planned_memory is not None else None
    size = size_evidence(lowered.quantization, work.libraries.get("candidate"), work.libraries["baseline"],
                         planned, built.float_planned_bytes, decided.memory.peak_rss_mb_by_contender)
    return Quantization(settings=technique.model_dump(mode="json", exclude={"enabled"}), operators=lowered.quantization,
                        kernel=built.kernel_path, size=size, sensitivity=verification.sensitivity)


def _bucket_shares(ctx: RunContext) -> dict[str, float]:
    """Bucket tag -> the share of the declared traffic it serves."""
    from planctl.documents.shapes import bucket_for, shape_tag, traffic_mix

    envs = [w.shape_env for w in ctx.shapes]
    shares: dict[str, float] = {}
    for point in traffic_mix(ctx.spec):
        bucket = bucket_for(point.shape_env, envs)
        if bucket is not None:
            shares[shape_tag(bucket)] = shares.get(shape_tag(bucket), 0.0) + point.share
    return shares


def _choice(ctx: RunContext, lowering: Lowering) -> Optional[BucketChoice]:
    """How the production shapes were grouped into buckets, with the expected padded work of the
    choice against a build per declared shape and one build at the largest shape."""
    import itertools

    from planctl.documents.shapes import dim_points, expected_work, max_buckets, padded_work_by_max, traffic_mix

    shapes = ctx.spec.workload.production_shapes
    if not shapes:
        return None
    mix, names = traffic_mix(ctx.spec), list(shapes)
    grid = [dict(zip(names, c)) for c in itertools.product(*(dim_points(shapes[n]) for n in names))]
    top = [{n: shapes[n].max for n in names}]
    rule = ("every point of the dims' grid (min, opt, max and the declared values) is a bucket" if len(grid) <= max_buckets(ctx.spec)
            else f"the {max_buckets(ctx.spec)} grid points, the largest included, that minimise the expected padded work "
                 "(batch x seq elements) per call over the traffic mix (planctl.documents.shapes.choose_buckets)")
    return BucketChoice(buckets=[w.shape_env for w in ctx.shapes], max=max_buckets(ctx.spec), rule=rule,
                        expected_work=expected_work([w.shape_env for w in ctx.shapes], mix) if mix else None,
                        exact_work=expected_work(grid, mix) if mix else None,
                        max_only_work=expected_work(top, mix) if mix else None,
                        dynamic_baseline=lowering.dynamic_baseline, by_max=padded_work_by_max(ctx.spec),
                        build_mb=ctx.model_file.stat().st_size / 1e6)


def _traffic(ctx: RunContext, builds: list[Build], decided: Decided, measured: Measured) -> Optional[Traffic]:
    """Expected latency and throughput over the declared traffic mix: each point served by its
    bucket's deployed build at the bucket's shape (padded) against onnxruntime on the unpadded
    call (planctl.measure.traffic); None without a mix or an onnxruntime measurement of it."""
    from planctl.documents.shapes import bucket_for, shape_tag, traffic_mix
    from planctl.measure.traffic import summarize

    mix = traffic_mix(ctx.spec)
    if not mix or not measured.traffic_onnxruntime:
        return None
    serves = {b.tag: b.serves for b in decided.decision.buckets}
    by_tag = {b.tag: b for b in builds}
    points, ours, theirs = [], [], []
    for point in mix:
        bucket = bucket_for(point.shape_env, [b.shape_env for b in builds])
        tag = shape_tag(bucket) if bucket is not None else None
        build = by_tag.get(tag)
        served = build.latency.get(serves.get(tag) or "") if build is not None else None
        ort = measured.traffic_onnxruntime.get(shape_tag(point.shape_env))
        points.append(TrafficPoint(shape_env=point.shape_env, share=point.share, bucket=tag, planctl=served,
                                   onnxruntime=ort))
        batch = ort.batch_size if ort is not None else 1
        if served is not None:
            ours.append({"share": point.share, "batch": batch, "samples_ms": served.samples_ms})
        if ort is not None:
            theirs.append({"share": point.share, "batch": batch, "samples_ms": ort.samples_ms})
    covered = sum(p["share"] for p in ours)
    contenders = {"onnxruntime": TrafficSummary(**summarize(theirs))} if theirs else {}
    method = ("planctl: each traffic point runs on the build its bucket deploys, padded up to the bucket (that "
              "bucket's samples at its own shape); onnxruntime: one session with dynamic shapes on the unpadded "
              "call of each point, a fresh process per round, timed in the rounds of the bucket that serves the "
              "call, beside its candidate (at a bucket's own shape it differs from the Buckets table's onnxruntime "
              "p50 by the host's noise: other inputs, other processes); mix figures per planctl.measure.traffic")
    if ours and abs(covered - 1.0) < 1e-6:
        contenders["planctl"] = TrafficSummary(**summarize(ours))
    else:
        method += f"; planctl not summarised: only {covered:.0%} of the traffic has a measured deployed build"
    ratio = (contenders["planctl"].expected_ms / contenders["onnxruntime"].expected_ms
             if "planctl" in contenders and "onnxruntime" in contenders else None)
    return Traffic(points=points, contenders=contenders, ratio_vs_onnxruntime=ratio, method=method)


def _roofline(ctx: RunContext, lowering: Lowering, measured) -> Roofline | None:
    """The candidate placed against the target's peaks, at the first (measured) bucket."""
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
