"""Verify, at every shape bucket: hypothesis parity of the bucket's candidate against onnxruntime,
the task quality when the plan declares one, that padding a smaller call up to the bucket leaves
its outputs unchanged (when the runtime may pad: planctl.verify.padding), and, at the first bucket
that violates the envelope, the bisection that names the techniques responsible. A candidate TVM
could not build fails parity by definition; bisection then names the technique whose passes break
the build. Counterexamples are written into the staging folder (the baseline's under fallback/).

TVM's baseline build is checked the same way at every bucket: it is the fallback the runtime
switch selects and what a bucket that rolls back deploys, so it must pass parity there too. It is
untuned, seconds per call on CPU (MiniLM: ~1.6 s at 8 x 16, ~50 s at 32 x 128 on one core), so
it runs in a fresh measurement process with every call timed (planctl.measure.timed): the same
calls verify it and give its latency samples for the performance gate, and its random examples
stop at ``baseline_max_seconds`` per bucket (at least one always runs). Its domain corners all run
at the first bucket (the least work); where one dynamic-shape baseline serves every bucket
(planctl.apply.stages.lowering) that checks the same build's values once, and the other buckets
check its shape handling with their random examples (and the corners the budget leaves room
for); a static baseline per bucket gets every corner at its own bucket."""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Optional

from planctl.apply.context import RunContext, ShapeWork
from planctl.apply.quality_reference import QualityReference, quality_notes, quality_reference
from planctl.report.record import Bisect, Evidence, PaddingCheck, Parity, Quality, Sensitivity, TVMFailureRecord


class Verification(Evidence):
    parity: list[Parity]      # the candidate, by bucket
    fallback: list[Parity]    # TVM's baseline build (the fallback), by bucket
    padding: list[Optional[PaddingCheck]]   # by bucket; None where the runtime does not pad
    quality: list[Quality]    # by bucket; empty without a quality envelope
    bisect: Optional[Bisect]
    failures: list[TVMFailureRecord]   # TVM failures of the candidate, with the technique named as cause
    notes: list[str]
    sensitivity: Optional[Sensitivity] = None   # quantized operators to keep float, when quality failed


def run(ctx: RunContext) -> Verification:
    """Raises VerificationError when the reference or the quality dataset cannot be evaluated (a
    failing candidate or baseline is evidence, not an error)."""
    from hypothesis.configuration import set_hypothesis_home_dir

    from planctl.tuning.store import resolve_cache_dir
    from planctl.verify.reference import OnnxRuntimeReference

    # hypothesis keeps a .hypothesis/ folder in the cwd: keep it in the cache, not the user's repo
    set_hypothesis_home_dir(str(resolve_cache_dir(ctx.options.cache_dir) / "hypothesis"))
    reference = OnnxRuntimeReference(ctx.model_file)
    judge = quality_reference(ctx, reference)
    parity, fallback, padding, quality, bisect, sensitivity = [], [], [], [], None, None
    for i, work in enumerate(ctx.shapes):
        fallback.append(Parity(**_fallback_parity(ctx, work, reference, first=i == 0).to_dict()))
        padding.append(_padding(ctx, work, reference))
        checked = _parity(ctx, work, reference)
        scored = _quality(ctx, work, judge, baseline_batches=1 if i == 0 else 0) if work.has_candidate else None
        parity.append(Parity(**checked.to_dict()))
        quality += [Quality(**scored.to_dict())] if scored is not None else []
        if bisect is None and work.failure is not None:
            bisect = _bisect_build(ctx, work, reference)
        elif bisect is None and (not checked.passed or (scored is not None and not scored.passed)):
            bisect = _bisect(ctx, work, reference, checked, scored, judge)
        if sensitivity is None and scored is not None and not scored.passed:
            sensitivity = _sensitivity(ctx, work, judge, scored)
    failures = [TVMFailureRecord(**_with_cause(ctx, work, bisect).to_dict()) for work in ctx.shapes if work.failure]
    return Verification(parity=parity, fallback=fallback, padding=padding, quality=quality, bisect=bisect,
                        failures=failures, notes=quality_notes(ctx, judge), sensitivity=sensitivity)


