"""Governed search: tune only the tasks the cache cannot serve, within the budget.

Where each task's schedule comes from is decided first (planctl.tuning.census) and announced
before any search starts. A task is served when the scope (planctl.tuning.scope) holds a record of
its workload: MetaSchedule commits a record for every measured candidate, failed ones with 1e10 s,
so a task whose every candidate failed here is not searched again and a second apply of the same
plan and target spends no trials. Valid records measured on another device serve, are re-measured
here first, or are ignored, as the target's ``other_device_records`` says. Records from another TVM
version are re-measured first when the apply allows version drift, else ignored (the report says
which). The search runs in a child process (worker.py) that writes the same SQLite store; the
parent stops it at the wall-clock deadline and shows a progress bar of committed trials on a
terminal.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from planctl.errors import TuningError
from planctl.tuning import census
from planctl.tuning.budget import Budget
from planctl.tuning.scope import Scope
from planctl.tuning.store import Store
from planctl.tuning.store.record import FAILED_S
from planctl.tuning.worker import CANDIDATES_FILE, STARTED_FILE, STOPPED_FILE

REMEASURE_TOP = 3  # traces re-measured per task (drifted, other devices'): the best few, not the whole history
SERVED = ("cache", "committed", "other-devices")  # census sources that need no search
KILL_GRACE_S = 15  # past the wall-clock budget before the worker is killed (it stops itself first)
# A worker still starting (TVM import, task extraction, the builder's and runner's process pools: 18 s
# on an idle 2-core host, more under load) has spent nothing yet and stops itself at its first check once
# the budget is gone; it is killed only if its start-up hangs this long past the budget.
STARTUP_GRACE_S = 300


@dataclass
class TaskReport:
    name: str
    workload_hash: str
    cached: bool
    trials: int = 0
    best_ms: float | None = None
    best_ms_before: float | None = None  # --refine: the serving record's time before this search, timed here
    before_measured_on: str | None = None  # --refine: who measured that record, re-measured here first
    best_ms_stored: float | None = None  # --refine: that record's own stored time (another day's, or device's)
    best_new_ms: float | None = None     # --refine: the best of the candidates this search measured, kept or not
    confirm_runs: int = 0                # --refine: times each of the old and the new best were timed again, alternately
    confirm_failed: str | None = None    # --refine: where to read why the new best failed when timed again
    best_transfer_ms: float | None = None  # the best schedule transferred from another shape (planctl.tuning.transfer)
    best_transfer_from: str | None = None  # ... the shape of the workload it came from (e.g. "8 x 128 x 1536")
    best_sweep_ms: float | None = None     # the best register-tile sweep candidate (planctl.tuning.sweep)
    served_by: str | None = None      # exact | compatible:<target> | remeasured | searched | None
    source: str | None = None         # planctl.tuning.census: cache | committed | other-devices | ...
    measured_on: str | None = None    # "this CPU" or the device whose record serves the task
    budget_share: float | None = None  # this task's share of the trials spent in this apply
    drift_records: int = 0             # records of another TVM version for this workload
    candidates: int = 0                # candidates this apply measured (built and run)
    build_errors: int = 0              # ... whose build failed
    run_errors: int = 0                # ... that built but failed to run
    errors: dict = field(default_factory=dict)  # "build: <reason>" / "run: <reason>" -> count (top 5)


@dataclass
class TuningReport:
    """What the search spent and found. ``trials_spent`` counts records this apply added."""

    cache_dir: str
    tasks: list[TaskReport] = field(default_factory=list)
    trials_spent: int = 0
    confirm_runs: int = 0             # --refine: the confirmation's measurements, beyond the trial budget
    seconds: float = 0.0
    timed_out: bool = False           # killed at the wall-clock deadline (its last round is lost)
    stopped_by: str | None = None     # trials | tasks | wall-clock | killed (None: nothing searched)
    imported_records: int = 0
    scheduled_funcs: int = 0
    total_funcs: int = 0
    unscheduled_funcs: list[str] = field(default_factory=list)  # kernels left on TVM's default schedule
    budget: dict = field(default_factory=dict)
    key: dict = field(default_factory=dict)
    device: dict = field(default_factory=dict)
    policy: str = "serve"             # the target's other_device_records
    census: dict = field(default_factory=dict)  # source -> tasks, before the search
    session: str | None = None
    notes: list[str] = field(default_factory=list)
    integrity: list[str] = field(default_factory=list)
    farm: dict | None = None          # the RPC farm that measured (planctl.tuning.farm.summarize)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["reused"] = self.trials_spent == 0 and all(t.cached for t in self.tasks)
        return data


def extract(mod, target):
    """MetaSchedule's tuning tasks of ``mod``, less the hand-scheduled kernels (``tirx.is_scheduled``,
    e.g. planctl.lowering.cuda_attention's): there is nothing to search in them, and a record applied
    to them would replace the hand-written schedule; and less the gathers (kernels that read a
    buffer at data-dependent indices, planctl.lowering.gathers.indirect_reads): once they could be
    measured (planctl.tuning.arguments), their best MetaSchedule schedules broke MiniLM's parity
    (max abs error 0.047 on the x86-64-avx512 build, AMD EPYC Zen 5), and unscheduled they take
    under 0.1% of the call (the CPU profile), so they keep TVM's default schedule."""
    from tvm.s_tir import meta_schedule as ms

    return [t for t in ms.relax_integration.extract_tasks(mod, target) if not _hand_scheduled(t) and not _gather(t)]


