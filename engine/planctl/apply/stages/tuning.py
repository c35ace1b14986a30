"""Tuning: the governed cache serves what it can (records valid for this target and TVM, measured
here or, as the target's ``other_device_records`` says, on another device), MetaSchedule searches
the rest within the budget (the plan's, capped by the repository ceiling), and the best schedules
are applied to each shape's lowered module. Before any search, where each task's schedule comes
from is announced on stderr (planctl.tuning.census). Without ``autotuning`` in the plan the lowered
modules go on unscheduled."""
from __future__ import annotations

import functools
from typing import Optional

from planctl.apply.context import RunContext, ShapeWork
from planctl.documents.techniques import autotuning as find_autotuning
from planctl.errors import TuningError
from planctl.report.record import Evidence
from planctl.report.record import Tuning as TuningEvidence


class Tuning(Evidence):
    shapes: list[Optional[TuningEvidence]]   # by production shape; None when the plan does not tune


def run(ctx: RunContext) -> Tuning:
    """Set each shape's ``scheduled`` module and ``workloads``, and ``ctx.cache``. Raises
    TuningError for a replay the cache cannot serve or a search that fails."""
    from planctl.documents.load import compatible_targets
    from planctl.documents.references import records_path
    from planctl.lowering.build import unscheduled
    from planctl.lowering.failures import tvm_stage
    from planctl.rules.config import load_config
    from planctl.tuning.budget import effective_budget
    from planctl.tuning.governed import open_cache

    autotuning = find_autotuning(ctx.techniques)
    if autotuning is None:
        for work in ctx.shapes:
            work.scheduled = work.lowered
        return Tuning(shapes=[None] * len(ctx.shapes))
    target_spec = ctx.target.model.spec
    with ctx.clock("tuning-cache"):
        ctx.cache = open_cache(ctx.options.cache_dir, target_spec, ctx.options.target_name,
                               compatible_targets(target_spec, ctx.options.root))
        committed = records_path(ctx.plan, ctx.options.root)
        # tune may start from an empty records folder (a new plan's first --write-records); apply may not
        imported = ctx.cache.import_records(committed, {"plan": ctx.plan_name, "seed": autotuning.seed,
                                                        "path": autotuning.records},
                                            allow_empty=ctx.options.command == "tune") if committed else 0
    budget = effective_budget(autotuning.budget, load_config(ctx.options.root))
    if ctx.options.refine:
        _refuse_unmatched_refine(ctx)
    shapes = []
    for i, work in enumerate(ctx.shapes):
        if work.failure is not None:   # the candidate's passes failed: nothing to tune
            shapes.append(None)
            continue
        report = None
        # a TuningError (a replay miss, a broken cache) stops apply; TVM raising is this candidate's failure
        with ctx.clock(f"tuning[{work.tag}]"), \
                tvm_stage("tuning", shape=work.tag, log_dir=ctx.staging, record=True) as capture:
            report = _search(ctx, work, autotuning, budget)
            report.imported_records = imported if i == 0 else 0
            work.scheduled, report.scheduled_funcs, report.total_funcs = _apply_database(ctx, work, capture)
            report.unscheduled_funcs = unscheduled(work.scheduled)
            report.integrity = list(ctx.cache.store.problems)
        work.failure = capture.failure
        if work.failure is not None:
            work.scheduled = None
            shapes.append(None)
            continue
        work.workloads = [t.workload_hash for t in report.tasks]
        shapes.append(TuningEvidence(**report.to_dict()))
    return Tuning(shapes=shapes)


def refuse_unknown_buckets(ctx: RunContext) -> None:
    """Raise TuningError (exit 2) for ``--refine`` patterns whose bucket prefix names none of the plan's
    buckets, before lowering (which takes tens of seconds on a real model)."""
    from planctl.documents.shapes import choose_buckets, shape_tag
    from planctl.tuning.search import unmatched_buckets

    tags = [shape_tag(env) for env in choose_buckets(ctx.spec)]
    unmatched = unmatched_buckets(ctx.options.refine, tags)
    if unmatched:
        raise TuningError(f"--refine {', '.join(repr(p) for p in unmatched)}: the bucket prefix matches none of "
                          f"the plan's buckets", hint=f"the buckets are {', '.join(tags)}; the prefix is a glob of "
                                                     f"one, e.g. '{tags[0]}:fused_matmul*'")