def _fallback_parity(ctx: RunContext, work: ShapeWork, reference, first: bool):
    """TVM's baseline build under the same parity check as the candidate (same seed), run in a
    fresh measurement process with its calls timed (``work.baseline_ms``), its random examples
    within ``baseline_max_seconds``, its corners as the module docstring says. Raises
    LoweringError (PLN500) when TVM cannot even load it: there is nothing to fall back to."""
    from planctl.documents.shapes import shape_text
    from planctl.measure.timed import TimedBuild
    from planctl.verify.parity import check_parity

    shared = ctx.shared_baseline is not None
    corners = "all" if first or not shared else "budget"
    baseline = TimedBuild(work.libraries["baseline"], work.imported.input_names, ctx.device_kind)
    with ctx.clock(f"verify-fallback[{work.tag}]"), _reference_failures_located(ctx), baseline:
        result = check_parity(baseline, reference, ctx.spec, work.shape_env, ctx.staging / "fallback", seed=0,
                              max_seconds=ctx.options.baseline_max_seconds, corners=corners)
    work.baseline_ms, work.baseline_warmup = baseline.latency_samples()
    work.baseline_rss_mb = baseline.peak_rss_mb
    if shared and not first and result.note:
        where = shape_text(ctx.shapes[0].shape_env)
        result = dataclasses.replace(result, note=f"{result.note}; the same dynamic-shape build ran every domain "
                                                  f"corner at {where}")
    return result


def _padding(ctx: RunContext, work: ShapeWork, reference) -> Optional[PaddingCheck]:
    """The reference on calls this bucket serves, unpadded and padded up to it (None when the
    model has fixed shapes: the runtime does not pad then)."""
    from planctl.documents.shapes import traffic_mix
    from planctl.verify.padding import check_padding

    if ctx.layout is None:
        return None
    with ctx.clock(f"verify-padding[{work.tag}]"), _reference_failures_located(ctx):
        found = check_padding(reference, ctx.spec, work.shape_env, [w.shape_env for w in ctx.shapes],
                              traffic_mix(ctx.spec), ctx.layout)
    return PaddingCheck(**found.to_dict())


@contextlib.contextmanager
def _reference_failures_located(ctx: RunContext):
    """A reference that fails on inputs drawn from the plan's domains: point at the plan's inputs."""
    from planctl.documents.references import position
    from planctl.errors import VerificationError

    try:
        yield
    except VerificationError as exc:
        if exc.file is None and "reference failed" in exc.message:
            where = position(ctx.plan, "/spec/workload/inputs")
            exc.file, exc.line, exc.col, exc.pointer = str(ctx.plan.path), where.get("line"), where.get("col"), \
                "/spec/workload/inputs"
            exc.hint = ("onnxruntime refused inputs drawn from the plan's declared domains (corners included): "
                        "narrow each input's domain to what the model accepts")
        raise


def _parity(ctx: RunContext, work: ShapeWork, reference):
    from planctl.lowering.failures import tvm_stage
    from planctl.lowering.vm import vm_callable
    from planctl.verify.parity import check_parity

    candidate = None
    if work.failure is None:
        with tvm_stage("verify", shape=work.tag, log_dir=ctx.staging, record=True) as capture:
            candidate = vm_callable(work.candidate, work.imported.input_names, ctx.device_kind)
        work.failure = capture.failure
    if work.failure is not None:
        return _not_built(work)
    with ctx.clock(f"verify[{work.tag}]"), _reference_failures_located(ctx):
        return check_parity(candidate, reference, ctx.spec, work.shape_env, ctx.staging, seed=0)


def _not_built(work: ShapeWork):
    """The parity result of a candidate TVM failed to make: violated, with the failure as the reason."""
    from planctl.verify.parity import ParityResult

    failure = work.failure
    where = f"stage {failure.stage}" + (f", pass {failure.pass_name}" if failure.pass_name else "")
    return ParityResult(False, dict(work.shape_env), 0, {},
                        reason=f"no candidate to check: TVM failed to make it ({failure.code}, {where})")


def _quality(ctx: RunContext, work: ShapeWork, judge: Optional[QualityReference], baseline_batches: int = 1):
    """Task quality of the candidate on the plan's dataset against the quality reference (None
    without a quality envelope). The baseline build runs ``baseline_batches`` batches only, at the
    first bucket (planctl.verify.quality: onnxruntime on the plan's model stands in for it; an
    untuned batch at 32 x 128 takes ~50 s)."""
    from planctl.lowering.vm import vm_callable
    from planctl.verify.quality import evaluate_quality

    if judge is None:
        return None
    names = work.imported.input_names
    with ctx.clock(f"quality[{work.tag}]"):
        return evaluate_quality(vm_callable(work.candidate, names, ctx.device_kind), judge.model,
                                ctx.spec.envelope.quality, ctx.spec, work.shape_env, ctx.options.root,
                                baseline=vm_callable(work.baseline, names, ctx.device_kind) if baseline_batches else None,
                                baseline_batches=baseline_batches,
                                plan_file=str(ctx.options.plan_file), stand_in=judge.stand_in,
                                reference_info=judge.info)


