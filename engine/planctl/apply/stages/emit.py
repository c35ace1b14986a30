"""Emit: choose where this run's output goes (once), write the manifest the runtime loads, export
the tuning records the build used, and record what the output depends on. Everything is written
into the staging folder; the pipeline renames it into place last (planctl.apply.emit).

What the manifest lets the runtime run: the candidate when promoted, else the baseline, and as the
fallback switch's build the baseline, each only when it passed parity. A ``reject`` deploys
nothing and never replaces the live output: its evidence goes to ``<target>.rejected/``."""
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
    # only a promotion replaces the live output; a rejected run is kept beside a promoted one, and
    # a run that deploys nothing (reject) beside any live output
    destination = (ctx.output.rejected if verdict == "reject"
                   else ctx.output.destination(verdict == "promote", promoted(ctx.output.live)))
    notes = [] if destination == ctx.output.live else [
        f"not deployed: the live output {ctx.output.live} (if any) stays as it was; this run's evidence is in "
        f"{destination}"]
    _export_records(ctx)
    fallback = _fallback(ctx, verification)
    manifest = _manifest(ctx, verdict, fallback)
    if verdict != "promote" and ctx.spec.fallback.on_violation == "fail":
        # the rejected candidate stays as evidence (`planctl verify replay` runs it); nothing is deployed
        (ctx.staging / manifest["baseline"]).unlink(missing_ok=True)
        manifest["artifact"] = manifest["fallback"] = None
        fallback = fallback.model_copy(update={"library": None, "reason": "on_violation: fail: nothing deployed"})
    manifest["sha256"] = library_sums(ctx.staging, manifest)  # what an up-to-date check compares
    atomic_write_text(ctx.staging / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
    return Emitted(destination=str(destination), notes=notes, library_sha256=manifest["sha256"],
                   artifacts=Artifacts(library=manifest["artifact"], records="records", report_json="report.json",
                                       report_md="report.md", report_html="report.html"),
                   inputs=_inputs(ctx), fallback=fallback)


def _fallback(ctx: RunContext, verification: Verification) -> Fallback:
    """The fallback switch's build: the first shape's baseline, when the baseline passed parity at
    every production shape."""
    broken = [p for p in verification.fallback if not p.passed]
    library = ctx.shapes[0].libraries["baseline"].name
    if broken:
        return Fallback(switch=ctx.spec.fallback.switch, library=None, verified=False,
                        reason=f"the baseline build fails parity at {broken[0].shape_env}: {broken[0].reason}")
    return Fallback(switch=ctx.spec.fallback.switch, library=library, verified=True,
                    reason="the baseline build passed parity at every production shape")


def _manifest(ctx: RunContext, verdict: str, fallback: Fallback) -> dict:
    """What the runtime loads (planctl.runtime.load): the first shape's libraries and contract;
    ``artifact`` is what runs, ``fallback`` what the fallback switch runs (each None when there is
    no verified build for it)."""
    work = ctx.shapes[0]
    names = {k: v.name for k, v in work.libraries.items()}
    artifact = {"promote": names.get("candidate"), "reject": None}.get(verdict, fallback.library)
    return {"plan": ctx.plan_name, "target": ctx.options.target_name, "verdict": verdict,
            "artifact": artifact, "baseline": names["baseline"], "candidate": names.get("candidate"),
            "fallback": fallback.library, "fallback_reason": fallback.reason,
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
