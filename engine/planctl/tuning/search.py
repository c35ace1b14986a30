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
from pathlib import Path

from planctl.errors import TuningError
from planctl.tuning import census
from planctl.tuning.budget import Budget
from planctl.tuning.scope import Scope
from planctl.tuning.store import Store
from planctl.tuning.worker import CANDIDATES_FILE, STOPPED_FILE

REMEASURE_TOP = 3  # traces re-measured per task (drifted, other devices'): the best few, not the whole history
SERVED = ("cache", "committed", "other-devices")  # census sources that need no search
KILL_GRACE_S = 15  # past the wall-clock budget before the worker is killed (it stops itself first)


@dataclass
class TaskReport:
    name: str
    workload_hash: str
    cached: bool
    trials: int = 0
    best_ms: float | None = None
    served_by: str | None = None      # exact | compatible:<target> | remeasured | searched | None
    source: str | None = None         # planctl.tuning.census: cache | committed | other-devices | ...
    measured_on: str | None = None    # "this host" or the device whose record serves the task
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
    seconds: float = 0.0
    timed_out: bool = False           # killed at the wall-clock deadline (its last round is lost)
    stopped_by: str | None = None     # trials | tasks | wall-clock | killed (None: nothing searched)
    imported_records: int = 0
    scheduled_funcs: int = 0
    total_funcs: int = 0
    budget: dict = field(default_factory=dict)
    key: dict = field(default_factory=dict)
    device: dict = field(default_factory=dict)
    policy: str = "serve"             # the target's other_device_records
    census: dict = field(default_factory=dict)  # source -> tasks, before the search
    session: str | None = None
    notes: list[str] = field(default_factory=list)
    integrity: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["reused"] = self.trials_spent == 0 and all(t.cached for t in self.tasks)
        return data


def extract(mod, target):
    """MetaSchedule's tuning tasks of ``mod``, less the hand-scheduled kernels (``tirx.is_scheduled``,
    e.g. planctl.lowering.cuda_attention's): there is nothing to search in them, and a record applied
    to them would replace the hand-written schedule."""
    from tvm.s_tir import meta_schedule as ms

    return [t for t in ms.relax_integration.extract_tasks(mod, target) if not _hand_scheduled(t)]


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


def plan_tasks(mod, target, store: Store, scope: Scope, committed: set[str] | None = None
               ) -> tuple[list, dict, list[TaskReport]]:
    """(tasks to search, {task name: record ids to re-measure first}, reports for every task).
    Re-measured: the best of another device's records (policy ``re-measure``) and of another TVM
    version's (used only with ``--allow-version-drift``)."""
    tasks, sources = task_sources(mod, target, store, scope, committed)
    todo, remeasure, reports = [], {}, []
    for task, found in zip(tasks, sources):
        report = TaskReport(task.task_name, found.workload_hash, cached=found.source in SERVED,
                            source=found.source, measured_on=found.measured_on,
                            drift_records=store.count(key_ids=list(scope.drift), workloads=[found.workload_hash])
                            if scope.drift else 0)
        if report.cached:
            report.best_ms = found.best_s * 1e3 if found.best_s is not None else None
            report.served_by = scope.label(found.key_id)
        else:
            todo.append(task)
            if found.source == "re-measure":
                remeasure[task.task_name] = _best_ids(store, found.workload_hash, scope.serving_ids,
                                                      exclude=scope.device_id)
            elif found.source == "drift":
                remeasure[task.task_name] = _best_ids(store, found.workload_hash, list(scope.drift))
        reports.append(report)
    return todo, remeasure, reports


def _best_ids(store: Store, key: str, key_ids: list[str], exclude: str | None = None) -> list[int]:
    records = store.top_k(key, key_ids, REMEASURE_TOP * 4)
    return [rec.id for rec in records if rec.device_id != exclude][:REMEASURE_TOP]


def provenance(plan_name: str, plan_digest: str, seed: int, session: str) -> dict:
    return {"plan": plan_name, "plan_sha256": plan_digest, "host": socket.gethostname(), "seed": seed,
            "session": session}


