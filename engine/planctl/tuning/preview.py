"""The dry run of an apply (what ``planctl plan`` prints): the tuning stage's plan, computed
without compiling anything.

It lives with tuning because that is the part of an apply that depends on more than the plan: which
tuning tasks the governed cache already serves, which the plan's committed records serve, and what
is left to search within which budget (terraform's plan is a diff against state; the tuning cache
is apply's only state). Around it: the techniques and the TVM passes they map to (planctl.lowering,
which runs before tuning), the production shapes and the envelope. Lowering the model (legalize,
fuse) is needed to extract the tasks; nothing is built.
"""
from __future__ import annotations

import json
from pathlib import Path

from planctl.documents.references import checked_model, records_path
from planctl.documents.shapes import production_shape_envs
from planctl.documents.techniques import autotuning, enabled


def describe(plan, target, target_name: str, root: Path, cache_dir: Path | None) -> dict:
    """What apply would do for the plan document ``plan`` on the target document ``target``:
    ``{plan, target, techniques, shapes, envelope, budget, tasks, tasks_unavailable}``. ``tasks``
    is None when TVM is not importable here (``tasks_unavailable`` says why) or the plan does not tune.
    Raises MissingReferenceError when the model is missing or its sha256 differs."""
    from planctl.lowering.techniques import describe_techniques

    spec = plan.model.spec
    tvm_target, why = _tvm_target(target)
    tuning = autotuning(spec)
    out = {"plan": plan.model.metadata.name, "target": target_name,
           "techniques": describe_techniques(spec, tvm_target), "shapes": production_shape_envs(spec),
           "envelope": _envelope(spec), "budget": None, "tasks": None, "tasks_unavailable": why}
    if tuning is not None:
        out["budget"] = {"trials": tuning.budget.trials, "wall_clock_s": tuning.budget.wall_clock_s,
                         "trials_per_task": tuning.budget.trials_per_task, "records": tuning.records,
                         "effective": _effective_budget(tuning.budget, root)}
        if tvm_target is not None:
            out["tasks"] = _task_census(plan, target, target_name, root, cache_dir, tvm_target)
    return out


def _tvm_target(target):
    try:
        from planctl.lowering.build import make_target
        from planctl.lowering.tvm_env import import_tvm

        import_tvm(num_threads=target.model.spec.tvm.get("num-cores"))
        return make_target(target.model.spec.tvm), None
    except Exception as exc:  # noqa: BLE001 - TVM missing or a target TVM rejects: plan still prints
        return None, f"TVM is not importable here ({type(exc).__name__}: {str(exc)[:200]})"


def _envelope(spec) -> dict:
    env = spec.envelope
    out = {"parity": f"{env.parity.examples} hypothesis examples per shape plus the corners of each input's "
                     f"domain vs {env.parity.reference}, rtol {env.parity.default.rtol:g} atol "
                     f"{env.parity.default.atol:g}, for the candidate and for the baseline (the fallback)",
           "performance": f"{env.performance.statistic} speedup >= {env.performance.min_speedup:g}x"}
    if env.quality is not None:
        against = env.quality.reference.onnx if env.quality.reference is not None else "the plan's model"
        out["quality"] = (f"{env.quality.metric} on {env.quality.dataset} against {against} on onnxruntime: "
                          f"{env.quality.goal.type} {env.quality.goal.value:g}")
    return out


def _effective_budget(budget, root: Path):
    try:
        from planctl.tuning.budget import effective_budget

        return effective_budget(budget, root).to_dict()
    except Exception:  # noqa: BLE001 - optional: a bad configuration file is reported by check
        return None


def committed_workloads(path: Path | None) -> set[str]:
    """Workload hashes in a committed record set (``records.jsonl`` lines or TVM's JSON pair)."""
    if path is None or not path.exists():
        return set()
    found: set[str] = set()
    files = [path] if path.is_file() else sorted(path.glob("*.jsonl")) + [path / "database_workload.json"]
    for file in files:
        if not file.is_file():
            continue
        for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(item, dict) and "workload_hash" in item:
                found.add(str(item["workload_hash"]))
            elif isinstance(item, list) and item:
                found.add(str(item[0]))
    return found


def _task_census(plan, target, target_name, root, cache_dir, tvm_target) -> list[dict]:
    """Per production shape: tasks served by the cache, by the committed records, left to search."""
    import tvm_ffi
    from tvm.s_tir import meta_schedule as ms

    from planctl.lowering.build import lower_candidate
    from planctl.lowering.importer import import_onnx

    spec = plan.model.spec
    model = checked_model(root, plan)
    committed = committed_workloads(records_path(plan, root))
    out = []
    for shape_env in production_shape_envs(spec):
        mod = lower_candidate(import_onnx(model, spec.workload.inputs, shape_env).mod, tvm_target, enabled(spec)).mod
        tasks = ms.relax_integration.extract_tasks(mod, tvm_target)
        cached = _cached(cache_dir, target, target_name, root, mod, tvm_target)
        rows = []
        for task in tasks:
            key = str(tvm_ffi.structural_hash(task.dispatched[0]))
            source = ("cache" if cached is not None and key in cached else
                      "committed records" if key in committed else "search")
            rows.append({"task": task.task_name, "source": source})
        out.append({"shape_env": shape_env, "tasks": rows, "cache_known": cached is not None})
    return out


def _cached(cache_dir, target, target_name, root, mod, tvm_target) -> set[str] | None:
    """Workload hashes the tuning cache serves for this target (None when it cannot be read)."""
    from planctl.tuning.store import resolve_cache_dir

    if not resolve_cache_dir(cache_dir).exists():
        return set()
    try:
        from planctl.tuning import search
        from planctl.tuning.governed import open_cache

        cache = open_cache(cache_dir, target.model, target_name, root)
        _todo, _drift, reports = search.plan_tasks(mod, tvm_target, cache.store, cache.scope)
        return {r.workload_hash for r in reports if r.cached}
    except Exception:  # noqa: BLE001 - an unreadable cache is reported as unknown, not fatal
        return None
