"""Verify: hypothesis parity of each shape's candidate against onnxruntime, the task quality when
the plan declares one, and, at the first shape that violates the envelope, the bisection that names
the techniques responsible. Counterexamples are written into the staging folder."""
from __future__ import annotations

from typing import Optional

from planctl.apply.context import RunContext, ShapeWork
from planctl.report.record import Bisect, Evidence, Parity, Quality, Sensitivity


class Verification(Evidence):
    parity: list[Parity]      # by production shape
    quality: list[Quality]    # by production shape; empty without a quality envelope
    bisect: Optional[Bisect]
    sensitivity: Optional[Sensitivity] = None   # quantized operators to keep float, when quality failed


def run(ctx: RunContext) -> Verification:
    """Raises VerificationError when the reference or the quality dataset cannot be evaluated (a
    failing candidate is evidence, not an error)."""
    from hypothesis.configuration import set_hypothesis_home_dir

    from planctl.tuning.store import resolve_cache_dir
    from planctl.verify.reference import OnnxRuntimeReference

    # hypothesis keeps a .hypothesis/ folder in the cwd: keep it in the cache, not the user's repo
    set_hypothesis_home_dir(str(resolve_cache_dir(ctx.options.cache_dir) / "hypothesis"))
    reference = OnnxRuntimeReference(ctx.model_file)
    parity, quality, bisect, sensitivity = [], [], None, None
    for work in ctx.shapes:
        checked = _parity(ctx, work, reference)
        scored = _quality(ctx, work, reference)
        parity.append(Parity(**checked.to_dict()))
        quality += [Quality(**scored.to_dict())] if scored is not None else []
        if bisect is None and (not checked.passed or (scored is not None and not scored.passed)):
            bisect = _bisect(ctx, work, reference, checked, scored)
        if sensitivity is None and scored is not None and not scored.passed:
            sensitivity = _sensitivity(ctx, work, reference, scored)
    return Verification(parity=parity, quality=quality, bisect=bisect, sensitivity=sensitivity)


def _sensitivity(ctx: RunContext, work: ShapeWork, reference, quality) -> Optional[Sensitivity]:
    """The smallest set of quantized operators to keep float (planctl.apply.sensitivity); None
    when the plan quantizes nothing."""
    from planctl.apply.sensitivity import run as search
    from planctl.documents.techniques import find
    from planctl.lowering.int8_kernels import kernel_path
    from planctl.lowering.quantize import RANGES_ATTR, evidence

    technique = find(ctx.techniques, "quantization")
    quantized = [op["name"] for op in evidence(work.lowered) if op["quantized"]]
    if technique is None or not quantized:
        return None
    path = kernel_path(ctx.tvm_target)
    ranges = work.lowered.attrs.get(RANGES_ATTR) if work.lowered.attrs is not None else None
    with ctx.clock(f"sensitivity[{work.tag}]"):
        found = search(model_file=ctx.model_file, technique=technique, levels=path.activation_levels if path else 256,
                       quantized=quantized, quality_spec=ctx.spec.envelope.quality, plan_spec=ctx.spec,
                       shape_env=work.shape_env, root=ctx.options.root, plan_file=str(ctx.options.plan_file),
                       reference=reference, measured=quality.value, threads=ctx.threads,
                       ranges={str(k): [float(x) for x in v] for k, v in ranges.items()} if ranges else None)
    return Sensitivity(**found.to_dict(), plan_keep_float=list(technique.keep_float), shape_env=work.shape_env)


def _parity(ctx: RunContext, work: ShapeWork, reference):
    from planctl.lowering.vm import vm_callable
    from planctl.verify.parity import check_parity

    with ctx.clock(f"verify[{work.tag}]"):
        candidate = vm_callable(work.candidate, work.imported.input_names, ctx.device_kind)
        return check_parity(candidate, reference, ctx.spec, work.shape_env, ctx.staging, seed=0)


def _quality(ctx: RunContext, work: ShapeWork, reference):
    """Task quality of the candidate on the plan's dataset (None without a quality envelope). The
    baseline build runs one batch only (planctl.verify.quality: onnxruntime stands in for it)."""
    from planctl.lowering.vm import vm_callable
    from planctl.verify.quality import evaluate_quality

    if ctx.spec.envelope.quality is None:
        return None
    names = work.imported.input_names
    with ctx.clock(f"quality[{work.tag}]"):
        return evaluate_quality(vm_callable(work.candidate, names, ctx.device_kind), reference,
                                ctx.spec.envelope.quality, ctx.spec, work.shape_env, ctx.options.root,
                                baseline=vm_callable(work.baseline, names, ctx.device_kind), baseline_batches=1,
                                plan_file=str(ctx.options.plan_file))


def _bisect(ctx: RunContext, work: ShapeWork, reference, parity, quality) -> Bisect:
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
                               schedules=schedule_table(work.lowered, work.scheduled), device=ctx.device_kind)
        result = bisect_techniques(ctx.techniques, probe)
    return Bisect(**result.to_dict(), violated=violated, shape_env=work.shape_env)
