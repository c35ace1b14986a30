"""The dry run of an apply (what ``planctl plan`` prints): the tuning stage's plan, computed
without compiling anything.

It lives with tuning because that is the part of an apply that depends on more than the plan: which
tuning tasks the governed cache already serves, which the plan's committed records serve, which
other devices' records serve, and what is left to search within which budget (terraform's plan is a
diff against state; the tuning cache is apply's only state). Where each task's schedule comes from
is decided by the same census apply announces before it searches (planctl.tuning.census, through
:meth:`planctl.tuning.governed.GovernedCache.sources`), so the two cannot disagree. Around it: the
techniques and the TVM passes they map to (planctl.lowering, which runs before tuning), the
production shapes and the envelope. Lowering the model (legalize, fuse) is needed to extract the
tasks; nothing is built.

The caller reads the documents (planctl.cli.plan) and hands over plain values (:class:`Preview`):
the cache is a service below the flow and loads no plan, target or configuration itself.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from planctl.tuning.budget import Ceiling


@dataclass(frozen=True)
class Preview:
    """What the dry run of one plan on one target reads.

    ``spec``: the plan's ``PlanSpec`` (its techniques and envelope); ``target_spec``: the target
    document's ``spec`` (``tvm``, ``measurement``, ``other_device_records``); ``shapes``: the
    shape buckets apply builds (planctl.documents.shapes.choose_buckets); ``techniques``: the enabled techniques in plan order;
    ``autotuning``: the enabled autotuning technique or None; ``model``: the checked ONNX file;
    ``records``: the committed tuning records (a JSONL file or a folder of them) or None;
    ``compatible``: ``{name: TVM dict}`` of the targets ``compatible_with`` names; ``ceiling``: the
    repository's tuning limits (None when its configuration cannot be read)."""

    plan: str
    target: str
    spec: Any
    target_spec: Any
    shapes: list[dict[str, int]]
    techniques: list[Any]
    autotuning: Any | None
    model: Path
    records: Path | None = None
    compatible: dict[str, dict] = field(default_factory=dict)
    ceiling: Ceiling | None = None
    cache_dir: str | Path | None = None


def describe(preview: Preview) -> dict:
    """What apply would do: ``{plan, target, runs_here, techniques, shapes, padded_work, model_mb,
    envelope, budget, tasks, tasks_unavailable}`` (``padded_work``:
    :func:`planctl.documents.shapes.padded_work_by_max`). ``tasks`` (one entry per production shape:
    ``shape_env``, ``tasks`` as ``{task, source, measured_on}``, ``cache_known``, ``policy``) is None
    when TVM is not importable here (``tasks_unavailable`` says why) or the plan does not tune."""
    from planctl.lowering.techniques import describe_techniques

    from planctl.documents.shapes import padded_work_by_max

    tvm_target, why = _tvm_target(preview.target_spec.tvm)
    tuning = preview.autotuning
    out = {"plan": preview.plan, "target": preview.target,
           "runs_here": _runs_here(preview.target_spec.tvm) if tvm_target is not None else None,
           "techniques": describe_techniques(preview.spec, tvm_target), "shapes": preview.shapes,
           "padded_work": padded_work_by_max(preview.spec), "model_mb": _size_mb(preview.model),
           "envelope": _envelope(preview.spec), "budget": None, "tasks": None, "tasks_unavailable": why}
    if tuning is not None:
        out["budget"] = {"trials": tuning.budget.trials, "wall_clock_s": tuning.budget.wall_clock_s,
                         "trials_per_task": tuning.budget.trials_per_task, "records": tuning.records,
                         "effective": _effective_budget(tuning.budget, preview.ceiling)}
        if tvm_target is not None:
            out["tasks"] = _task_census(preview, tvm_target)
    return out


def _size_mb(path) -> float | None:
    """The model file's size (MB): about what each bucket's build embeds (its weights)."""
    try:
        return Path(path).stat().st_size / 1e6
    except (OSError, TypeError):
        return None


def _tvm_target(tvm_dict: dict):
    try:
        from planctl.lowering.build import make_target
        from planctl.lowering.tvm_env import import_tvm

        import_tvm(num_threads=tvm_dict.get("num-cores"))
        return make_target(tvm_dict), None
    except Exception as exc:  # noqa: BLE001 - TVM missing or a target TVM rejects: plan still prints
        return None, f"TVM is not importable here ({type(exc).__name__}: {str(exc)[:200]})"


