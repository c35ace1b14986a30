"""The MetaSchedule search, run in a child process (``python -m planctl.tuning.worker SPEC``).

A child process because a native crash in tuning (the tvm-ffi 0.1.15 segfault) must not take the
apply down, and because the wall-clock budget is enforced by killing it: every record is committed
to the SQLite store in its own transaction, so what was measured before the kill stays.
``fast_build`` is TVM's default builder minus the ``tvm.s_tir.tensor_intrin`` import that takes ~36 s
per fresh worker on 2 cores and makes every build time out under the default 30 s limit
(docs/tvm-0.27.md §9).

Spec (JSON): cache_dir, key, compatible, provenance, session, target, module_json, search (task
names), remeasure ({task name: [record ids]}), trials, trials_per_task, seed, work_dir.
"""
from __future__ import annotations

import json
import sys


def fast_build(mod, target, _params):
    from tvm.driver import build as tvm_build
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    return tvm_build(RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod), target=target)


def builder_runner(spec: dict):
    from tvm.s_tir import meta_schedule as ms

    m = spec["key"]["measurement"]
    builder = ms.builder.LocalBuilder(f_build=fast_build, timeout_sec=spec.get("build_timeout_s", 60))
    runner = ms.runner.LocalRunner(evaluator_config=ms.runner.EvaluatorConfig(
        number=m["number"], repeat=m["repeat"], min_repeat_ms=m["min_repeat_ms"]))
    return builder, runner


def open_database(spec: dict):
    from pathlib import Path

    from planctl.tuning.database import StoreDatabase
    from planctl.tuning.keys import CacheKey
    from planctl.tuning.scope import resolve
    from planctl.tuning.store import Store

    store = Store.open(Path(spec["cache_dir"]), check=False)  # the parent checked it
    key = CacheKey.from_dict(spec["key"])
    scope = resolve(key, store.keys(), spec.get("compatible"))
    return store, StoreDatabase(store, scope, spec["provenance"], spec["session"])


def device_type(target) -> str:
    """The runtime device name of a target kind (``llvm`` runs on ``cpu``)."""
    return "cpu" if target.kind.name in ("llvm", "c") else target.kind.name


def remeasure(spec: dict, tasks: dict, database, target, builder, runner) -> tuple[int, set[str]]:
    """Re-measure the traces of records from another TVM version under the current key.

    Returns (measurements made, names of tasks that got no valid re-measured record)."""
    from tvm.s_tir import Schedule
    from tvm.s_tir.meta_schedule.builder import BuilderInput
    from tvm.s_tir.meta_schedule.database import TuningRecord
    from tvm.s_tir.meta_schedule.runner import RunnerInput

    from planctl.tuning.database import to_tvm

    made, failed = 0, set()
    base = dict(database.provenance)
    for name, ids in spec.get("remeasure", {}).items():
        mod = tasks[name].dispatched[0]
        workload = database.commit_workload(mod)
        valid = False
        for old in database.store.records(f"id IN ({','.join('?' * len(ids))})", tuple(ids)):
            record = to_tvm(old, workload)
            sch = Schedule(mod)
            record.trace.apply_to_schedule(sch, remove_postproc=False)
            built = builder.build([BuilderInput(sch.mod, target)])[0]
            secs = [1e10]
            if built.error_msg is not None:
                print(f"remeasure {name}: build failed: {built.error_msg}", flush=True)
            else:
                result = runner.run([RunnerInput(built.artifact_path, device_type(target), record.args_info)])[0].result()
                secs = [float(s) for s in result.run_secs] if result.error_msg is None else secs
                if result.error_msg is not None:
                    print(f"remeasure {name}: run failed: {result.error_msg}", flush=True)
            database.provenance = {**base, "source": "remeasured", "remeasured_from": old.key_id,
                                   "original_run_secs": old.json("run_secs")}
            database.commit_tuning_record(TuningRecord(record.trace, workload, secs, target, record.args_info))
            made += 1
            valid = valid or secs[0] < 1e9
        if not valid:
            failed.add(name)
    database.provenance = base
    return made, failed


def run(spec: dict) -> None:
    import tvm
    from tvm.s_tir import meta_schedule as ms

    from planctl.lowering.build import make_target

    target = make_target(spec["target"])
    mod = tvm.ir.load_json(open(spec["module_json"]).read())
    tasks = {t.task_name: t for t in ms.relax_integration.extract_tasks(mod, target)}
    _store, database = open_database(spec)
    builder, runner = builder_runner(spec)
    made, failed = remeasure(spec, tasks, database, target, builder, runner)
    names = [*spec["search"], *sorted(failed)] if spec.get("allow_search", True) else []
    trials = spec["trials"] - made
    if not names or trials <= 0:
        return
    database.provenance = {**database.provenance, "source": "search"}
    contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(
        extracted_tasks=[tasks[n] for n in names], work_dir=spec["work_dir"], space="post-order-apply",
        strategy="evolutionary", seed=spec["seed"])
    per_task = min(spec["trials_per_task"], trials)
    ms.tune.tune_tasks(
        tasks=contexts, task_weights=weights, work_dir=spec["work_dir"],
        max_trials_global=trials, max_trials_per_task=per_task,
        num_trials_per_iter=min(64, per_task), builder=builder, runner=runner,
        database=database, cost_model=spec.get("cost_model", "xgb"))


if __name__ == "__main__":
    run(json.loads(open(sys.argv[1]).read()))