def _gather(task) -> bool:
    from planctl.lowering.gathers import indirect_reads

    func = task.dispatched[0]["main"] if task.dispatched else None
    try:
        return bool(func is not None and indirect_reads(func))
    except Exception:  # noqa: BLE001 - a kernel the schedule cannot walk is tuned as before
        return False


def _hand_scheduled(task) -> bool:
    func = task.dispatched[0]["main"] if task.dispatched else None
    return bool(func is not None and func.attrs is not None and func.attrs.get("tirx.is_scheduled", False))


def workload_hash(task) -> str:
    from planctl.tuning.database import structural_hash

    return structural_hash(task.dispatched[0])


def task_sources(mod, target, store: Store, scope: Scope, committed: set[str] | None = None,
                 extra_rows: list[dict] | None = None) -> tuple[list, list[census.TaskSource]]:
    """(extracted tasks, where each one's schedule comes from); ``extra_rows``: records not in the
    store yet (a committed file ``planctl plan`` reads without loading it)."""
    tasks = extract(mod, target)
    rows = store.serving_rows(scope.serving_ids) + list(extra_rows or [])
    drift_rows = store.serving_rows(list(scope.drift)) if scope.drift else []
    names = [(t.task_name, workload_hash(t)) for t in tasks]
    return tasks, census.classify(names, rows, scope, committed or set(), drift_rows)