def _runs_here(tvm_dict: dict) -> str:
    """Whether this host can run the target's code (the check apply makes before it builds)."""
    from planctl.lowering.compat import support

    return support(dict(tvm_dict)).reason()


def _envelope(spec) -> dict:
    env = spec.envelope
    out = {"parity": f"{env.parity.examples} hypothesis examples per shape plus the corners of each input's "
                     f"domain vs {env.parity.reference}, rtol {env.parity.default.rtol:g} atol "
                     f"{env.parity.default.atol:g}, for the candidate and for the baseline (the fallback)",
           "performance": f"{env.performance.statistic} speedup >= {env.performance.min_speedup:g}x over TVM's "
                          "untuned build at each bucket"}
    peer = env.performance.versus_onnxruntime
    if peer is not None:
        out["performance"] += (f"; >= {peer.min_speedup:g}x over onnxruntime "
                               + ("over the traffic mix" if peer.over == "traffic-mix" else "at each bucket"))
    if env.quality is not None:
        against = env.quality.reference.onnx if env.quality.reference is not None else "the plan's model"
        out["quality"] = (f"{env.quality.metric} on {env.quality.dataset} against {against} on onnxruntime: "
                          f"{env.quality.goal.type} {env.quality.goal.value:g}")
    return out


def _effective_budget(budget, ceiling: Ceiling | None) -> dict | None:
    from planctl.tuning.budget import effective_budget

    return effective_budget(budget, ceiling).to_dict() if ceiling is not None else None


def _task_census(preview: Preview, tvm_target) -> list[dict]:
    """Per production shape: where each task's schedule would come from (planctl.tuning.census:
    the cache, the committed records, other devices' records, left to search), and the device
    whose records serve it."""
    with _cache(preview) as cache:
        return [_shape_census(cache, preview, shape_env, tvm_target) for shape_env in preview.shapes]


def _shape_census(cache, preview: Preview, shape_env: dict, tvm_target) -> dict:
    from planctl.lowering.build import lower_candidate
    from planctl.lowering.importer import import_onnx
    from planctl.tuning.search import extract

    spec = preview.spec
    mod = lower_candidate(import_onnx(preview.model, spec.workload.inputs, shape_env).mod, tvm_target,
                          preview.techniques).mod
    if cache is None:
        rows = [{"task": t.task_name, "source": "unknown", "measured_on": None}
                for t in extract(mod, tvm_target)]
    else:
        rows = [{"task": s.task, "source": s.source, "measured_on": s.measured_on}
                for s in cache.sources(mod, tvm_target, preview.records)]
        rows = _outside_max_tasks(rows, mod, tvm_target, preview)
    return {"shape_env": shape_env, "tasks": rows, "cache_known": cache is not None,
            "policy": cache.policy if cache is not None else None}


def _outside_max_tasks(rows: list[dict], mod, tvm_target, preview: Preview) -> list[dict]:
    """Rows left to search that the budget's ``max_tasks`` keeps on TVM's default schedule (as
    planctl.tuning.search.plan_tasks decides it)."""
    from planctl.tuning.search import SERVED, extract
    from planctl.tuning.worker import by_cost

    most = getattr(getattr(preview.autotuning, "budget", None), "max_tasks", None)
    if most is None:
        return rows
    tasks = {t.task_name: t for t in extract(mod, tvm_target)}
    kept = set(by_cost(tasks, list(tasks))[:most])
    return [{**r, "source": "default"} if r["source"] not in SERVED and r["task"] not in kept else r for r in rows]


@contextlib.contextmanager
def _cache(preview: Preview) -> Iterator:
    """The governed cache for this target (a temporary empty one when none exists yet, so the
    committed records are still counted: planctl plan creates nothing); None when it cannot be read."""
    import tempfile

    from planctl.tuning.governed import open_cache
    from planctl.tuning.store import MissingCacheError, resolve_cache

    with tempfile.TemporaryDirectory(prefix="planctl-plan-") as empty:
        def opened(where):
            return open_cache(where, preview.target_spec, preview.target, preview.compatible, create=where == empty)
        try:
            where = resolve_cache(preview.cache_dir)
            try:
                cache = opened(where if where.is_postgresql or where.local_dir.exists() else empty)
            except MissingCacheError:  # a folder without a database, a database without planctl's tables
                cache = opened(empty)
        except Exception:  # noqa: BLE001 - an unreadable cache is reported as unknown, not fatal
            cache = None
        try:
            yield cache
        finally:
            if cache is not None:
                cache.store.close()