def tune(mod, target_dict: dict, target, store: Store, scope: Scope, budget: Budget, seed: int,
         log_dir: Path, plan: tuple[str, str] = ("", ""), compatible: dict | None = None,
         allow_drift: bool = False, allow_search: bool = True, progress: bool = False,
         committed: set[str] | None = None, announce=None, shape: str = "") -> TuningReport:
    """Search (and re-measure) the tasks of ``mod`` (legalized and fused) the scope cannot serve.
    ``committed``: identities of the plan's committed records (counted apart in the census);
    ``announce(lines)`` is called once, before anything is searched, with what will happen
    (planctl.tuning.census.render for ``shape``, e.g. ``batch=2``).

    Raises TuningError when the child process fails for a reason other than the deadline.
    """
    report = TuningReport(cache_dir=str(store.path), budget=budget.to_dict(), key=scope.key.to_dict(),
                          device=scope.device.to_dict(), policy=scope.policy)
    todo, remeasure, report.tasks = plan_tasks(mod, target, store, scope, committed)
    report.census = source_counts(report.tasks)
    _drift_notes(report, scope, remeasure, allow_drift)
    if not allow_drift:
        remeasure = {name: ids for name, ids in remeasure.items()
                     if next(t for t in report.tasks if t.name == name).source != "drift"}
    search = [t.task_name for t in todo if t.task_name not in remeasure] if allow_search else []
    if announce is not None:
        announce(census.render(shape or "its shape", [_as_source(t) for t in report.tasks],
                               budget.to_dict() if allow_search or remeasure else None, allow_drift))
    if not search and not remeasure:
        return report
    session = uuid.uuid4().hex[:16]
    report.session = session
    spec = {"cache_dir": str(store.cache_dir), "key": scope.key.to_dict(), "device": scope.device.to_dict(),
            "policy": scope.policy, "compatible": compatible or {},
            "provenance": provenance(*plan, seed, session), "session": session, "target": target_dict,
            "search": search, "remeasure": remeasure, "allow_search": allow_search, "trials": budget.trials,
            "trials_per_task": budget.trials_per_task, "seed": seed, "work_dir": str(log_dir / session)}
    store.start_session(session, scope.key_id, scope.device_id, {"budget": budget.to_dict(), **spec["provenance"]})
    spec["wall_clock_s"] = budget.wall_clock_s
    started = time.monotonic()
    report.timed_out = _run_worker(mod, spec, store, budget, log_dir, progress)
    report.seconds = time.monotonic() - started
    _read_worker_files(report, log_dir / session)
    _finish(report, store, scope, session)
    return report


def source_counts(tasks: list[TaskReport]) -> dict[str, int]:
    """{census source: tasks} (planctl.tuning.census.SOURCES, every source present)."""
    return census.counts([_as_source(t) for t in tasks])


def _as_source(task: TaskReport) -> census.TaskSource:
    return census.TaskSource(task.name, task.workload_hash, task.source or "search", measured_on=task.measured_on)


def _read_worker_files(report: TuningReport, log_dir: Path) -> None:
    """Candidate and failure counts per task, and why the search stopped (planctl.tuning.worker)."""
    stopped = log_dir / STOPPED_FILE
    report.stopped_by = "killed" if report.timed_out else (stopped.read_text().strip() if stopped.exists() else None)
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
        report.notes.append("tasks served by records measured on another device: " + "; ".join(
            f"{count} measured on {label}" for label, count in sorted(others.items()))
            + " (the target's other_device_records: serve)")


def _finish(report: TuningReport, store: Store, scope: Scope, session: str) -> None:
    """Per task: trials this session committed, best time now, who serves it, share of the budget."""
    spent = store.session_summary(session)
    report.trials_spent = sum(n for n, _ in spent.values())
    for task in report.tasks:
        trials, remeasured = spent.get(task.workload_hash, (0, False))
        task.trials = trials
        task.budget_share = round(trials / report.trials_spent, 4) if report.trials_spent else 0.0
        if trials:
            best = store.top_k(task.workload_hash, scope.serving_ids, 1, device_ids=scope.device_ids,
                               prefer=scope.device_id)
            task.best_ms = best[0].mean_s * 1e3 if best else None
            task.measured_on = scope.measured_on(best[0].device_id) if best else None
            task.served_by = "remeasured" if remeasured else "searched"
    store.stamp_session(session, {t.workload_hash: {"task_trials": t.trials, "apply_trials": report.trials_spent}
                                  for t in report.tasks if t.trials})
    store.finish_session(session, {**report.budget, "trials_spent": report.trials_spent,
                                   "seconds": round(report.seconds, 3), "timed_out": report.timed_out,
                                   "tasks": {t.name: t.trials for t in report.tasks}})


def _run_worker(mod, spec: dict, store: Store, budget: Budget, log_dir: Path, progress: bool) -> bool:
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
        deadline = time.monotonic() + budget.wall_clock_s + KILL_GRACE_S
        with open(log_dir / "search.log", "ab") as log, TrialProgress(budget.trials, progress) as bar:
            proc = subprocess.Popen([sys.executable, "-m", "planctl.tuning.worker", str(spec_file)],
                                    stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy(),
                                    start_new_session=True)
            try:
                while proc.poll() is None:
                    if time.monotonic() > deadline:
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


def _kill_group(proc) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