def refine_notice(ctx: RunContext) -> str:
    """The line said before the lowering that ``--refine``'s task patterns wait for: the task names
    come from the lowered buckets, so a pattern that names none is refused only after it."""
    from planctl.documents.shapes import choose_buckets

    count = len(choose_buckets(ctx.spec))
    patterns = " ".join(f"--refine {p!r}" for p in ctx.options.refine)
    return (f"lowering {count} bucket{'s' if count != 1 else ''} to find the tasks {patterns} "
            f"name{'s' if len(ctx.options.refine) == 1 else ''}, before any search")


def _refuse_unmatched_refine(ctx: RunContext) -> None:
    """Raise TuningError (exit 2) for ``--refine`` globs that name no task of any bucket, before any
    bucket is searched: a typo would otherwise spend the budget on the other patterns and be found
    only at the end."""
    from planctl.tuning.search import extract, unmatched_refine

    tasks = {work.tag: [t.task_name for t in extract(work.lowered, ctx.tvm_target)]
             for work in ctx.shapes if work.failure is None}
    unmatched = unmatched_refine(ctx.options.refine, tasks)
    if unmatched:
        names = sorted({name for found in tasks.values() for name in found})
        tags = list(tasks)
        raise TuningError(f"--refine {', '.join(repr(p) for p in unmatched)} matched no task of any bucket",
                          hint=f"a task is named as `planctl plan` and report.md's CPU kernels name it, with or without the "
                               f"kernels' _prepacked suffix (tasks here: "
                               f"{', '.join(names)}); a bucket prefix is a glob of one of the buckets "
                               f"({', '.join(tags)}), e.g. '{tags[0] if tags else 'batch-8_seq-16'}:fused_matmul*'")


def served_summary(ctx: RunContext, work: ShapeWork, report: Optional[TuningEvidence]) -> dict:
    """One bucket after tuning (planctl tune): its shape, tasks, the valid records serving them, the
    tasks with none (every candidate failed: they run unscheduled), the trials spent, the search's
    notes (report.md's Tuning bullets), and each task ``--refine`` searched again with its best
    record's time before and after (ms, MetaSchedule's runner: the kernel alone)."""
    if report is None:
        return {"shape_env": work.shape_env, "tasks": 0, "valid": 0, "without_valid_record": [], "trials_spent": 0,
                "failure": work.failure.summary() if work.failure else None}
    scope = ctx.cache.scope
    default = [t.name for t in report.tasks if t.source == "default"]
    missing = [t.name for t in report.tasks if t.source != "default"
               and not ctx.cache.store.top_k(t.workload_hash, scope.serving_ids, 1, device_ids=scope.device_ids)]
    return {"shape_env": work.shape_env, "tasks": len(report.tasks),
            "valid": len(report.tasks) - len(missing) - len(default), "default_schedule": len(default),
            "without_valid_record": missing, "trials_spent": report.trials_spent,
            "confirm_runs": report.confirm_runs,
            "scheduled": f"{report.scheduled_funcs}/{report.total_funcs}", "unscheduled": report.unscheduled_funcs,
            "seconds": round(report.seconds, 1),
            "stopped_by": report.stopped_by, "notes": list(report.notes),
            "timed_as": scope.measured_on(scope.device_id) + f" ({scope.device.label})",
            "refined": [{"name": t.name, "before_ms": t.best_ms_before, "after_ms": t.best_ms,
                         "best_new_ms": t.best_new_ms, "best_transfer_ms": t.best_transfer_ms,
                         "best_transfer_from": t.best_transfer_from, "best_sweep_ms": t.best_sweep_ms,
                         "before_measured_on": t.before_measured_on, "stored_ms": t.best_ms_stored,
                         "confirm_runs": t.confirm_runs, "confirm_failed": t.confirm_failed}
                        for t in report.tasks if t.best_ms_before is not None]}


