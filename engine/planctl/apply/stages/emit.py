"""Emit: choose where this run's output goes (once), write the manifest the runtime loads, export
the tuning records the build used, and record what the output depends on. Everything is written
into the staging folder; the pipeline renames it into place last (planctl.apply.emit)."""
from __future__ import annotations

import json

from planctl.apply.context import RunContext
from planctl.apply.stages.decide import Decided
from planctl.report.record import Artifacts, Evidence, Inputs


class Emitted(Evidence):
    destination: str          # the live output folder, or ``<target>.rejected`` beside it
    artifacts: Artifacts
    library_sha256: dict[str, str]
    inputs: Inputs
    notes: list[str]


def run(ctx: RunContext, decided: Decided) -> Emitted:
    from planctl.apply.emit import promoted
    from planctl.apply.inputs import library_sums
    from planctl.files import atomic_write_text

    verdict = decided.decision.verdict
    # only a promotion replaces the live output; a rejected run is kept beside a promoted one
    destination = ctx.output.destination(verdict == "promote", promoted(ctx.output.live))
    notes = [] if destination == ctx.output.live else [
        f"not promoted: the previous promoted output stays live; this run's evidence is in {destination}"]
    _export_records(ctx)
    manifest = _manifest(ctx, verdict)
    if verdict != "promote" and ctx.spec.fallback.on_violation == "fail":
        # the rejected candidate stays as evidence (`planctl verify replay` runs it); nothing is deployed
        (ctx.staging / manifest["baseline"]).unlink(missing_ok=True)
        manifest["artifact"] = None
    manifest["sha256"] = library_sums(ctx.staging, manifest)  # what an up-to-date check compares
    atomic_write_text(ctx.staging / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
    return Emitted(destination=str(destination), notes=notes, library_sha256=manifest["sha256"],
                   artifacts=Artifacts(library=manifest["artifact"], records="records", report_json="report.json",
                                       report_md="report.md", report_html="report.html"),
                   inputs=_inputs(ctx))


def _manifest(ctx: RunContext, verdict: str) -> dict:
    """What the runtime loads (planctl.runtime.load): the first shape's libraries and contract."""
    work = ctx.shapes[0]
    names = {k: v.name for k, v in work.libraries.items()}
    return {"plan": ctx.plan_name, "target": ctx.options.target_name, "verdict": verdict,
            "artifact": names["candidate" if verdict == "promote" else "baseline"],
            "baseline": names["baseline"], "candidate": names["candidate"],
            "fallback_switch": ctx.spec.fallback.switch, "input_names": work.imported.input_names,
            "output_names": work.imported.output_names, "shape_env": work.shape_env,
            "device": ctx.target.model.spec.capabilities.device,
            "inputs": _input_contract(ctx.spec.workload.inputs, work.shape_env)}


def _input_contract(inputs, shape_env: dict) -> list[dict]:
    """What the runtime checks before a call: name, dtype, static shape and value domain."""
    from planctl.lowering.importer import concrete_shape

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
