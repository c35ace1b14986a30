"""Governed search: tune only the tasks the cache cannot serve, within the plan's budget.

A task is served when the store holds any record for its workload: MetaSchedule commits a record
for every measured candidate, failed ones with a run time of 1e10 s, so a task whose every
candidate failed is not searched again; a second apply of the same plan and target therefore spends
no trials. The budget's trials go to MetaSchedule
(``max_trials_global``/``max_trials_per_task``); its wall-clock seconds are enforced by running the
search in a child process and stopping it at the deadline.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from planctl.errors import TuningError
from planctl.tuning.store import Store


@dataclass
class TaskReport:
    name: str
    workload_hash: str
    cached: bool
    trials: int = 0
    best_ms: float | None = None


@dataclass
class TuningReport:
    """What the search spent and found. ``trials_spent`` counts records the search added."""

    cache_dir: str
    tasks: list[TaskReport] = field(default_factory=list)
    trials_spent: int = 0
    seconds: float = 0.0
    timed_out: bool = False
    imported_records: int = 0
    scheduled_funcs: int = 0
    total_funcs: int = 0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["reused"] = self.trials_spent == 0 and all(t.cached for t in self.tasks)
        return data


def extract(mod, target):
    from tvm.s_tir import meta_schedule as ms

    return ms.relax_integration.extract_tasks(mod, target)


def workload_hash(task) -> str:
    import tvm_ffi

    return str(tvm_ffi.structural_hash(task.dispatched[0]))


def mean_seconds(record) -> float:
    """Mean measured run time of a record; MetaSchedule marks failed candidates with 1e10 s."""
    secs = [float(s) for s in record.run_secs] if record.run_secs else []
    return sum(secs) / len(secs) if secs else math.inf


def records_by_workload(database) -> dict[str, list]:
    """All records (failed ones too) grouped by workload structural hash (decimal string)."""
    import tvm_ffi

    groups: dict[str, list] = {}
    seen: list[tuple[object, str]] = []
    for rec in database.get_all_tuning_records():
        key = next((k for w, k in seen if rec.workload.same_as(w)), None)
        if key is None:
            key = str(tvm_ffi.structural_hash(rec.workload.mod))
            seen.append((rec.workload, key))
        groups.setdefault(key, []).append(rec)
    return groups


def best_ms(records: list) -> float | None:
    """Best valid run time in ms among ``records``, None when every candidate failed."""
    valid = [t for t in map(mean_seconds, records) if t < 1e9]
    return min(valid) * 1e3 if valid else None


def plan_tasks(mod, target, store: Store, budget, seed: int) -> tuple[list, list[TaskReport]]:
    """Split the extracted tasks into those to search and reports for all of them."""
    groups = records_by_workload(store.database())
    todo, reports = [], []
    for task in extract(mod, target):
        found = groups.get(workload_hash(task), [])
        reports.append(TaskReport(task.task_name, workload_hash(task), cached=bool(found), best_ms=best_ms(found)))
        if not found:
            todo.append(task)
    return todo, reports


def tune(mod, target_dict: dict, target, store: Store, budget, seed: int,
         log_dir: Path, progress=None) -> TuningReport:
    """Search the uncached tasks of ``mod`` (legalized and fused) into ``store``.

    Raises TuningError when the child process fails for a reason other than the deadline.
    """
    report = TuningReport(cache_dir=str(store.path))
    todo, report.tasks = plan_tasks(mod, target, store, budget, seed)
    if not todo:
        return report
    before = {key: len(recs) for key, recs in records_by_workload(store.database()).items()}
    started = time.monotonic()
    with store.lock():
        report.timed_out = _run_worker(mod, target_dict, store, budget, seed, [t.task_name for t in todo], log_dir)
        store.path.joinpath("database_tuning_record.json").touch()
        _finish(report, store, before)
    report.seconds = time.monotonic() - started
    return report


def _finish(report, store, before) -> None:
    from planctl.tuning.store import repair_jsonl

    repair_jsonl(store.workload_file)
    repair_jsonl(store.record_file)
    groups = records_by_workload(store.database())
    for rep in report.tasks:
        found = groups.get(rep.workload_hash, [])
        rep.best_ms = best_ms(found)
        rep.trials = max(len(found) - before.get(rep.workload_hash, 0), 0)
        report.trials_spent += rep.trials


def _run_worker(mod, target_dict, store, budget, seed, names, log_dir: Path) -> bool:
    import tvm

    log_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="planctl-tune-") as tmp:
        module_json = Path(tmp) / "module.json"
        module_json.write_text(tvm.ir.save_json(mod))
        per_task = budget.trials_per_task or budget.trials
        spec = {"target": target_dict, "module_json": str(module_json), "tasks": names,
                "trials": budget.trials, "trials_per_task": per_task, "seed": seed,
                "work_dir": str(log_dir), "workload_file": str(store.workload_file),
                "record_file": str(store.record_file)}
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_text(json.dumps(spec))
        with open(log_dir / "search.log", "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "planctl.tuning.worker", str(spec_file)],
                                    stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy(),
                                    start_new_session=True)
            try:
                code = proc.wait(timeout=budget.wall_clock_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                return True
            except BaseException:
                _kill_group(proc)
                raise
    if code != 0:
        raise TuningError(f"the MetaSchedule search exited with status {code}",
                          hint=f"see {log_dir / 'search.log'}")
    return False


def _kill_group(proc) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
