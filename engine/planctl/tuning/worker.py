"""The MetaSchedule search, run in a child process (``python -m planctl.tuning.worker SPEC``).

A child process because a native crash in tuning (the tvm-ffi 0.1.15 segfault) must not take the
apply down. The search runs in rounds (:func:`search_in_rounds`): one ``tune_tasks`` call gives every
remaining task one batch, and MetaSchedule commits a task's batch only when it joins the task again
or finishes, so a round is the unit that is never lost. A new round starts only if the last one's
duration still fits the wall-clock budget; the parent kills the process a little after the budget
as a backstop (then only the running round is lost). Before the search, each task to search first
gets the best schedules of the same kernel at other shapes, fitted and measured (transfer tuning,
planctl.tuning.transfer), then its register blocks sized to the vector unit (the register-tile
sweep, planctl.tuning.sweep); both count against the trials. A measure callback (:class:`CandidateLog`)
counts each task's candidates, build and run failures and their reasons into ``candidates.json``.
``fast_build`` is TVM's default builder minus the ``tvm.s_tir.tensor_intrin`` import that takes ~36 s
per fresh worker on 2 cores and makes every build time out under the default 30 s limit
(docs/tvm-0.27.md §9).

Spec (JSON): cache (shown, password masked; the worker opens ``$PLANCTL_CACHE``, which the parent
sets), key, device, policy, compatible, provenance, session, target, module_json,
search (task names), remeasure ({task name: [record ids]}), trials, trials_per_task, seed, work_dir,
wall_clock_s, confirm_session (the session of a refine's confirmation, :func:`confirm`), farm
(``{tracker, device_key, session_timeout_s}`` when the target measures on an RPC farm: candidates run
there through MetaSchedule's RPCRunner, planctl.tuning.farm).
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

from planctl.tuning.store.record import FAILED_S  # no TVM: the worker imports TVM inside functions

CANDIDATES_FILE = "candidates.json"
STOPPED_FILE = "stopped-by.txt"
STARTED_FILE = "started.txt"  # written once start-up is over: from then on the worker watches the wall clock


def fast_build(mod, target, _params):
    from tvm.driver import build as tvm_build
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    return tvm_build(RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod), target=target)


def builder_runner(spec: dict):
    """TVM's LocalBuilder (with :func:`fast_build`) and, by the target's measurement, its
    LocalRunner or an RPCRunner on the farm (planctl.tuning.farm). Both time candidates on
    arguments whose integers are in range (planctl.tuning.arguments): a gather's random indices
    would read out of bounds and crash every candidate."""
    from tvm.s_tir import meta_schedule as ms

    from planctl.tuning import farm
    from planctl.tuning.arguments import in_range_alloc_argument

    m = spec["device"]["measurement"]
    builder = ms.builder.LocalBuilder(f_build=fast_build, timeout_sec=spec.get("build_timeout_s", 60))
    evaluator = ms.runner.EvaluatorConfig(number=m["number"], repeat=m["repeat"], min_repeat_ms=m["min_repeat_ms"],
                                          enable_cpu_cache_flush=m.get("cache_flush", False))
    if spec.get("farm"):
        return builder, farm.rpc_runner(spec["farm"], evaluator, Path(spec["work_dir"]) / farm.SESSIONS_FILE)
    return builder, ms.runner.LocalRunner(evaluator_config=evaluator, f_alloc_argument=in_range_alloc_argument)


def open_database(spec: dict):
    from planctl.tuning.database import StoreDatabase
    from planctl.tuning.keys import CacheKey, Device
    from planctl.tuning.scope import resolve
    from planctl.tuning.store import Store

    store = Store.open(None, check=False)  # $PLANCTL_CACHE, set by the parent, which checked it
    scope = resolve(CacheKey.from_dict(spec["key"]), store.keys(), Device.from_dict(spec["device"]),
                    spec.get("policy", "serve"), spec.get("compatible"), store.devices())
    return store, StoreDatabase(store, scope, spec["provenance"], spec["session"])


def device_type(target) -> str:
    """The runtime device name of a target kind (``llvm`` runs on ``cpu``)."""
    return "cpu" if target.kind.name in ("llvm", "c") else target.kind.name


REMEASURE_RUNS = 2  # each old record is timed twice; the store ranks by the faster (see remeasure)


def remeasure(spec: dict, tasks: dict, database, target, builder, runner) -> tuple[int, set[str]]:
    """Re-measure here, under the current key and this device, the traces of records from another
    TVM version, another device or (``--refine``) another day, at most ``spec["trials"]``
    measurements (they count against the budget). Each is timed :data:`REMEASURE_RUNS` times and
    every time is stored: the first measurements of a session run slow (the 20 cold runs of an
    8 x 128 matmul: 5.7, 2.6, 13.3, 8.9 ms, then 2.4-2.6 ms; AMD EPYC Zen 3 VM, 2026-12-02), and the
    old record must not lose to a candidate for going first.

    Returns (measurements made, names of tasks that got no valid re-measured record)."""
    from tvm.s_tir import Schedule
    from tvm.s_tir.meta_schedule.database import TuningRecord

    from planctl.tuning.database import to_tvm
    made, failed = 0, set()
    base = dict(database.provenance)
    for name, ids in spec.get("remeasure", {}).items():
        mod = tasks[name].dispatched[0]
        workload = database.commit_workload(mod)
        valid = False
        for old in database.store.by_ids(ids):
            record = to_tvm(old, workload)
            sch = Schedule(mod)
            record.trace.apply_to_schedule(sch, remove_postproc=False)
            database.provenance = {**base, "source": "remeasured", "remeasured_from": old.key_id,
                                   "remeasured_from_device": old.device_id,
                                   "original_run_secs": old.json("run_secs")}
            runs = min(REMEASURE_RUNS, spec["trials"] - made)
            if runs <= 0:
                break
            artifact = build([sch], builder, target, f"remeasure {name}")[0]
            for secs in run_built([(artifact, record.args_info)] * runs, runner, target, f"remeasure {name}"):
                database.commit_tuning_record(TuningRecord(record.trace, workload, secs, target, record.args_info))
                made += 1
                valid = valid or secs[0] < FAILED_S
        if not valid:
            failed.add(name)
    database.provenance = base
    return made, failed


CONFIRM_RUNS = 3  # a refine's old record and its best new candidate are each timed this often, alternately


def confirm(spec: dict, tasks: dict, database, target, builder, runner) -> int:
    """A refine's last step: for each refined task (searched, and its old record re-measured first)
    whose best new candidate beat the old record's time today, time the two again alternately,
    :data:`CONFIRM_RUNS` times each, in a session of their own (``spec["confirm_session"]``), which
    the store ranks above every older record of the workload on this device
    (planctl.tuning.store.db._superseded): the faster of the two by these times serves.

    Why: a search's times are single measurements (of 20 runs each), spread over minutes of a shared
    host's drift, and the best of a few hundred of them is partly the luckiest. A 1 x 64 FFN-down
    candidate that a refine stored faster than the old record ran 20-25% slower in the model (three
    in-process A/Bs of both builds, AMD EPYC Zen 3 VM, 2026-12-02). Timed side by side, alternately,
    the two compare like with like. Returns the measurements made (outside the trial budget: at most
    ``2 * CONFIRM_RUNS`` per refined task)."""
    refined = [n for n in spec.get("search", []) if n in spec.get("remeasure", {})]
    if not refined or not spec.get("confirm_session"):
        return 0
    base, session, made = dict(database.provenance), database.session, 0
    for name in refined:
        workload = database.commit_workload(tasks[name].dispatched[0])
        pair = _old_and_new(database.store, database.workload_key(workload), session)
        if pair is None:
            continue
        database.session = spec["confirm_session"]
        made += _time_alternately(name, pair, tasks[name].dispatched[0], workload, database, base, target,
                                  builder, runner)
        database.session = session
    database.provenance = base
    return made


def _time_alternately(name: str, pair: list, mod, workload, database, base: dict, target, builder, runner) -> int:
    """Build the pair's two schedules once, run them old, new; new, old; old, new (neither always runs
    first: a session's first runs are slow), each on its own arguments (two schedules may lay out the
    prepacked weights differently), and commit every time with its role; returns the runs made."""
    from tvm.s_tir import Schedule
    from tvm.s_tir.meta_schedule.database import TuningRecord

    from planctl.tuning.database import to_tvm
    records = [to_tvm(rec, workload) for _, rec in pair]
    schedules = []
    for record in records:
        schedules.append(Schedule(mod))
        record.trace.apply_to_schedule(schedules[-1], remove_postproc=False)
    artifacts = build(schedules, builder, target, f"confirm {name}")
    order = [i for run in range(CONFIRM_RUNS) for i in ((0, 1) if run % 2 == 0 else (1, 0))]
    times = run_built([(artifacts[i], records[i].args_info) for i in order], runner, target, f"confirm {name}")
    for i, secs in zip(order, times):
        (role, rec), record = pair[i], records[i]
        origin = rec.json("provenance")   # the old role's record is itself a re-timing: name its origin
        database.provenance = {**base, "session": database.session, "source": "remeasured", "confirms": role,
                               "confirmed_record": rec.id,
                               "remeasured_from": origin.get("remeasured_from", rec.key_id),
                               "remeasured_from_device": origin.get("remeasured_from_device", rec.device_id)}
        database.commit_tuning_record(TuningRecord(record.trace, workload, secs, target, record.args_info))
    return len(order)


def _old_and_new(store, workload_hash: str, session: str) -> list | None:
    """[("old", the old record's fastest re-timing), ("new", the fastest new candidate)] among a
    search session's records of one workload, or None when no new candidate beat the old record."""
    from planctl.tuning.search import NEW, REMEASURED, session_best   # search imports this module

    old, new = (session_best(store, workload_hash, session, sources) for sources in (REMEASURED, NEW))
    if old is None or new is None or new.min_s >= old.min_s:
        return None
    return [("old", old), ("new", new)]


def measure(sch, args_info, builder, runner, target, what: str) -> list[float]:
    """Build and run one schedule with the search's builder and runner: its run times in seconds,
    ``[1e10]`` (MetaSchedule's failure mark) when the build or the run failed (``what`` names it in the log)."""
    artifact = build([sch], builder, target, what)[0]
    return run_built([(artifact, args_info)], runner, target, what)[0]


def build(schedules: list, builder, target, what: str) -> list[str | None]:
    """The schedules' artifact paths, built in one builder call (TVM's LocalBuilder starts a process
    pool per call); None where a build failed (``what`` names it in the log)."""
    from tvm.s_tir.meta_schedule.builder import BuilderInput

    paths = []
    for result in builder.build([BuilderInput(sch.mod, target) for sch in schedules]):
        if result.error_msg is not None:
            print(f"{what}: build failed: {result.error_msg}", flush=True)
        paths.append(result.artifact_path if result.error_msg is None else None)
    return paths


def run_built(artifacts: list[tuple], runner, target, what: str) -> list[list[float]]:
    """Run each ``(artifact path or None, args_info)`` (an artifact may appear more than once: the
    runners leave it in place), in order, one at a time: the run times in seconds, ``[1e10]`` where
    the build or the run failed. Each schedule's own ``args_info``: two schedules of one workload can
    lay out its prepacked weights differently (planctl.lowering.build.prepack_passes)."""
    from tvm.s_tir.meta_schedule.runner import RunnerInput

    todo = [RunnerInput(path, device_type(target), args) for path, args in artifacts if path is not None]
    results = iter(future.result() for future in runner.run(todo))
    times = []
    for path, _ in artifacts:
        result = next(results) if path is not None else None
        if result is not None and result.error_msg is not None:
            print(f"{what}: run failed: {result.error_msg}", flush=True)
        ok = result is not None and result.error_msg is None
        times.append([float(s) for s in result.run_secs] if ok else [FAILED_S])
    return times


def transfer(names: list[str], tasks: dict, database, target, trials: int, builder, runner) -> int:
    """Transfer tuning before the search (planctl.tuning.transfer): the other workloads' best
    schedules fitted to these tasks, measured like candidates; returns the measurements made."""
    from tvm.s_tir import meta_schedule as ms

    from planctl.tuning import transfer as fit

    def measure_fitted(sch):
        args_info = ms.arg_info.ArgInfo.from_entry_func(sch.mod, remove_preproc=True)
        return measure(sch, args_info, builder, runner, target, "transfer"), args_info

    return fit.transfer(names, tasks, database, target, measure_fitted, trials)


def sweep(names: list[str], tasks: dict, database, target, trials: int, share: int, builder, runner,
          out_of_time=lambda: False) -> int:
    """The register-tile sweep after transfer tuning (planctl.tuning.sweep): each task's candidates
    built in one builder call, then run one at a time like the search's; returns the measurements made."""
    from tvm.s_tir import meta_schedule as ms

    from planctl.tuning import sweep as tiles

    def measure_all(schedules: list) -> list[tuple]:
        infos = [ms.arg_info.ArgInfo.from_entry_func(sch.mod, remove_preproc=True) for sch in schedules]
        artifacts = build(schedules, builder, target, "sweep")
        return list(zip(run_built(list(zip(artifacts, infos)), runner, target, "sweep"), infos))

    return tiles.sweep(names, tasks, database, target, measure_all, trials, share, out_of_time)


def error_reason(message: str) -> str:
    """The line of a TVM build/run error that says why, without addresses, at most 200 chars."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    said = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception)\b|^Check failed|^RuntimeError", ln)]
    line = (said or lines or ["unknown error"])[-1]
    return re.sub(r"0x[0-9a-f]+", "0x…", line)[:200]


def candidate_log(path: Path):
    """A MetaSchedule measure callback that tallies, per task, candidates, build failures, run
    failures and their reasons, and rewrites ``path`` (JSON) after every batch."""
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.measure_callback import PyMeasureCallback

    from planctl.files import atomic_write_text

    @derived_object
    class CandidateLog(PyMeasureCallback):
        def __init__(self):
            self.tasks: dict[str, dict] = {}

        def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results):
            name = task_scheduler.tasks_[task_id].ctx.task_name
            entry = self.tasks.setdefault(name, {"candidates": 0, "build_errors": 0, "run_errors": 0,
                                                 "reasons": Counter()})
            entry["candidates"] += len(measure_candidates)
            for built, ran in zip(builder_results, runner_results):
                if built.error_msg is not None:
                    entry["build_errors"] += 1
                    entry["reasons"]["build: " + error_reason(built.error_msg)] += 1
                elif ran.error_msg is not None:
                    entry["run_errors"] += 1
                    entry["reasons"]["run: " + error_reason(ran.error_msg)] += 1
            self.write()

        def write(self):
            data = {n: {**e, "reasons": dict(e["reasons"].most_common(5))} for n, e in self.tasks.items()}
            atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True))

    return CandidateLog()


def by_cost(tasks: dict, names: list[str]) -> list[str]:
    """``names`` ordered by FLOPs per inference (one call's FLOPs x the task's weight, its call count),
    most first: when the budget cannot cover every task, the kernels that dominate latency go first.
    FLOPs are TVM's estimate (``estimate_tir_flops``); a task it cannot estimate counts as 0."""
    from tvm.s_tir.analysis import estimate_tir_flops

    def cost(name: str) -> float:
        try:
            return float(estimate_tir_flops(tasks[name].dispatched[0])) * tasks[name].weight
        except Exception:  # TVM raises for loops it cannot bound; such a task is searched last
            return 0.0
    return sorted(names, key=lambda n: (-cost(n), n))


FIRST_BATCH = 16  # trials each task gets in the first round, before any task gets a second batch
MIN_FIRST_BATCH = 2  # the least a first-round batch asks for when the budget is split over many tasks


def first_share(trials: int, tasks: int) -> int:
    """A task's first-round batch when ``trials`` are split over ``tasks``: an even share, at least
    :data:`MIN_FIRST_BATCH` (a budget of 16 trials for 6 tasks gives each 2, not the first task 16)."""
    return max(MIN_FIRST_BATCH, trials // max(1, tasks))


def batch_cap(round_no: int, per_iter: int, per_task: int, done: int, trials_left: int,
              share: int = FIRST_BATCH) -> int:
    """Trials of a task's next batch: in round 0 at most :data:`FIRST_BATCH` and the task's even
    ``share`` of the budget (:func:`first_share`), so every task, the light ones included, gets a
    schedule before the budget or the wall clock runs out (an unscheduled kernel runs TVM's naive
    loops, often slower than a tuned matmul many times its FLOPs); later ``per_iter``; never past the
    task's share (``per_task - done``) or the budget left."""
    first = min(FIRST_BATCH, per_iter, share) if round_no == 0 else per_iter
    return max(0, min(first, per_task - done, trials_left))


def exhausted(added: int, cap: int) -> bool:
    """Whether a task's batch says its design space is (nearly) used up: MetaSchedule's evolutionary
    search proposes only candidates not measured yet, so a batch that committed fewer than half
    of the ``cap`` it asked for found no more (failed candidates are committed too, as failure
    marks). Small spaces (a gather's, a reshape's) would otherwise take one new candidate per
    round, a full search round each, until the wall clock stops the search."""
    return added == 0 or 2 * added < cap


def search_in_rounds(spec: dict, tasks: dict, names: list[str], trials: int, store, database, builder,
                     runner, started: float, after_batch=lambda: None) -> str:
    """Search task by task, most FLOPs first, one batch per task per round, until the trial budget,
    every task's share or the wall clock is spent; the first round's batches are small
    (:func:`batch_cap`) so that every task is scheduled before the heavy ones get more trials.
    Each task's batch is one ``tune_tasks`` call, so its records are committed when the call
    returns; the next call starts only if the slowest call so far still fits the wall-clock
    budget. A task whose call added less than half its batch is exhausted (:func:`exhausted`).
    Returns why it stopped: ``trials``, ``tasks`` (each got its share or was exhausted) or ``wall-clock``."""
    from tvm.s_tir import meta_schedule as ms

    from planctl.lowering.int8_kernels import space_generator
    from planctl.tuning.database import structural_hash

    per_task, wall_clock = spec["trials_per_task"], spec.get("wall_clock_s", float("inf"))
    per_iter = min(64, per_task)
    callbacks = [*ms.measure_callback.MeasureCallback.create("default"),
                 candidate_log(Path(spec["work_dir"]) / CANDIDATES_FILE)]
    cost_model = ms.cost_model.CostModel.create(spec.get("cost_model", "xgb"), num_tuning_cores=os.cpu_count())
    hashes = {n: structural_hash(tasks[n].dispatched[0]) for n in names}
    remaining, slowest, spent = by_cost(tasks, names), 0.0, 0
    share = first_share(trials, len(names))
    for round_no in range(10_000):
        if not remaining:
            return "tasks"
        for name in list(remaining):
            done = store.session_counts(spec["session"]).get(hashes[name], 0)
            if done >= per_task:
                remaining.remove(name)
                continue
            if spent >= trials:
                return "trials"
            cap = batch_cap(round_no, per_iter, per_task, done, trials - spent, share)
            elapsed = time.monotonic() - started
            if elapsed + slowest > wall_clock:
                why = (f"the slowest task batch took {slowest:.0f} s" if slowest else
                       f"start-up (TVM import, task extraction) took {elapsed:.0f} s")
                print(f"search: stopping before {name} (round {round_no}): {why}, and another batch would "
                      f"pass the {wall_clock:.0f} s wall-clock budget", flush=True)
                return "wall-clock"
            before = time.monotonic()
            contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(
                extracted_tasks=[tasks[name]], work_dir=spec["work_dir"],
                space=space_generator(tasks[name].target, tasks[name].dispatched[0]),
                strategy="evolutionary", seed=spec["seed"] + round_no)
            ms.tune.tune_tasks(
                tasks=contexts, task_weights=weights, work_dir=spec["work_dir"], max_trials_global=cap,
                max_trials_per_task=cap, num_trials_per_iter=cap, builder=builder, runner=runner,
                database=database, cost_model=cost_model, measure_callbacks=callbacks)
            slowest = max(slowest, time.monotonic() - before)
            after_batch()
            added = store.session_counts(spec["session"]).get(hashes[name], 0) - done
            spent += added
            if exhausted(added, cap):
                remaining.remove(name)
    return "trials"


def run(spec: dict) -> None:
    from planctl.lowering.tvm_env import import_tvm

    started = time.monotonic()
    Path(spec["work_dir"]).mkdir(parents=True, exist_ok=True)
    tvm = import_tvm()
    from tvm.s_tir import meta_schedule as ms

    from planctl.lowering import int8_kernels
    from planctl.lowering.build import make_target
    from planctl.tuning import farm

    int8_kernels.register()  # int8 kernels' schedule rules and tensor intrinsics (replayed and searched here)
    target = make_target(spec["target"])
    mod = tvm.ir.load_json(open(spec["module_json"]).read())
    tasks = {t.task_name: t for t in ms.relax_integration.extract_tasks(mod, target)}
    store, database = open_database(spec)
    builder, runner = builder_runner(spec)
    watch = farm.Watch(spec["farm"], Path(spec["work_dir"])) if spec.get("farm") else None
    after_batch = watch.snapshot if watch is not None else (lambda: None)
    after_batch()
    (Path(spec["work_dir"]) / STARTED_FILE).write_text(f"{time.monotonic() - started:.1f}")
    before = time.monotonic()
    made, failed = remeasure(spec, tasks, database, target, builder, runner)
    if made:
        after_batch()
    # the confirmation times each refined task's two records CONFIRM_RUNS times, the re-timing timed
    # one REMEASURE_RUNS times: keep that long out of the search's wall clock
    refining = any(name in spec.get("remeasure", {}) for name in spec["search"])
    reserve = (time.monotonic() - before) * 2 * CONFIRM_RUNS / REMEASURE_RUNS if refining else 0.0
    names = [*spec["search"], *sorted(failed)] if spec.get("allow_search", True) else []
    trials = spec["trials"] - made
    if names and trials > 0:
        search({**spec, "wall_clock_s": spec.get("wall_clock_s", float("inf")) - reserve}, tasks, names, trials,
               target, store, database, builder, runner, started, after_batch)
    if confirm(spec, tasks, database, target, builder, runner):
        after_batch()


def search(spec: dict, tasks: dict, names: list[str], trials: int, target, store, database, builder, runner,
           started: float, after_batch) -> None:
    """Transfer tuning, the register-tile sweep, then the search in rounds with the trials left;
    writes why it stopped."""
    made = transfer(names, tasks, database, target, trials, builder, runner)
    wall_clock = spec.get("wall_clock_s", float("inf"))
    made += sweep(names, tasks, database, target, trials - made, spec["trials_per_task"], builder, runner,
                  out_of_time=lambda: time.monotonic() - started >= wall_clock)
    if made:
        after_batch()
    trials -= made
    if trials <= 0:
        return
    database.provenance = {**database.provenance, "source": "search"}
    stopped = search_in_rounds(spec, tasks, names, trials, store, database, builder, runner, started, after_batch)
    (Path(spec["work_dir"]) / STOPPED_FILE).write_text(stopped)


if __name__ == "__main__":
    run(json.loads(open(sys.argv[1]).read()))