def refined(task_name: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``task_name`` matches one of the ``--refine`` globs; a kernel's symbol in the CPU
    profile (``<task>_prepacked`` after weight prepacking) matches as its task does."""
    return any(fnmatch(task_name, p) or fnmatch(f"{task_name}_prepacked", p) for p in patterns)


def unmatched_refine(patterns: tuple[str, ...], tasks: dict[str, list[str]]) -> list[str]:
    """The ``--refine`` patterns that name no task of any bucket; ``tasks``: each bucket's tag and its
    task names (a typo would otherwise search nothing and say nothing)."""
    return [pattern for pattern in patterns
            if not any(refined(name, refine_for((pattern,), tag)) for tag, names in tasks.items() for name in names)]


def unmatched_buckets(patterns: tuple[str, ...], tags: list[str]) -> list[str]:
    """The ``--refine`` patterns whose bucket prefix (``BUCKET:TASK``) is a glob no bucket ``tag``
    matches; known from the plan's shapes alone, so a typo is refused before any lowering."""
    return [pattern for pattern in patterns
            if (bucket := pattern.rpartition(":")[0]) and not any(fnmatch(tag, bucket) for tag in tags)]


def refine_for(patterns: tuple[str, ...], tag: str) -> tuple[str, ...]:
    """The task globs of ``patterns`` (``[BUCKET:]TASK``, BUCKET a glob of the bucket's tag such as
    ``batch-32_seq-16``; without it, every bucket) that apply to the bucket ``tag``."""
    found = []
    for pattern in patterns:
        bucket, _, task = pattern.rpartition(":")
        if not bucket or fnmatch(tag, bucket):
            found.append(task)
    return tuple(found)


def plan_tasks(mod, target, store: Store, scope: Scope, committed: set[str] | None = None,
               max_tasks: int | None = None, refine: tuple[str, ...] = ()) -> tuple[list, dict, list[TaskReport]]:
    """(tasks to search, {task name: record ids to re-measure first}, reports for every task).
    ``refine``: globs of task names searched again though the cache serves them (the search starts
    from their records: MetaSchedule's evolutionary search seeds its population with the database's
    best); the cache keeps whichever record is fastest.
    Re-measured: the best of another device's records (policy ``re-measure``) and of another TVM
    version's (used only with ``--allow-version-drift``). With ``max_tasks``, a task outside the
    ``max_tasks`` of most FLOPs (planctl.tuning.worker.by_cost) that the cache cannot serve is
    neither searched nor re-measured: its source is ``default`` (TVM's default schedule)."""
    from planctl.tuning.worker import by_cost

    tasks, sources = task_sources(mod, target, store, scope, committed)
    kept = None
    if max_tasks is not None:
        kept = set(by_cost({t.task_name: t for t in tasks}, [t.task_name for t in tasks])[:max_tasks])
    todo, remeasure, reports = [], {}, []
    for task, found in zip(tasks, sources):
        source = found.source
        if kept is not None and source not in SERVED and task.task_name not in kept:
            source = "default"
        report = TaskReport(task.task_name, found.workload_hash, cached=source in SERVED,
                            source=source, measured_on=found.measured_on,
                            drift_records=store.count(key_ids=list(scope.drift), workloads=[found.workload_hash])
                            if scope.drift else 0)
        if report.cached:
            report.best_ms = found.best_s * 1e3 if found.best_s is not None else None
            report.served_by = scope.label(found.key_id)
            if refined(task.task_name, refine):
                report.best_ms_before = report.best_ms
                todo.append(task)
                # a stored time is comparable only with times measured beside it: another device's
                # (another CPU, or warm against cold caches), and this device's from another day (a
                # shared host drifts: the 8 x 16 FFN-down record, 1.03 ms when stored, timed 1.39 ms
                # a day later). Time the serving record here first (another device's: its best few),
                # then search; the store ranks this session's times above this device's older ones
                # (planctl.tuning.store.db._superseded), so one re-timed record is enough here
                mine = found.device_id == scope.device_id
                remeasure[task.task_name] = _best_ids(store, found.workload_hash, scope.serving_ids,
                                                      exclude=None if mine else scope.device_id,
                                                      prefer=scope.device_id, top=1 if mine else REMEASURE_TOP)
        elif source == "default":
            pass
        else:
            todo.append(task)
            if found.source == "re-measure":
                remeasure[task.task_name] = _best_ids(store, found.workload_hash, scope.serving_ids,
                                                      exclude=scope.device_id)
            elif found.source == "drift":
                remeasure[task.task_name] = _best_ids(store, found.workload_hash, list(scope.drift))
        reports.append(report)
    return todo, remeasure, reports


def _best_ids(store: Store, key: str, key_ids: list[str], exclude: str | None = None,
              prefer: str | None = None, top: int = REMEASURE_TOP) -> list[int]:
    """Ids of a workload's ``top`` best records (``prefer``'s first), none measured on ``exclude``."""
    records = store.top_k(key, key_ids, REMEASURE_TOP * 4, prefer=prefer)
    return [rec.id for rec in records if rec.device_id != exclude][:top]


def provenance(plan_name: str, plan_digest: str, seed: int, session: str) -> dict:
    return {"plan": plan_name, "plan_sha256": plan_digest, "host": socket.gethostname(), "seed": seed,
            "session": session}


def tune(mod, target_dict: dict, target, store: Store, scope: Scope, budget: Budget, seed: int,
         log_dir: Path, plan: tuple[str, str] = ("", ""), compatible: dict | None = None,
         allow_drift: bool = False, allow_search: bool = True, progress: bool = False,
         committed: set[str] | None = None, announce=None, shape: str = "", farm: dict | None = None,
         refine: tuple[str, ...] = ()) -> TuningReport:
    """Search (and re-measure) the tasks of ``mod`` (legalized and fused) the scope cannot serve,
    and the served ones that match a ``refine`` glob (:func:`plan_tasks`).
    ``farm`` (``{tracker, device_key, session_timeout_s}``): measure the candidates on that RPC farm.
    ``committed``: identities of the plan's committed records (counted apart in the census);
    ``announce(lines)`` is called before anything is searched, with what will happen
    (planctl.tuning.census.render for ``shape``, e.g. ``batch=2``), and once more before that if
    another apply is searching the same workloads (see :func:`claim`).

    Raises TuningError when the child process fails for a reason other than the deadline.
    """
    report = TuningReport(cache_dir=store.where, budget=budget.to_dict(), key=scope.key.to_dict(),
                          device=scope.device.to_dict(), policy=scope.policy)
    locks = store.search_locks()
    try:
        search, remeasure = _decide(report, mod, target, store, scope, committed, allow_drift, allow_search,
                                    budget, refine)
        if search or remeasure:
            names = {t.name: t.workload_hash for t in report.tasks if t.name in search or t.name in remeasure}
            waited, refused = claim(locks, scope.key_id, names, budget, announce)
            if waited:  # the other apply committed its records meanwhile: count again
                search, remeasure = _decide(report, mod, target, store, scope, committed, allow_drift,
                                            allow_search, budget, refine)
                report.notes.append(f"waited {waited:.0f} s for another apply's search of the same workloads "
                                    f"(the cache's search lock, {store.where})")
            for name in sorted(refused & (set(search) | set(remeasure))):
                report.notes.append(f"task {name}: another apply kept searching it past this apply's wait "
                                    f"({lock_wait_s(budget):.0f} s); not searched here")
            search = [n for n in search if n not in refused]
            remeasure = {n: ids for n, ids in remeasure.items() if n not in refused}
        if announce is not None:
            again = tuple(t.name for t in report.tasks if t.cached and t.name in search)
            announce(census.render(shape or "its shape", [_as_source(t) for t in report.tasks],
                                   budget.to_dict() if allow_search or remeasure else None, allow_drift,
                                   again=again))
        if not search and not remeasure:
            return report
        _run_session(report, mod, target_dict, store, scope, budget, seed, log_dir, plan, compatible, search,
                     remeasure, allow_search, progress, farm, announce)
    finally:
        locks.release()
    return report


def _decide(report: TuningReport, mod, target, store: Store, scope: Scope, committed, allow_drift: bool,
            allow_search: bool, budget: Budget | None = None, refine: tuple[str, ...] = ()) -> tuple[list[str], dict]:
    """Fill ``report``'s tasks, census and notes from the cache as it is now; returns (task names
    to search, {task name: record ids to re-measure})."""
    todo, remeasure, report.tasks = plan_tasks(mod, target, store, scope, committed,
                                               budget.max_tasks if budget is not None else None, refine)
    report.census = source_counts(report.tasks)
    report.notes = []
    _drift_notes(report, scope, remeasure, allow_drift)
    again = [t.name for t in report.tasks if t.cached and refined(t.name, refine)]
    if again and allow_search:
        report.notes.append(f"searched again though served (--refine), from their records: {', '.join(again)}")
    if not allow_drift:
        remeasure = {name: ids for name, ids in remeasure.items()
                     if next(t for t in report.tasks if t.name == name).source != "drift"}
    search = [t.task_name for t in todo if t.task_name not in remeasure or t.task_name in again] if allow_search else []
    return search, remeasure


def lock_wait_s(budget: Budget) -> float:
    """How long an apply waits for another's search of the same workloads: that search's wall-clock
    budget (if it is this apply's), the worker's kill grace, and a minute for its bookkeeping."""
    return budget.wall_clock_s + KILL_GRACE_S + 60


def claim(locks, key_id: str, tasks: dict[str, str], budget: Budget, announce=None,
          poll_s: float = 0.5) -> tuple[float, set[str]]:
    """Take the search lock of each task's workload under validity key ``key_id`` (``tasks``: name
    -> workload hash), in sorted order so two applies never hold each other's (no deadlock);
    while another apply holds one, wait for it (polling, so Ctrl-C works) up to
    :func:`lock_wait_s`. Returns (seconds waited, 0.0 when no lock was taken by another; names of the tasks whose lock
    stayed taken).

    Why a lock per workload: two applies of one workload at once would search it twice and store
    two sets of records; with the lock the second one waits, then finds the first one's records
    and searches nothing. Applies of different workloads still search at once."""
    order = sorted(set(tasks.values()))
    started = time.monotonic()
    deadline, told = started + lock_wait_s(budget), False
    while True:
        for workload in order:
            if not locks.try_acquire(f"{key_id}:{workload}"):
                break
        else:  # every lock held: 0.0 when none was contended (nothing to count again)
            return (time.monotonic() - started) if told else 0.0, set()
        if time.monotonic() > deadline:
            held = {name.split(":", 1)[1] for name in locks.held}
            return time.monotonic() - started, {n for n, w in tasks.items() if w not in held}
        if not told and announce is not None:
            announce([f"another apply is searching {len(order) - len(locks.held)} of these workloads in this "
                      "cache: waiting for its records (the cache's search lock)"])
        told = True
        time.sleep(poll_s)


def _run_session(report: TuningReport, mod, target_dict: dict, store: Store, scope: Scope, budget: Budget, seed: int,
                 log_dir: Path, plan: tuple[str, str], compatible, search: list[str], remeasure: dict,
                 allow_search: bool, progress: bool, farm: dict | None = None, announce=None) -> None:
    """One search session: the worker process (``announce`` hears its progress once a minute off a
    terminal), then the report's per-task figures. Raises
    TuningError before anything starts when the farm's tracker lists no server under its key."""
    if farm:
        from planctl.tuning.farm import servers_or_error

        servers_or_error(farm)
    session = uuid.uuid4().hex[:16]
    report.session = session
    spec = {"cache": store.where, "key": scope.key.to_dict(), "device": scope.device.to_dict(),
            "policy": scope.policy, "compatible": compatible or {},
            "provenance": provenance(*plan, seed, session), "session": session, "target": target_dict,
            "search": search, "remeasure": remeasure, "allow_search": allow_search, "trials": budget.trials,
            "trials_per_task": budget.trials_per_task, "seed": seed, "work_dir": str(log_dir / session),
            "farm": farm}
    store.start_session(session, scope.key_id, scope.device_id, {"budget": budget.to_dict(), **spec["provenance"]})
    if set(search) & set(remeasure):  # a refine: its confirmation's times are a later session's (worker.confirm)
        spec["confirm_session"] = f"{session}-confirm"
        store.start_session(spec["confirm_session"], scope.key_id, scope.device_id,
                            {**spec["provenance"], "session": spec["confirm_session"], "confirms": session})
    spec["wall_clock_s"] = budget.wall_clock_s
    started = time.monotonic()
    report.timed_out = _run_worker(mod, spec, store, budget, log_dir, progress, announce)
    report.seconds = time.monotonic() - started
    _read_worker_files(report, log_dir / session)
    _finish(report, store, scope, session, spec.get("confirm_session"), log_dir / "search.log")


def source_counts(tasks: list[TaskReport]) -> dict[str, int]:
    """{census source: tasks} (planctl.tuning.census.SOURCES, every source present)."""
    return census.counts([_as_source(t) for t in tasks])


def _as_source(task: TaskReport) -> census.TaskSource:
    return census.TaskSource(task.name, task.workload_hash, task.source or "search", measured_on=task.measured_on)


def _read_worker_files(report: TuningReport, log_dir: Path) -> None:
    """Candidate and failure counts per task, why the search stopped (planctl.tuning.worker), and
    the farm's servers (planctl.tuning.farm)."""
    from planctl.tuning import farm

    stopped = log_dir / STOPPED_FILE
    report.stopped_by = "killed" if report.timed_out else (stopped.read_text().strip() if stopped.exists() else None)
    try:
        report.farm = json.loads((log_dir / farm.FARM_FILE).read_text())
    except (OSError, ValueError):
        report.farm = None
    try:
        counts = json.loads((log_dir / CANDIDATES_FILE).read_text())
    except (OSError, ValueError):
        return
    for task in report.tasks:
        entry = counts.get(task.name) or {}
        task.candidates = entry.get("candidates", 0)
        task.build_errors = entry.get("build_errors", 0)
        task.run_errors = entry.get("run_errors", 0)
        task.errors = entry.get("reasons", {})
    if report.farm:
        report.notes += farm.notes(report.farm, sum(t.run_errors for t in report.tasks))


def _drift_notes(report: TuningReport, scope: Scope, remeasure: dict, allowed: bool) -> None:
    for key_id, other in scope.drift.items():
        versions = ", ".join(f"{k} {v}" for k, v in sorted(other.versions.items()))
        action = ("re-measured before use" if allowed
                  else "ignored (pass --allow-version-drift to re-measure them)")
        report.notes.append(f"records of key {key_id} were tuned with {versions}: {action}")
    ignored = Counter(why for why in scope.ignored.values())
    for why, count in sorted(ignored.items()):
        report.notes.append(f"records of {count} other key(s) not used: {why}")
    for task in report.tasks:
        if task.source == "drift":
            report.notes.append(f"task {task.name}: served only by another TVM version's records")
        elif task.source == "re-measure":
            report.notes.append(f"task {task.name}: only other devices' records; the best "
                                f"{len(remeasure.get(task.name, []))} are re-measured here (other_device_records: "
                                "re-measure)")
    others = census.elsewhere([_as_source(t) for t in report.tasks])
    if others:
        report.notes.append("tasks served by another device's records (another host, or this one under other "
                            "runner settings): " + "; ".join(
            f"{count} measured on {label}" for label, count in sorted(others.items()))
            + " (the target's other_device_records: serve)")


UNMEASURED = "had no measured candidate when the search's"   # in the notes below; apply's summary prints them


def _unmeasured_tasks_note(report: TuningReport) -> None:
    """Say so when the wall clock or the trial budget stopped a search before some of its tasks got a
    measured candidate: they run on TVM's default schedule, which apply's summary would otherwise
    show only as a count."""
    searched = [t for t in report.tasks if (t.source or "search") == "search"]
    waiting = [t.name for t in searched if not t.trials]
    if not waiting or report.stopped_by not in ("killed", "wall-clock", "trials"):
        return
    shown = ", ".join(waiting[:4]) + (f" and {len(waiting) - 4} more" if len(waiting) > 4 else "")
    lead = f"{len(waiting)} of its {len(searched)} tasks {UNMEASURED}"
    if report.stopped_by == "trials":
        report.notes.append(f"{lead} {report.budget.get('trials', '?')} trials ran out: {shown} run on TVM's default "
                            "schedule; raise the autotuning budget's trials (a task's first batch takes at least 2)")
    else:
        report.notes.append(
            f"{lead} {report.budget.get('wall_clock_s', '?')} s wall clock ran out (stopped after "
            f"{report.seconds:.0f} s): {shown} run on TVM's default schedule (MetaSchedule's start-up and each "
            f"task's first batch take tens of seconds on a small host); raise the autotuning budget's wall_clock_s")


def _finish(report: TuningReport, store: Store, scope: Scope, session: str, confirm_session: str | None = None,
            search_log: Path | None = None) -> None:
    """Per task: trials this session committed, best time now, who serves it, share of the budget;
    a refined task's before and after are the confirmation's times when it ran (worker.confirm)."""
    spent = store.session_summary(session)
    confirmed = store.session_summary(confirm_session) if confirm_session else {}
    report.trials_spent = sum(n for n, _ in spent.values())
    report.confirm_runs = sum(n for n, _ in confirmed.values())
    for task in report.tasks:
        trials, remeasured = spent.get(task.workload_hash, (0, False))
        task.trials = trials
        task.budget_share = round(trials / report.trials_spent, 4) if report.trials_spent else 0.0
        if trials or task.workload_hash in confirmed:
            previous_measured_on = task.measured_on
            best = store.top_k(task.workload_hash, scope.serving_ids, 1, device_ids=scope.device_ids,
                               prefer=scope.device_id)
            task.best_ms = best[0].min_s * 1e3 if best else None
            task.measured_on = scope.measured_on(best[0].device_id) if best else None
            was_refined = task.best_ms_before is not None
            task.served_by = "remeasured" if remeasured and not was_refined else "searched"
            if was_refined and remeasured:  # compare with the old record's time today, on this device
                task.before_measured_on = previous_measured_on
                task.best_ms_stored = task.best_ms_before
                task.best_ms_before = session_best_ms(store, task.workload_hash, session, REMEASURED)
            if was_refined:
                task.best_new_ms = session_best_ms(store, task.workload_hash, session, NEW)
            transferred = session_best(store, task.workload_hash, session, TRANSFERRED)
            if transferred is not None:
                task.best_transfer_ms = transferred.min_s * 1e3
                task.best_transfer_from = transferred.json("provenance").get("transferred_from_shape")
            swept = session_best(store, task.workload_hash, session, SWEPT)
            task.best_sweep_ms = swept.min_s * 1e3 if swept is not None else None
            if was_refined and task.workload_hash in confirmed:
                _confirmed(task, store, confirm_session, transferred, swept)
                if task.best_new_ms is None:
                    task.confirm_failed = f"see {search_log}, the 'confirm {task.name}' lines"
                    report.notes.append(f"task {task.name}: its best new candidate failed to build or run when "
                                        f"timed again beside the old record, which keeps serving ({task.confirm_failed})")
            elif was_refined and confirm_session and _beat(task.best_new_ms, task.best_ms_before):
                report.notes.append(f"task {task.name}: its best new candidate ({task.best_new_ms:.4g} ms) serves "
                                    "unconfirmed: the worker was stopped before it timed it again beside the old "
                                    "record (the wall clock); refine it again to confirm")
    _unmeasured_tasks_note(report)
    _disturbed_note(report, [*store.records(session=session),
                             *(store.records(session=confirm_session) if confirm_session else [])])
    store.stamp_session(session, {t.workload_hash: {"task_trials": t.trials, "apply_trials": report.trials_spent}
                                  for t in report.tasks if t.trials})
    store.finish_session(session, {**report.budget, "trials_spent": report.trials_spent,
                                   "seconds": round(report.seconds, 3), "timed_out": report.timed_out,
                                   "tasks": {t.name: t.trials for t in report.tasks}})
    if confirm_session:
        store.finish_session(confirm_session, {"confirms": session, "measurements": report.confirm_runs})


DISTURBED_RATIO = 1.5   # a candidate's median repeat this much slower than its fastest: something else ran
DISTURBED_SHARE = 0.15  # of a search's candidates; quiet searches on 2-core hosts stayed at or under 6%


def disturbed_share(records) -> tuple[int, int]:
    """(candidates whose median timed repeat was at least DISTURBED_RATIO x their fastest, candidates
    with 3 or more valid repeats). A kernel alone repeats within a few percent on a quiet host; a
    busy neighbour descheduling one of its threads makes a repeat take several times as long."""
    import statistics

    timed = [secs for secs in (rec.json("run_secs") for rec in records)
             if len(secs) >= 3 and max(secs) < FAILED_S]
    return sum(statistics.median(secs) >= DISTURBED_RATIO * min(secs) for secs in timed), len(timed)


def _disturbed_note(report: TuningReport, records) -> None:
    disturbed, timed = disturbed_share(records)
    if timed >= 10 and disturbed >= DISTURBED_SHARE * timed:
        report.notes.append(
            f"the host was busy during the search: {disturbed} of {timed} candidates took their median repeat "
            f"{DISTURBED_RATIO}x their fastest or more (another process took a core). Records rank by their "
            "fastest repeat, which another process cannot shorten, but a candidate whose every repeat was "
            "slowed loses unfairly: search again on a quiet host (`top` shows what else runs)")


# provenance sources of a session's records (the worker's): what each refine figure is the best of
REMEASURED = ("remeasured",)       # a refined task's "before", when another device measured its record
NEW = ("search", "transfer", "sweep")  # the best new candidate, kept or not
TRANSFERRED = ("transfer",)        # the best schedule fitted from another shape (planctl.tuning.transfer)
SWEPT = ("sweep",)                 # the best register-tile sweep candidate (planctl.tuning.sweep)


def session_best(store: Store, workload_hash: str, session: str, sources: tuple[str, ...]):
    """The fastest valid record ``session`` stored for a workload whose provenance source is one of
    ``sources`` (:data:`REMEASURED`, :data:`NEW`, :data:`TRANSFERRED`, :data:`SWEPT`), or None."""
    found = [rec for rec in store.records(workloads=[workload_hash], session=session)
             if rec.json("provenance").get("source") in sources and rec.min_s < FAILED_S]
    return min(found, key=lambda rec: rec.min_s, default=None)


def session_best_ms(store: Store, workload_hash: str, session: str, sources: tuple[str, ...]) -> float | None:
    """:func:`session_best`'s time in ms."""
    best = session_best(store, workload_hash, session, sources)
    return best.min_s * 1e3 if best is not None else None


def _beat(new_ms: float | None, old_ms: float | None) -> bool:
    return new_ms is not None and old_ms is not None and new_ms < old_ms


def _confirmed(task: TaskReport, store: Store, session: str, transferred, swept=None) -> None:
    """A refined task's before and after as the confirmation timed them (planctl.tuning.worker.confirm:
    the old record and the best new candidate, alternately, the fastest of each one's times), in
    place of the search's; a confirmed transferred or swept schedule keeps its figure."""
    times: dict[str, list] = {"old": [], "new": []}
    for rec in store.records(workloads=[task.workload_hash], session=session):
        prov = rec.json("provenance")
        if prov.get("confirms") in times and rec.min_s < FAILED_S:
            times[prov["confirms"]].append((rec.min_s * 1e3, prov.get("confirmed_record")))
    old, new = min(times["old"], default=None), min(times["new"], default=None)
    task.confirm_runs = min(len(times["old"]), len(times["new"]))
    task.best_ms_before = old[0] if old else task.best_ms_before
    task.best_new_ms = new[0] if new else None
    if new and transferred is not None and new[1] == transferred.id:
        task.best_transfer_ms = new[0]
    if new and swept is not None and new[1] == swept.id:
        task.best_sweep_ms = new[0]


def _run_worker(mod, spec: dict, store: Store, budget: Budget, log_dir: Path, progress: bool,
                announce=None) -> bool:
    """Run worker.py; return True when it was stopped at the wall-clock deadline."""
    import tvm

    from planctl.tuning.progress import TrialProgress

    log_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="planctl-tune-") as tmp:
        spec["module_json"] = str(Path(tmp) / "module.json")
        Path(spec["module_json"]).write_text(tvm.ir.save_json(mod))
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_text(json.dumps(spec))
        # the worker stops itself between rounds; this kill is the backstop for a round that overruns
        deadline = Deadline(time.monotonic() + budget.wall_clock_s, Path(spec["work_dir"]) / STARTED_FILE)
        # what can run: the budget, or each task's share when fewer tasks than the budget covers
        # (4 refined matmuls x 64 trials, not the plan's 600)
        tasks = set(spec.get("search", [])) | set(spec.get("remeasure", {}))
        ceiling = min(budget.trials, budget.trials_per_task * len(tasks)) if tasks else budget.trials
        with open(log_dir / "search.log", "ab") as log, TrialProgress(ceiling, progress, announce) as bar:
            # the cache reaches the worker through its environment, never through the spec file:
            # a PostgreSQL URL may hold a password
            proc = subprocess.Popen([sys.executable, "-m", "planctl.tuning.worker", str(spec_file)],
                                    stdout=log, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PLANCTL_CACHE": store.location.spec},
                                    start_new_session=True)
            try:
                while proc.poll() is None:
                    if deadline.passed():
                        _kill_group(proc)
                        return True
                    bar.update(store.count(session=spec["session"]))
                    time.sleep(0.5)
            except BaseException:
                _kill_group(proc)
                raise
    if proc.returncode != 0:
        raise TuningError(f"the MetaSchedule search exited with status {proc.returncode}",
                          hint=f"see {log_dir / 'search.log'}")
    return False


@dataclass
class Deadline:
    """When the worker is killed: :data:`KILL_GRACE_S` past the end of the wall-clock budget
    (``budget_end``, ``time.monotonic()`` seconds), or past the end of its start-up, written to
    ``started`` (:data:`planctl.tuning.worker.STARTED_FILE`), if that came later: the worker stops
    itself at its first check once the budget is spent and needs time to exit. A start-up that hangs
    is killed :data:`STARTUP_GRACE_S` past the budget."""

    budget_end: float
    started: Path
    started_at: float | None = None

    def passed(self) -> bool:
        now = time.monotonic()
        if self.started_at is None and self.started.exists():
            self.started_at = now
        if self.started_at is None:
            return now > self.budget_end + STARTUP_GRACE_S
        return now > max(self.budget_end, self.started_at) + KILL_GRACE_S


def _kill_group(proc) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
