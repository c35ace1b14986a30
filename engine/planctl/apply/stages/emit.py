"""Emit: choose where this run's output goes (once), write the manifest the runtime loads, export
the tuning records the build used, and record what the output depends on. Everything is written
into the staging folder; the pipeline renames it into place last (planctl.apply.emit).

What the manifest lets the runtime run, per shape bucket: the candidate when the bucket is promoted,
else its baseline, and as the fallback switch's build the baseline, each only when it passed parity
there. A ``reject`` (no bucket has a verified build) deploys nothing and never replaces the live
output: its evidence goes to ``<target>.rejected/``."""
from __future__ import annotations

import json

from planctl.apply.context import RunContext
from planctl.apply.stages.decide import Decided
from planctl.apply.stages.verify import Verification
from planctl.report.record import Artifacts, Evidence, Fallback, Inputs


class Emitted(Evidence):
    destination: str          # the live output folder, or ``<target>.rejected`` beside it
    artifacts: Artifacts
    library_sha256: dict[str, str]
    inputs: Inputs
    notes: list[str]
    fallback: Fallback


def run(ctx: RunContext, decided: Decided, verification: Verification) -> Emitted:
    from planctl.apply.emit import promoted
    from planctl.apply.inputs import library_sums
    from planctl.files import atomic_write_text

    verdict = decided.decision.verdict
    # a promotion (every bucket, or some: ``partial``, the others rolled back alone) replaces the
    # live output; a rejected run is kept beside a promoted one, and a run that deploys nothing
    # (reject) beside any live output
    destination = (ctx.output.rejected if verdict == "reject"
                   else ctx.output.destination(verdict in ("promote", "partial"), promoted(ctx.output.live)))
    notes = [] if destination == ctx.output.live else [
        f"not deployed: the live output {ctx.output.live} (if any) stays as it was; this run's evidence is in "
        f"{destination}"]
    _export_records(ctx)
    fallbacks = [_bucket_fallback(ctx, work, checked) for work, checked in zip(ctx.shapes, verification.fallback)]
    entries = [_bucket_entry(ctx, work, bucket, fallback)
               for work, bucket, fallback in zip(ctx.shapes, decided.decision.buckets, fallbacks)]
    if verdict != "promote" and ctx.spec.fallback.on_violation == "fail":
        _fail_mode(ctx, entries)
    padded = all(p is not None and p.passed for p in verification.padding)
    manifest = _manifest(ctx, verdict, entries, padded)
    fallback = _fallback(ctx, entries)
    manifest["sha256"] = library_sums(ctx.staging, manifest)  # what an up-to-date check compares
    atomic_write_text(ctx.staging / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
    return Emitted(destination=str(destination), notes=notes, library_sha256=manifest["sha256"],
                   artifacts=Artifacts(library=manifest["artifact"], records="records", report_json="report.json",
                                       report_md="report.md", report_html="report.html"),
                   inputs=_inputs(ctx), fallback=fallback)


def _bucket_fallback(ctx: RunContext, work, checked) -> tuple[str | None, str]:
    """The fallback switch's build in one bucket: its baseline when that passed parity there."""
    from planctl.documents.shapes import shape_text

    if not checked.passed:
        return None, f"the baseline build fails parity at {shape_text(work.shape_env)}: {checked.reason}"
    return work.libraries["baseline"].name, f"the baseline build passed parity at {shape_text(work.shape_env)}"


def _bucket_entry(ctx: RunContext, work, bucket, fallback: tuple[str | None, str]) -> dict:
    """One bucket of the manifest: what runs there (``artifact``: the candidate when the bucket is
    promoted, else its verified baseline, None when neither), what the switch runs (``fallback``),
    and the input contract at its shape."""
    names = {k: v.name for k, v in work.libraries.items()}
    library, reason = fallback
    artifact = {"promote": names.get("candidate"), "reject": None}.get(bucket.verdict, library)
    return {"shape_env": work.shape_env, "tag": work.tag, "verdict": bucket.verdict, "artifact": artifact,
            "serves": None if artifact is None else ("candidate" if artifact == names.get("candidate") else "baseline"),
            "baseline": names["baseline"], "candidate": names.get("candidate"), "fallback": library,
            "fallback_reason": reason, "reason": "; ".join(bucket.reasons),
            "inputs": _input_contract(ctx.spec.workload.inputs, work.shape_env)}


def _fail_mode(ctx: RunContext, entries: list[dict]) -> None:
    """``on_violation: fail``: a bucket that is not promoted serves nothing and has no fallback; a
    baseline library no bucket still names is deleted (the rejected candidate stays as evidence:
    `planctl verify replay` runs it)."""
    for entry in entries:
        if entry["verdict"] != "promote":
            entry.update(artifact=None, serves=None, fallback=None,
                         fallback_reason="on_violation: fail: nothing deployed")
    kept = {e["fallback"] for e in entries} | {e["artifact"] for e in entries}
    for name in {e["baseline"] for e in entries} - kept:
        (ctx.staging / name).unlink(missing_ok=True)


def _fallback(ctx: RunContext, entries: list[dict]) -> Fallback:
    """The fallback switch over the buckets: verified when every bucket's baseline passed parity."""
    first = entries[0]
    broken = [e for e in entries if e["fallback"] is None]
    idle = [e["tag"] for e in entries if e.get("serves") is None]   # rejected there (padding): nothing runs
    return Fallback(switch=ctx.spec.fallback.switch, library=first["fallback"], verified=not broken,
                    reason=broken[0]["fallback_reason"] if broken else
                    "the baseline build passed parity at every bucket"
                    + (f"; it serves nothing at {', '.join(idle)} either (rejected there: see the verdict)"
                       if idle else ""),
                    buckets={e["tag"]: e["fallback"] for e in entries})


def _manifest(ctx: RunContext, verdict: str, entries: list[dict], padded: bool) -> dict:
    """What the runtime loads (planctl.runtime.load). ``buckets``: one entry per shape bucket in
    ascending work (what runs there, its fallback, its input contract); ``dims``, ``pad``,
    ``output_dims``, ``batch_dim``: where the symbolic dims sit, for padding a call up to its
    bucket; ``padding``: whether apply verified that padding is inert at every bucket (else calls
    must match a bucket exactly). The top-level ``artifact``, ``baseline``, ``candidate``,
    ``fallback``, ``shape_env`` and ``inputs`` are the first bucket's (single-shape readers)."""
    work, first = ctx.shapes[0], entries[0]
    layout = ctx.layout.to_dict() if ctx.layout is not None else {
        "dims": _dims(ctx.spec.workload.inputs), "pad": {}, "output_dims": {}, "batch_dim": None}
    return {"plan": ctx.plan_name, "target": ctx.options.target_name, "verdict": verdict, "manifest_version": 2,
            "artifact": first["artifact"], "baseline": first["baseline"], "candidate": first["candidate"],
            "fallback": first["fallback"], "fallback_reason": first["fallback_reason"],
            "fallback_switch": ctx.spec.fallback.switch, "input_names": work.imported.input_names,
            "output_names": work.imported.output_names, "shape_env": work.shape_env,
            "device": ctx.target.model.spec.capabilities.device, "inputs": first["inputs"],
            "buckets": entries, "padding": ctx.layout is not None and padded, **layout}


def _dims(inputs) -> dict:
    """``{dim: [[input, axis], ...]}`` of the plan's symbolic dims."""
    dims: dict[str, list] = {}
    for spec in inputs:
        for axis, dim in enumerate(spec.shape):
            if isinstance(dim, str):
                dims.setdefault(dim, []).append([spec.name, axis])
    return dims


def _input_contract(inputs, shape_env: dict) -> list[dict]:
    """What the runtime checks before a call: name, dtype, static shape and value domain."""
    from planctl.documents.onnx_signature import concrete_shape

    return [{"name": i.name, "dtype": i.dtype, "shape": concrete_shape(i.shape, shape_env),
             "domain": i.domain.model_dump(mode="json")} for i in inputs]


def _export_records(ctx: RunContext) -> None:
    """The records each shape's build used (best per workload) into ``records/<shape>/``:
    reviewable ``records.jsonl`` (what ``records:`` in a plan names) plus TVM's JSONDatabase pair."""
    if ctx.cache is None:
        return
    for work in ctx.shapes:
        ctx.cache.export(work.workloads, ctx.staging / "records" / work.tag)


def _inputs(ctx: RunContext) -> Inputs:
    """The run's inputs and their digest, with the tuning cache counted after this run's search and
    import, so an unchanged second apply finds the same generation."""
    from planctl.apply.inputs import cache_generation, digest

    found = dict(ctx.inputs)
    if "tuning_cache" in found:
        found["tuning_cache"] = cache_generation(ctx.options.cache_dir)
    return Inputs(digest=digest(found), components=found)