def write_serving_records(ctx: RunContext, path) -> int:
    """Replace ``path`` with the record serving each task of every bucket: the best valid one
    (this device's first), else this key's failure mark for the task (so that an apply from these
    records alone does not search a task whose every candidate fails again). Returns the lines."""
    from planctl.tuning import records as record_files

    scope, store = ctx.cache.scope, ctx.cache.store
    chosen, seen = [], set()
    for work in ctx.shapes:
        for workload in work.workloads:
            if workload in seen:
                continue
            seen.add(workload)
            best = store.top_k(workload, scope.serving_ids, 1, device_ids=scope.device_ids, prefer=scope.device_id)
            failed = [] if best else sorted(store.records(key_ids=[scope.key_id], workloads=[workload]),
                                            key=lambda r: (r.min_s, r.id))[:1]
            chosen += best or failed
    path.parent.mkdir(parents=True, exist_ok=True)
    return record_files.export_jsonl(store, path, chosen)


def _search(ctx: RunContext, work: ShapeWork, autotuning, budget):
    """The cache's records for every task of ``work``, searching (or, with ``--replay``, refusing)
    what it cannot serve, after announcing where each task's schedule comes from; a TuningReport."""
    from planctl.documents.shapes import shape_text
    from planctl.tuning.census import print_lines
    from planctl.tuning.search import refine_for

    plan = (ctx.plan_name, ctx.plan.sha256)
    if ctx.options.replay:
        return _replay(ctx, work, autotuning.seed, budget, plan)
    return ctx.cache.tune(work.lowered, ctx.tvm_target, budget, autotuning.seed, plan, ctx.options.allow_version_drift,
                          progress=ctx.clock.progress is not None,
                          announce=functools.partial(print_lines, command=ctx.options.command),
                          shape=shape_text(work.shape_env), refine=refine_for(ctx.options.refine, work.tag))


def _replay(ctx: RunContext, work: ShapeWork, seed: int, budget, plan: tuple[str, str]):
    """No search: every task must be served by the cache (records of another TVM version are
    re-measured first when drift is allowed, other devices' records when the target's policy is
    ``re-measure``: re-measuring is not a search). Raises TuningError naming the tasks it cannot serve."""
    from planctl.tuning import search

    cache, allow_drift = ctx.cache, ctx.options.allow_version_drift
    todo, remeasure, tasks = search.plan_tasks(work.lowered, ctx.tvm_target, cache.store, cache.scope, cache.committed,
                                               budget.max_tasks)
    report = search.TuningReport(cache_dir=str(cache.store.path), tasks=tasks, budget=budget.to_dict(),
                                 key=cache.key.to_dict(), device=cache.device.to_dict(), policy=cache.policy)
    report.census = search.source_counts(tasks)
    drifted = [t for t in tasks if t.source == "drift"]
    if remeasure and (allow_drift or len(drifted) < len(remeasure)):
        report = cache.tune(work.lowered, ctx.tvm_target, budget, seed, plan, allow_drift=allow_drift,
                            allow_search=False)
        todo = [t for t in todo if not next(r for r in report.tasks if r.name == t.task_name).served_by]
    if todo:
        names = ", ".join(t.task_name for t in todo[:6])
        also = (f" ({len(drifted)} only have records of another TVM version: pass --allow-version-drift)"
                if drifted and not allow_drift else "")
        raise TuningError(f"--replay: no tuning record for {len(todo)} task(s): {names}{also}",
                          hint="run apply without --replay to search them, or import the team's records")
    return report


def _apply_database(ctx: RunContext, work: ShapeWork, capture):
    from planctl.lowering.build import apply_database

    return apply_database(work.lowered, ctx.tvm_target, ctx.cache.database(), instruments=capture.instruments)
