"""``planctl apply``: documents → import → baseline → passes → tuning → build → verify → measure
→ decide → emit. Each stage is a plain function of the previous ones' outputs and writes its
evidence into one run record (see planctl.apply.record)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from planctl.apply import paths
from planctl.apply.record import new_record, stage
from planctl.errors import DocumentError, PlanctlError, TuningError
from planctl.verify.counterexample import shape_tag


@dataclass(frozen=True)
class ApplyOptions:
    """Inputs of one apply. ``root`` is the repository root every plan path is resolved against."""

    plan: Path
    target: str
    root: Path = Path(".")
    out_root: Path = Path("out")
    cache_dir: Path | None = None
    replay: bool = False
    allow_version_drift: bool = False  # apply records of another TVM version after re-measuring
    measure_repeats: int = 50
    baseline_max_seconds: float = 30.0
    force: bool = False  # rebuild even when the live output was made from the same inputs


@dataclass
class ApplyResult:
    out_dir: Path
    record: dict = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return self.record.get("decision", {}).get("verdict", "rollback")


@dataclass
class Context:
    options: ApplyOptions
    plan: object
    target_doc: object
    model_path: Path
    record: dict
    progress: object = None
    workloads: dict = field(default_factory=dict)  # shape tag -> workload hashes of its tasks
    inputs: dict = field(default_factory=dict)  # planctl.apply.inputs.components() at the start


def load_inputs(options: ApplyOptions, record: dict) -> Context:
    """Load the plan and its target and check the model file; nothing heavy is imported yet."""
    from planctl.documents.load import find_target, load_plan, load_target

    try:
        plan = load_plan(options.plan)
        target_file = find_target(options.target, options.root) if options.target in plan.model.spec.targets else None
        target = load_target(target_file) if target_file else None
    except DocumentError as exc:
        exc.exit_code = 2  # validate exits 1 for findings; for apply any invalid document is bad input
        raise
    if target is None:
        line, col, _, _ = plan.index.locate("/spec/targets")
        raise DocumentError(f"target '{options.target}' is not one of the plan's targets "
                            f"{plan.model.spec.targets}", file=str(options.plan), line=line, col=col,
                            pointer="/spec/targets",
                            hint=f"use --target {plan.model.spec.targets[0]} or add it to spec.targets")
    model_path = paths.checked_model(options.root, plan)
    paths.checked_references(options.root, plan)
    record["plan"] = {"name": plan.model.metadata.name, "path": str(options.plan), "sha256": plan.sha256}
    record["target"] = {"name": options.target, "tvm": target.model.spec.tvm, "sha256": target.sha256}
    record["model"] = {"path": plan.model.spec.workload.model.onnx, "sha256": plan.model.spec.workload.model.sha256}
    return Context(options, plan, target, model_path, record)


def run_apply(options: ApplyOptions, progress=None) -> ApplyResult:
    """Run every stage; return where the output went and the record.

    When the live output was made from the same inputs (planctl.apply.inputs) and its libraries
    are intact, nothing runs: the result's record is that output's, with ``up_to_date: true``
    (unless ``options.force``).

    Raises a PlanctlError subclass for bad input (nothing is written then); a plan that fails its
    envelope is not an error: the result's verdict says ``rollback``.
    """
    from filelock import FileLock, Timeout

    from planctl.apply import inputs
    from planctl.apply.emit import promoted, publish, staging

    record = new_record()
    with stage(record, "documents", progress):
        ctx = load_inputs(options, record)
    ctx.progress = progress
    plan = ctx.plan.model
    destination = options.out_root / plan.metadata.name / options.target
    # taken before any stage changes the environment (import_tvm sets TVM_NUM_THREADS)
    ctx.inputs = inputs.components(options, ctx.plan, ctx.target_doc)
    previous = None if options.force else inputs.live_output(destination, inputs.digest(ctx.inputs))
    if previous is not None:
        since = {"up_to_date_since": previous["created"]} if previous.get("created") else {}
        return ApplyResult(out_dir=destination, record={**previous, "up_to_date": True, **since})
    options.out_root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(options.out_root / f".{plan.metadata.name}.{options.target}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise PlanctlError(f"another planctl apply of {plan.metadata.name} for {options.target} is "
                           f"writing to {options.out_root}", hint="wait for it, or use --out DIR") from None
    try:
        with staging(destination) as folder:
            _lower_verify_measure(ctx, folder)
            _emit(ctx, folder)
            if record["decision"]["verdict"] != "promote" and promoted(destination):
                # only a promotion replaces the live output; the rejected run is kept beside it
                destination = destination.with_name(destination.name + ".rejected")
                record["notes"].append(f"not promoted: the previous promoted output stays live; "
                                       f"this run's evidence is in {destination}")
                from planctl.report.write import write_reports

                write_reports(record, folder)
            publish(folder, destination)
    finally:
        lock.release()
    return ApplyResult(out_dir=destination, record=record)


def _lower_verify_measure(ctx: Context, folder: Path) -> None:
    from planctl.lowering.tvm_env import import_tvm, versions

    from planctl.apply.benchmark import start_measurement_server

    cores = ctx.target_doc.model.spec.tvm.get("num-cores") or os.cpu_count()
    start_measurement_server(threads=cores)
    import_tvm(num_threads=cores)
    from planctl.lowering import techniques as tech
    from planctl.verify.strategies import production_shape_envs

    record, plan = ctx.record, ctx.plan.model
    from planctl.report.environment import collect_environment

    found = collect_environment()
    # the collector names tvm, tvm_ffi, onnxruntime and numpy already; packages adds the others (torch, onnx)
    shown = {"apache-tvm": "tvm", "apache-tvm-ffi": "tvm_ffi", "onnxruntime": "onnxruntime", "numpy": "numpy"}
    record["environment"] = {**found, "packages": {k: v for k, v in versions().items() if shown.get(k) not in found}}
    chosen = tech.enabled_techniques(plan.spec)
    record["techniques"] = [t.technique for t in chosen]
    target = _target(ctx)
    _require_device(ctx)
    record["builds"] = []
    for shape_env in production_shape_envs(plan.spec):
        record["builds"].append(_build_one(ctx, target, chosen, shape_env, folder))
    _measure(ctx, folder, cores)


def _build_one(ctx: Context, target, chosen, shape_env: dict, folder: Path) -> dict:
    from planctl.lowering import build
    from planctl.lowering.importer import import_onnx

    record, plan, tag, progress = ctx.record, ctx.plan.model, shape_tag(shape_env), ctx.progress
    with stage(record, f"import[{tag}]", progress):
        imported = import_onnx(ctx.model_path, plan.spec.workload.inputs, shape_env)
    with stage(record, f"baseline-build[{tag}]", progress):
        baseline = build.build_baseline(imported.mod, target)
    with stage(record, f"passes[{tag}]", progress):
        lowered = build.lower_candidate(imported.mod, target, chosen)
    record["passes"] = [p.to_dict() for p in lowered.passes]
    scheduled_mod, tuning = _tune(ctx, target, chosen, lowered.mod, tag)
    # counted before the build: dlight's tensorization rewrites the PrimFuncs (then mma calls are
    # not counted as FLOPs), and the modules share them
    flops = _flops(lowered.mod)
    with stage(record, f"candidate-build[{tag}]", progress):
        candidate = build.build_candidate(scheduled_mod, target, chosen)
        libs = {"baseline": folder / f"baseline-{tag}.so", "candidate": folder / f"candidate-{tag}.so"}
        baseline.export_library(str(libs["baseline"]))
        candidate.export_library(str(libs["candidate"]))
    parity = _verify(ctx, candidate, imported, shape_env, folder)
    quality = _quality(ctx, candidate, baseline, imported, shape_env)
    if "bisect" not in record and (not parity["passed"] or (quality is not None and not quality.passed)):
        record["bisect"] = _bisect(ctx, target, chosen, imported, shape_env, parity, quality,
                                   (lowered.mod, scheduled_mod))
    profile = _gpu_profile(ctx, candidate, imported, shape_env, scheduled_mod, flops)
    return {"shape_env": shape_env, "tag": tag, "input_names": imported.input_names,
            "output_names": imported.output_names, "tuning": tuning,
            "kernel_routes": lowered.routes, "gpu_profile": profile,
            "libraries": {k: v.name for k, v in libs.items()}, "parity": parity,
            "quality": quality.to_dict() if quality is not None else None,
            **_workload_evidence(flops, scheduled_mod, target)}


def _tune(ctx: Context, target, chosen, mod, tag: str):
    """Import committed records, search what the governed cache cannot serve within the budget
    (plan's, capped by the repository ceiling), apply the database. Returns (module, report dict)."""
    from planctl.lowering.build import apply_database
    from planctl.lowering.techniques import has
    from planctl.tuning.budget import effective_budget
    from planctl.tuning.governed import open_cache

    if not has(chosen, "autotuning"):
        return mod, None
    spec = next(t for t in chosen if t.technique == "autotuning")
    plan = ctx.plan.model.metadata.name, ctx.plan.sha256
    with stage(ctx.record, f"tuning[{tag}]", ctx.progress):
        cache = open_cache(ctx.options.cache_dir, ctx.target_doc.model, ctx.options.target, ctx.options.root)
        imported = 0
        if spec.records:
            source = paths.inside_root(ctx.options.root, spec.records, what="tuning records",
                                       plan_file=str(ctx.options.plan), pointer="/spec/optimizations")
            imported = cache.import_records(source, {"plan": plan[0], "seed": spec.seed, "path": spec.records})
        budget = effective_budget(spec.budget, ctx.options.root)
        if ctx.options.replay:
            report = _replay_report(mod, target, cache, spec, budget, plan, ctx.options.allow_version_drift)
        else:
            report = cache.tune(mod, target, budget, spec.seed, plan, ctx.options.allow_version_drift,
                                progress=ctx.progress is not None)
        report.imported_records = imported
        scheduled, report.scheduled_funcs, report.total_funcs = apply_database(mod, target, cache.database())
        report.integrity = list(cache.store.problems)
    ctx.record.setdefault("tuning_stores", {})[tag] = str(cache.bind())
    ctx.workloads[tag] = [t.workload_hash for t in report.tasks]
    return scheduled, report.to_dict()


def _replay_report(mod, target, cache, spec, budget, plan, allow_drift: bool):
    """No search: every task must be served by the cache (records of another TVM version are
    re-measured first when drift is allowed). Raises TuningError naming the tasks it cannot serve."""
    from planctl.tuning import search

    todo, drift, tasks = search.plan_tasks(mod, target, cache.store, cache.scope)
    report = search.TuningReport(cache_dir=str(cache.store.path), tasks=tasks, budget=budget.to_dict(),
                                 key=cache.key.to_dict())
    if drift and allow_drift:
        report = cache.tune(mod, target, budget, spec.seed, plan, allow_drift=True, allow_search=False)
        todo = [t for t in todo if not next(r for r in report.tasks if r.name == t.task_name).served_by]
    if todo:
        names = ", ".join(t.task_name for t in todo[:6])
        also = (f" ({len(drift)} only have records of another TVM version: pass --allow-version-drift)"
                if drift and not allow_drift else "")
        raise TuningError(f"--replay: no tuning record for {len(todo)} task(s): {names}{also}",
                          hint="run apply without --replay to search them, or import the team's records")
    return report


def _target(ctx: Context):
    """``tvm.target.Target`` of the target document; a target TVM rejects, or an LLVM ``mcpu``
    LLVM does not know (it would silently build for generic x86-64), is a document error."""
    from planctl.lowering.build import make_target
    from tvm.target import codegen

    doc, path = ctx.target_doc.model.spec.tvm, str(ctx.target_doc.path)
    try:
        target = make_target(doc)
    except Exception as exc:  # TVM raises ValueError or TVMError with its own text
        raise DocumentError(f"TVM rejects the target dict: {str(exc).splitlines()[0][:300]}", file=path,
                            hint="spec.tvm must be a TVM 0.27 target dict, e.g. {kind: llvm, mcpu: haswell}") from exc
    mcpu = doc.get("mcpu")
    if target.kind.name == "llvm" and mcpu and mcpu not in codegen.llvm_get_cpu_archlist(target):
        raise DocumentError(f"LLVM does not know mcpu '{mcpu}' (it would build for generic x86-64)",
                            file=path, hint="use an LLVM CPU name such as haswell, znver3, skylake-avx512")
    return target


def _require_device(ctx: Context) -> None:
    """Fail before any build when the target's device is not present on this machine."""
    import tvm

    if _device(ctx) == "cuda" and not tvm.cuda(0).exist:
        raise PlanctlError(f"target {ctx.options.target} needs a CUDA GPU and none is visible here",
                           file=str(ctx.options.plan),
                           hint="run apply on a machine with the GPU (CUDA code generation alone works anywhere)")


def _device(ctx: Context) -> str:
    return "cuda" if ctx.target_doc.model.spec.capabilities.device == "cuda" else "cpu"


def _verify(ctx: Context, executable, imported, shape_env: dict, folder: Path) -> dict:
    from planctl.tuning.store import resolve_cache_dir
    from planctl.verify.parity import check_parity
    from planctl.verify.reference import OnnxRuntimeReference

    from hypothesis.configuration import set_hypothesis_home_dir

    # hypothesis keeps a .hypothesis/ folder in the cwd: keep it in the cache, not the user's repo
    set_hypothesis_home_dir(str(resolve_cache_dir(ctx.options.cache_dir) / "hypothesis"))
    with stage(ctx.record, f"verify[{shape_tag(shape_env)}]", ctx.progress):
        candidate = _vm_callable(ctx, executable, imported.input_names)
        reference = OnnxRuntimeReference(ctx.model_path)
        result = check_parity(candidate, reference, ctx.plan.model.spec, shape_env, folder, seed=0)
    ctx.record["parity"].append(result.to_dict())
    return result.to_dict()


def _vm_callable(ctx: Context, executable, input_names: list[str]):
    """``{name: array} -> [array]`` running ``executable`` on the target's device."""
    import tvm
    from tvm import relax

    dev = tvm.cuda() if _device(ctx) == "cuda" else tvm.cpu()
    vm = relax.VirtualMachine(executable, dev)

    def run(inputs):
        out = vm["main"](*[tvm.runtime.tensor(inputs[n], device=dev) for n in input_names])
        return [out.numpy()] if hasattr(out, "numpy") else [item.numpy() for item in out]
    return run


def _quality(ctx: Context, candidate, baseline, imported, shape_env: dict):
    """Task quality of the candidate on the plan's dataset (None when the plan has no quality
    envelope); its dict goes to ``record["quality"]``. The baseline build runs one batch only
    (see planctl.verify.quality: the onnxruntime fp32 reference stands in for it)."""
    from planctl.verify.quality import evaluate_quality
    from planctl.verify.reference import OnnxRuntimeReference

    quality = ctx.plan.model.spec.envelope.quality
    if quality is None:
        return None
    with stage(ctx.record, f"quality[{shape_tag(shape_env)}]", ctx.progress):
        result = evaluate_quality(_vm_callable(ctx, candidate, imported.input_names),
                                  OnnxRuntimeReference(ctx.model_path), quality, ctx.plan.model.spec,
                                  shape_env, ctx.options.root,
                                  baseline=_vm_callable(ctx, baseline, imported.input_names),
                                  baseline_batches=1, plan_file=str(ctx.options.plan))
    ctx.record.setdefault("quality", []).append(result.to_dict())
    return result


def _gpu_profile(ctx: Context, executable, imported, shape_env: dict, mod, flops: dict) -> dict | None:
    """Per-kernel profile of the candidate on the GPU (planctl.measure.gpu_profile); None on CPU
    targets. Profiling never fails an apply: a profiler error is recorded as unavailable."""
    if _device(ctx) != "cuda":
        return None
    from planctl.measure.gpu_profile import cuda_source, profile_build, unavailable
    from planctl.verify.strategies import example_inputs

    with stage(ctx.record, f"gpu-profile[{shape_tag(shape_env)}]", ctx.progress):
        try:
            import tvm
            from tvm import relax

            dev = tvm.cuda()
            vm = relax.VirtualMachine(executable, dev)
            example = example_inputs(ctx.plan.model.spec, shape_env, seed=0)
            args = [tvm.runtime.tensor(example[n], device=dev) for n in imported.input_names]

            def run():
                vm["main"](*args)
                dev.sync()
            return profile_build(run, mod, cuda_source(executable), flops=flops)
        except Exception as exc:  # noqa: BLE001 - evidence only; the build itself was verified above
            return unavailable(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")


def _bisect(ctx: Context, target, chosen, imported, shape_env: dict, parity: dict, quality, mods) -> dict:
    """Rebuild with subsets of the enabled techniques to name the ones that break the envelope;
    ``mods``: (lowered, scheduled) candidate modules, whose tuned kernels the probes reuse."""
    from planctl.apply.bisect import bisect_techniques, envelope_probe, schedule_table
    from planctl.verify.reference import OnnxRuntimeReference

    tag = shape_tag(shape_env)
    violated = (["parity"] if not parity["passed"] else []) + \
        (["quality"] if quality is not None and not quality.passed else [])
    with stage(ctx.record, f"bisect[{tag}]", ctx.progress):
        probe = envelope_probe(plan_spec=ctx.plan.model.spec, target=target, imported=imported,
                               shape_env=shape_env, reference=OnnxRuntimeReference(ctx.model_path),
                               parity=None if parity["passed"] else parity,
                               quality_result=quality if "quality" in violated else None,
                               quality_spec=ctx.plan.model.spec.envelope.quality, root=ctx.options.root,
                               plan_file=str(ctx.options.plan),
                               schedules=schedule_table(*mods),
                               device=ctx.target_doc.model.spec.capabilities.device)
        result = bisect_techniques(chosen, probe)
    return {**result.to_dict(), "violated": violated, "shape_env": shape_env}


def _flops(lowered_mod) -> dict:
    from planctl.lowering.flops import workload_flops

    return workload_flops(lowered_mod)


def _workload_evidence(flops: dict, scheduled_mod, target) -> dict:
    """FLOPs/bytes of the lowered workload and the static memory plan of the scheduled one."""
    from planctl.lowering.memory import planned_memory

    return {"flops": flops, "planned_memory": planned_memory(scheduled_mod, target)}


def _merge_evidence(ctx: Context, folder: Path) -> None:
    """Planned bytes into ``record["memory"]``, the roofline placement (first production shape, the
    one measured) into ``record["roofline"]``, and counterexample paths from the staging folder to
    where publish moves them."""
    from planctl.report.roofline import placement

    record = ctx.record
    published = str(ctx.options.out_root / ctx.plan.model.metadata.name / ctx.options.target)
    for result in record.get("parity", []) + [b.get("parity") or {} for b in record.get("builds", [])]:
        for key in ("counterexample", "replay"):
            if result.get(key):
                result[key] = result[key].replace(str(folder), published)
    build = record["builds"][0]
    planned = (build.get("planned_memory") or {}).get("planned_bytes")
    if planned is not None:
        record.setdefault("memory", {})["planned_bytes"] = planned
    roofline = ctx.target_doc.model.spec.roofline
    record["roofline"] = placement(build.get("flops"), record.get("latency", {}).get("candidate"),
                                   roofline.model_dump() if roofline is not None else None,
                                   latency_baseline=record.get("latency", {}).get("baseline"),
                                   dtype=_compute_dtype(ctx.plan.model.spec))


def _compute_dtype(plan_spec) -> str:
    """The dtype the kernels compute in: a precision-changing technique's activations, else float32."""
    for t in plan_spec.optimizations:
        if t.enabled and t.technique in ("mixed-precision", "quantization"):
            return t.precision.activations
    return "float32"


def _measure(ctx: Context, folder: Path, cores: int) -> None:
    import numpy as np

    from planctl.apply.benchmark import measure_in_subprocesses
    from planctl.measure.compare import bootstrap_ratio_ci
    from planctl.verify.strategies import example_inputs

    build = ctx.record["builds"][0]  # measured at the first production shape
    repeats = ctx.options.measure_repeats
    with stage(ctx.record, "measure", ctx.progress):
        example = example_inputs(ctx.plan.model.spec, build["shape_env"], seed=0)
        np.savez(folder / "measure-inputs.npz", **example)
        common = {"inputs": str(folder / "measure-inputs.npz"), "input_names": build["input_names"],
                  "threads": cores, "device": _device(ctx),
                  "batch_size": int(next(iter(example.values())).shape[0]) if example else 1}
        libs = build["libraries"]
        contenders = {
            "baseline": {**common, "kind": "tvm", "path": str(folder / libs["baseline"]), "warmup": 1,
                         "repeats": 4, "max_seconds": ctx.options.baseline_max_seconds / 3},
            "candidate": {**common, "kind": "tvm", "path": str(folder / libs["candidate"]), "warmup": 5,
                          "repeats": max(repeats // 3, 3), "max_seconds": ctx.options.baseline_max_seconds / 3},
            "onnxruntime": {**common, "kind": "onnxruntime", "path": str(ctx.model_path), "warmup": 5,
                            "repeats": max(repeats // 3, 3), "max_seconds": ctx.options.baseline_max_seconds / 3},
        }
        result = measure_in_subprocesses(contenders, rounds=3)
    latency = result["latency"]
    ctx.record["latency"] = latency
    ctx.record["measurement"] = {"method": result["method"], "rounds": result["rounds"],
                                 "inputs": "one hypothesis example inside the input domains"}
    ctx.record["memory"] = {"peak_rss_mb": result["peak_rss_mb"].get("candidate"),
                            "peak_rss_mb_by_contender": result["peak_rss_mb"]}
    gate = ctx.plan.model.spec.envelope.performance
    base, cand = latency["baseline"]["samples_ms"], latency["candidate"]["samples_ms"]
    low, high = bootstrap_ratio_ci(base, cand, gate.statistic)
    stat = gate.statistic
    ctx.record["speedup"] = {"statistic": stat, "gate": gate.min_speedup,
                             "value": latency["baseline"][stat] / latency["candidate"][stat],
                             "ci_low": low, "ci_high": high,
                             "vs_onnxruntime": latency["onnxruntime"][stat] / latency["candidate"][stat]}
    ctx.record["notes"].extend(_measurement_warnings(latency, stat))


def _measurement_warnings(latency: dict, stat: str) -> list[str]:
    """Say when the figures need a second look: a noisy machine, or a candidate slower than the
    independent runtime (the gate compares against TVM's untuned build, not onnxruntime)."""
    notes = []
    for name in ("baseline", "candidate"):
        s = latency[name]
        if s["mean"] and s["stdev"] / s["mean"] > 0.2:
            notes.append(f"{name} latency is noisy (stdev {s['stdev']:.1f} ms = {s['stdev'] / s['mean']:.0%} of "
                         "the mean): another process may have been using the cores; rerun on an idle machine")
    if latency["candidate"][stat] > latency["onnxruntime"][stat]:
        notes.append(f"the candidate's {stat} ({latency['candidate'][stat]:.2f} ms) is slower than onnxruntime's "
                     f"({latency['onnxruntime'][stat]:.2f} ms) on the same inputs")
    return notes


def _emit(ctx: Context, folder: Path) -> None:
    import json

    from planctl.apply.decide import decide
    from planctl.apply.inputs import library_sums
    from planctl.report.write import write_reports

    record, plan = ctx.record, ctx.plan.model
    _merge_evidence(ctx, folder)
    record["decision"] = decide(record["parity"], record.get("speedup"), plan.spec.envelope,
                                record.get("quality"), record.get("memory"))
    verdict = record["decision"]["verdict"]
    build = record["builds"][0]
    deployed = build["libraries"]["candidate" if verdict == "promote" else "baseline"]
    _export_records(ctx, folder)
    _record_inputs(ctx)
    manifest = {"plan": plan.metadata.name, "target": ctx.options.target, "verdict": verdict,
                "artifact": deployed, "baseline": build["libraries"]["baseline"],
                "candidate": build["libraries"]["candidate"],
                "fallback_switch": plan.spec.fallback.switch, "input_names": build["input_names"],
                "output_names": build["output_names"], "shape_env": build["shape_env"],
                "device": ctx.target_doc.model.spec.capabilities.device,
                "inputs": _input_contract(plan.spec.workload.inputs, build["shape_env"])}
    if verdict != "promote":
        # the rejected candidate stays as evidence (`planctl verify replay` runs it); it is not deployed
        if plan.spec.fallback.on_violation == "fail":
            (folder / build["libraries"]["baseline"]).unlink(missing_ok=True)
            manifest["artifact"] = None
    manifest["sha256"] = library_sums(folder, manifest)  # what an up-to-date check compares
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    (folder / "measure-inputs.npz").unlink(missing_ok=True)
    record["artifacts"] = {"library": manifest["artifact"], "records": "records",
                           "report_json": "report.json", "report_md": "report.md", "report_html": "report.html"}
    record["library_sha256"] = manifest["sha256"]
    write_reports(record, folder)


def _record_inputs(ctx: Context) -> None:
    """``record["inputs"]``: the run's inputs and their digest, with the tuning cache counted after
    this run's search and import, so an unchanged second apply finds the same generation."""
    from planctl.apply.inputs import cache_generation, digest

    found = dict(ctx.inputs)
    if "tuning_cache" in found:
        found["tuning_cache"] = cache_generation(ctx.options.cache_dir)
    ctx.record["inputs"] = {"digest": digest(found), "components": found}


def _input_contract(inputs, shape_env: dict) -> list[dict]:
    """What the runtime checks before a call: name, dtype, static shape and value domain."""
    from planctl.lowering.importer import concrete_shape

    return [{"name": i.name, "dtype": i.dtype, "shape": concrete_shape(i.shape, shape_env),
             "domain": i.domain.model_dump(mode="json")} for i in inputs]


def _export_records(ctx: Context, folder: Path) -> None:
    """The records this build used (best per workload) into ``folder/records/<shape>/``: reviewable
    ``records.jsonl`` (what ``records:`` in a plan names) plus TVM's JSONDatabase pair."""
    from planctl.tuning.governed import load_binding

    for tag, binding in ctx.record.get("tuning_stores", {}).items():
        load_binding(Path(binding)).export(ctx.workloads[tag], folder / "records" / tag)