def _bisect(ctx: RunContext, work: ShapeWork, reference, parity, quality, judge) -> Bisect:
    """Rebuild with subsets of the enabled techniques to name the ones that break the envelope;
    the probes reuse the candidate's tuned kernels."""
    from planctl.apply.bisect import bisect_techniques, envelope_probe, schedule_table

    violated = (["parity"] if not parity.passed else []) + \
        (["quality"] if quality is not None and not quality.passed else [])
    with ctx.clock(f"bisect[{work.tag}]"):
        probe = envelope_probe(plan_spec=ctx.spec, target=ctx.tvm_target, imported=work.imported,
                               shape_env=work.shape_env, reference=reference,
                               parity=None if parity.passed else parity.to_dict(),
                               quality_result=quality if "quality" in violated else None,
                               quality_spec=ctx.spec.envelope.quality, root=ctx.options.root,
                               plan_file=str(ctx.options.plan_file),
                               schedules=schedule_table(work.lowered, work.scheduled), device=ctx.device_kind,
                               quality_reference=judge.model if judge else None,
                               quality_stand_in=judge.stand_in if judge else None)
        result = bisect_techniques(ctx.techniques, probe)
    return Bisect(**result.to_dict(), violated=violated, shape_env=work.shape_env)


def _bisect_build(ctx: RunContext, work: ShapeWork, reference) -> Bisect:
    """Rebuild with subsets of the enabled techniques (no tuned kernels) to name the ones without
    which the candidate builds: the technique reported as the cause of a TVM failure."""
    from planctl.apply.bisect import bisect_techniques, envelope_probe

    with ctx.clock(f"bisect[{work.tag}]"):
        probe = envelope_probe(plan_spec=ctx.spec, target=ctx.tvm_target, imported=work.imported,
                               shape_env=work.shape_env, reference=reference, parity=None, device=ctx.device_kind)
        result = bisect_techniques(ctx.techniques, probe, violation="the candidate does not build")
    return Bisect(**result.to_dict(), violated=["build"], shape_env=work.shape_env)


def _with_cause(ctx: RunContext, work: ShapeWork, bisect: Optional[Bisect]):
    """The shape's failure with the technique named as its cause: the culprits bisection found
    for this shape (the candidate builds without them; none when it fails with no technique at
    all), else, for a shape bisection did not probe, the technique whose own pass raised."""
    from planctl.lowering.failures import technique_of_pass

    failure = work.failure
    if bisect is not None and bisect.violated == ["build"] and bisect.shape_env == work.shape_env:
        technique = ", ".join(bisect.culprits) or None   # rebuilt without them: the ground truth
    else:
        technique = technique_of_pass(failure.top_pass, ctx.techniques, ctx.tvm_target)
    work.failure = failure.with_technique(technique)
    return work.failure


def _sensitivity(ctx: RunContext, work: ShapeWork, judge: QualityReference, quality) -> Optional[Sensitivity]:
    """The smallest set of quantized operators to keep float (planctl.apply.sensitivity); None
    when the plan quantizes nothing."""
    from planctl.apply.sensitivity import run as search
    from planctl.documents.techniques import find
    from planctl.lowering.int8_kernels import kernel_path
    from planctl.lowering.quantize import RANGES_ATTR, evidence

    technique = find(ctx.techniques, "quantization")
    quantized = [op["name"] for op in evidence(work.lowered) if op["quantized"]] if work.lowered is not None else []
    if technique is None or not quantized:
        return None
    path = kernel_path(ctx.tvm_target)
    ranges = work.lowered.attrs.get(RANGES_ATTR) if work.lowered.attrs is not None else None
    with ctx.clock(f"sensitivity[{work.tag}]"):
        found = search(model_file=ctx.model_file, technique=technique, levels=path.activation_levels if path else 256,
                       quantized=quantized, quality_spec=ctx.spec.envelope.quality, plan_spec=ctx.spec,
                       shape_env=work.shape_env, root=ctx.options.root, plan_file=str(ctx.options.plan_file),
                       reference=judge.model, baseline=quality.baseline["value"], measured=quality.value,
                       threads=ctx.threads,
                       ranges={str(k): [float(x) for x in v] for k, v in ranges.items()} if ranges else None)
    return Sensitivity(**found.to_dict(), plan_keep_float=list(technique.keep_float), shape_env=work.shape_env)
