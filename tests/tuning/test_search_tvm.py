"""The search through the store on a tiny model: the worker writes SQLite, a warm cache spends no
trials, records carry provenance, other TVM versions are ignored unless re-measured."""
from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.tvm
tvm = pytest.importorskip("tvm")

TARGET = {"kind": "llvm", "mcpu": "haswell", "num-cores": 2}


@pytest.fixture(scope="module")
def fused(tmp_path_factory):
    """y = relu(x @ W + b), legalized and fused: one tuning task."""
    import numpy as np
    from tvm import relax
    from tvm.relax.frontend import nn  # noqa: F401 - only to check relax imports

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((32, 128), "float32"))
    w = relax.const(np.random.default_rng(0).standard_normal((128, 128)).astype("float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.relu(relax.op.matmul(x, w)))
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    fuse = tvm.transform.Sequential([relax.transform.LegalizeOps(), relax.transform.AnnotateTIROpPattern(),
                                     relax.transform.FoldConstant(), relax.transform.FuseOps(),
                                     relax.transform.FuseTIR()])
    return fuse(bb.get())


def open_cache(cache_dir: Path, versions=None, policy: str = "serve", device: dict | None = None, target=None,
               measurement: dict | None = None):
    from planctl.tuning.governed import GovernedCache
    from planctl.tuning.keys import make_key, this_device
    from planctl.tuning.store import Store

    store = Store.open(cache_dir)
    target = target or TARGET
    key = make_key(target, target["mcpu"], versions=versions)
    here = this_device(target, measurement, device=device)
    store.ensure_key(key)
    store.ensure_device(here)
    return GovernedCache(store, key, here, policy)


def test_cold_search_then_warm_cache_then_version_drift(fused, tmp_path: Path):
    from planctl.lowering.build import apply_database, make_target
    from planctl.tuning.budget import Budget

    target, budget = make_target(TARGET), Budget(trials=2, wall_clock_s=300, trials_per_task=2)
    old = open_cache(tmp_path / "cache", versions={"apache-tvm": "0.26.0", "apache-tvm-ffi": "0.1.9"})
    cold = old.tune(fused, target, budget, seed=0, plan=("tiny", "abc"), allow_drift=False)
    assert cold.trials_spent > 0 and [t.served_by for t in cold.tasks] == ["searched"]
    assert cold.tasks[0].budget_share == 1.0
    assert cold.stopped_by == "tasks" and not cold.timed_out
    assert cold.tasks[0].candidates == cold.trials_spent and cold.tasks[0].build_errors == 0
    provenance = old.store.records()[0].json("provenance")
    assert {"plan": "tiny", "plan_sha256": "abc", "seed": 0, "source": "search"}.items() <= provenance.items()
    assert provenance["task_trials"] == cold.trials_spent and provenance["host"]

    warm = old.tune(fused, target, budget, seed=0, plan=("tiny", "abc"), allow_drift=False)
    assert warm.trials_spent == 0 and warm.to_dict()["reused"] and warm.session is None

    now = open_cache(tmp_path / "cache")  # this TVM: the records above are another version's
    _, scheduled, _ = apply_database(fused, target, now.database())
    assert scheduled == 0  # never applied as they are
    drifted = now.tune(fused, target, budget, seed=0, plan=("tiny", "abc"), allow_drift=True, allow_search=False)
    assert any("re-measured before use" in n for n in drifted.notes)
    assert [t.served_by for t in drifted.tasks] == ["remeasured"]
    remeasured = now.store.records(key_ids=[now.key.key_id])
    assert remeasured and remeasured[0].json("provenance")["remeasured_from"] == old.key.key_id
    _, scheduled, _ = apply_database(fused, target, now.database())
    assert scheduled == 1


def test_the_search_stops_itself_at_the_wall_clock_budget(fused, tmp_path: Path):
    """A round that would pass the budget is not started; the worker says why instead of being killed."""
    from planctl.lowering.build import make_target
    from planctl.tuning.budget import Budget

    cache = open_cache(tmp_path / "cache")
    report = cache.tune(fused, make_target(TARGET), Budget(trials=4, wall_clock_s=1, trials_per_task=4),
                        seed=0, plan=("tiny", "abc"), allow_drift=False)
    assert report.stopped_by == "wall-clock" and not report.timed_out and report.trials_spent == 0


def test_error_reason_keeps_the_line_that_says_why():
    from planctl.tuning.worker import error_reason

    message = """Traceback (most recent call last):
  File "<unknown>", line 0, in tvm::tirx::LowerAccessPtr at 0x7f3a
tvm.error.InternalError: Check failed: source_buffer->dtype == scalar_dtype (T.float16 vs. T.float32) at 0x7f3abc
"""
    assert error_reason(message) == ("tvm.error.InternalError: Check failed: source_buffer->dtype == scalar_dtype "
                                     "(T.float16 vs. T.float32) at 0x…")
    assert error_reason("") == "unknown error"


def test_other_devices_records_serve_or_are_remeasured_as_the_target_says(fused, tmp_path: Path):
    """Records measured on another CPU serve under ``serve`` (and say where they were measured);
    under ``re-measure`` the best are timed here within the budget, then serve."""
    from planctl.lowering.build import apply_database, make_target
    from planctl.tuning.budget import Budget

    target, budget = make_target(TARGET), Budget(trials=2, wall_clock_s=300, trials_per_task=2)
    xeon = {"kind": "cpu", "model": "Intel Xeon (elsewhere)", "machine": "x86_64", "isa": ["avx2", "avx512f"]}
    elsewhere = open_cache(tmp_path / "cache", device=xeon)
    assert elsewhere.tune(fused, target, budget, seed=0, plan=("tiny", "abc"), allow_drift=False).trials_spent > 0

    # another TVM target (another mcpu) is never served, whichever device measured it
    other = {**TARGET, "mcpu": "cascadelake"}
    cascade = open_cache(tmp_path / "cache", target=other)
    assert [s.source for s in cascade.sources(fused, make_target(other))] == ["search"]
    _, scheduled, _ = apply_database(fused, make_target(other), cascade.database())
    assert scheduled == 0

    served = open_cache(tmp_path / "cache").tune(fused, target, budget, seed=0, plan=("tiny", "abc"),
                                                  allow_drift=False)
    assert served.trials_spent == 0 and served.census["other-devices"] == 1
    assert served.tasks[0].measured_on == "Intel Xeon (elsewhere) (x86_64, AVX-512)"

    heard = []
    remeasure = open_cache(tmp_path / "cache", policy="re-measure")
    report = remeasure.tune(fused, target, budget, seed=0, plan=("tiny", "abc"), allow_drift=False,
                            announce=heard.append, shape="batch=32")
    assert "1 to re-measure here" in heard[0][0]
    assert [t.served_by for t in report.tasks] == ["remeasured"] and 0 < report.trials_spent <= budget.trials
    assert report.tasks[0].measured_on == "this CPU"
    _, scheduled, _ = apply_database(fused, target, remeasure.database())
    assert scheduled == 1


def test_refine_searches_a_served_task_again_and_keeps_the_faster_record(fused, tmp_path: Path):
    """``planctl tune --refine``: a task the cache serves is searched again only when its name
    matches; the search adds records beside the old ones, and the best of all serves it."""
    from planctl.lowering.build import make_target
    from planctl.tuning.budget import Budget

    # per task: 2 trials to re-time the old record (REMEASURE_RUNS), 2 to search
    target, budget = make_target(TARGET), Budget(trials=6, wall_clock_s=300, trials_per_task=4)
    cache = open_cache(tmp_path / "cache")
    cold = cache.tune(fused, target, budget, seed=0, plan=("tiny", "abc"), allow_drift=False)
    before = cache.store.count(key_ids=[cache.key.key_id])
    unmatched = cache.tune(fused, target, budget, seed=0, plan=("tiny", "abc"), allow_drift=False,
                           refine=("layer_norm*",))
    assert unmatched.trials_spent == 0 and unmatched.session is None
    name = cold.tasks[0].name
    again = cache.tune(fused, target, budget, seed=1, plan=("tiny", "abc"), allow_drift=False,
                       refine=(f"{name}_prepacked",))   # the profile's kernel symbol names it too
    assert again.trials_spent > 0 and again.tasks[0].served_by == "searched"
    assert any("--refine" in note and name in note for note in again.notes)
    assert cache.store.count(key_ids=[cache.key.key_id]) > before
    # what the refine bought: the serving record re-timed before the search (its stored time is
    # another day's), beside best_ms after it; the re-timed old record still counts
    assert again.tasks[0].best_ms_stored == pytest.approx(cold.tasks[0].best_ms)
    assert again.tasks[0].best_ms <= again.tasks[0].best_ms_before
    assert again.tasks[0].best_new_ms is not None and again.tasks[0].best_new_ms >= again.tasks[0].best_ms
    assert unmatched.tasks[0].best_ms_before is None and unmatched.tasks[0].best_new_ms is None


def test_refined_task_line_says_before_after_and_the_gain():
    from planctl.cli.tune import _refined_text

    assert _refined_text(5.798, 2.669) == "5.798 -> 2.669 ms (2.17x faster)"
    assert _refined_text(0.119, 0.117) == "0.119 -> 0.117 ms (1.7% faster)"
    assert _refined_text(1.216, 1.216) == "no faster record (best stays 1.216 ms)"
    assert _refined_text(1.216, 1.216, 1.5) == "no faster record (best stays 1.216 ms; the best new candidate took 1.5 ms)"
    assert _refined_text(0.003662, 0.003662) == "no faster record (best stays 0.003662 ms)"   # not 0.004
    assert _refined_text(None, 1.0) == "no timed record to compare"
    # transfer tuning (planctl.tuning.transfer): say when the best came from another shape's schedule
    assert _refined_text(11.57, 7.612, 7.612, 7.612) == ("11.57 -> 7.612 ms (1.52x faster, a schedule "
                                                         "transferred from another shape)")
    assert _refined_text(11.57, 7.612, 7.612, 9.0) == ("11.57 -> 7.612 ms (1.52x faster; the best transferred "
                                                       "from another shape took 9 ms)")
    assert _refined_text(0.62, 0.62, 0.8149, 0.8149) == ("no faster record (best stays 0.62 ms; the best new "
                                                         "candidate (transferred from another shape) took 0.8149 ms)")
    assert _refined_text(11.57, 7.612, 7.612, 7.612, "8 x 128 x 1536") == (
        "11.57 -> 7.612 ms (1.52x faster, a schedule transferred from the 8 x 128 x 1536 workload)")
    # the register-tile sweep (planctl.tuning.sweep): say when the best was one of its candidates
    assert _refined_text(4.474, 3.9, 3.9, 4.255, None, 3.9) == ("4.474 -> 3.9 ms (1.15x faster, a register-tile "
                                                                "sweep candidate)")
    assert _refined_text(4.474, 3.9, 3.9, 4.255, None, 4.1) == ("4.474 -> 3.9 ms (1.15x faster; the best transferred "
                                                                "from another shape took 4.255 ms; the best "
                                                                "register-tile sweep candidate took 4.1 ms)")
    assert _refined_text(1.0, 1.0, 1.1, None, None, 1.1) == ("no faster record (best stays 1 ms; the best new "
                                                             "candidate (from the register-tile sweep) took 1.1 ms)")


def test_refine_patterns_name_a_bucket_or_every_bucket():
    from planctl.tuning.search import refine_for

    patterns = ("batch-32_seq-16:fused_matmul*", "layer_norm*", "batch-*_seq-128:softmax*")
    assert refine_for(patterns, "batch-32_seq-16") == ("fused_matmul*", "layer_norm*")
    assert refine_for(patterns, "batch-8_seq-128") == ("layer_norm*", "softmax*")
    assert refine_for(patterns, "batch-8_seq-16") == ("layer_norm*",)


def test_a_refine_pattern_that_names_no_task_is_reported():
    from planctl.tuning.search import unmatched_refine

    tasks = {"batch-8_seq-16": ["layer_norm1", "fused_matmul_add3"], "batch-8_seq-128": ["softmax"]}
    patterns = ("layer_norm*", "batch-8_seq-128:layer_norm*", "batch-*_seq-128:softmax", "fused_matmul_add3_prepacked",
                "typo*")
    assert unmatched_refine(patterns, tasks) == ["batch-8_seq-128:layer_norm*", "typo*"]


def before_ms(store, session: str, task, remeasured) -> float:
    """A refined task's "before" (ms): the old record's fastest time in the confirmation when a
    candidate beat it (worker.confirm, task.confirm_runs), else its fastest re-timing."""
    if task.confirm_runs:
        remeasured = [r for r in store.records(session=f"{session}-confirm") if r.json("provenance")["confirms"] == "old"]
    return min(r.min_s for r in remeasured if r.min_s < 1e9) * 1e3


def test_refining_warm_records_on_a_cold_target_times_them_cold_first(fused, tmp_path: Path):
    """A target measured with ``caches: cold`` is another device than the warm one that tuned its
    records: ``--refine`` re-measures the served record here (cold) before searching, so "before"
    and "after" are both cold times, and the record that serves is one measured cold."""
    from planctl.lowering.build import make_target
    from planctl.tuning.budget import Budget
    from planctl.tuning.keys import COLD_REPEAT

    target, budget = make_target(TARGET), Budget(trials=4, wall_clock_s=300, trials_per_task=4)
    warm = open_cache(tmp_path / "cache")
    warm_report = warm.tune(fused, target, budget, seed=0, plan=("tiny", "abc"), allow_drift=False)
    cold = open_cache(tmp_path / "cache", measurement={"kind": "local", "caches": "cold"})
    name = warm_report.tasks[0].name
    report = cold.tune(fused, target, budget, seed=1, plan=("tiny", "abc"), allow_drift=False, refine=(name,))
    task = report.tasks[0]
    assert task.served_by == "searched" and task.measured_on == "this CPU"
    mine = cold.store.records(device_ids=[cold.device.device_id])
    remeasured = [r for r in cold.store.records(session=report.session) if r.json("provenance").get("source") == "remeasured"]
    assert remeasured and remeasured[0].json("provenance")["remeasured_from_device"] == warm.device.device_id
    assert all(len(r.json("run_secs")) == COLD_REPEAT for r in mine if r.min_s < 1e9)
    assert task.best_ms_before == pytest.approx(before_ms(cold.store, report.session, task, remeasured))
    serving = cold.store.top_k(task.workload_hash, [cold.key.key_id], 1, prefer=cold.device.device_id)[0]
    assert serving.device_id == cold.device.device_id and task.best_ms == pytest.approx(serving.min_s * 1e3)
    assert task.before_measured_on == "this CPU, warm caches"   # what the refine line names


def test_refining_on_the_same_device_times_its_record_again_first(fused, tmp_path: Path):
    """A record this device measured on another day is re-measured beside the new candidates (a shared
    host drifts between days), and the record that serves afterwards is one this search timed."""
    from planctl.lowering.build import make_target
    from planctl.tuning.budget import Budget
    from planctl.tuning.worker import REMEASURE_RUNS

    target, budget = make_target(TARGET), Budget(trials=4, wall_clock_s=300, trials_per_task=4)
    cache = open_cache(tmp_path / "cache")
    first = cache.tune(fused, target, budget, seed=0, plan=("tiny", "abc"), allow_drift=False)
    name, stored_ms = first.tasks[0].name, first.tasks[0].best_ms
    report = cache.tune(fused, target, budget, seed=1, plan=("tiny", "abc"), allow_drift=False, refine=(name,))
    task = report.tasks[0]
    mine = cache.store.records(session=report.session)
    remeasured = [r for r in mine if r.json("provenance").get("source") == "remeasured"]
    assert len(remeasured) == REMEASURE_RUNS   # timed twice: the first runs of a session are slow
    assert all(r.json("provenance")["remeasured_from_device"] == cache.device.device_id for r in remeasured)
    assert task.best_ms_stored == pytest.approx(stored_ms)
    assert task.best_ms_before == pytest.approx(before_ms(cache.store, report.session, task, remeasured))
    serving = cache.store.top_k(task.workload_hash, [cache.key.key_id], 1, prefer=cache.device.device_id)[0]
    assert serving.session == (f"{report.session}-confirm" if task.confirm_runs else report.session)
    assert task.best_ms == pytest.approx(serving.min_s * 1e3)
    assert task.before_measured_on == "this CPU"


def test_the_refine_line_gives_the_old_records_stored_time_beside_its_time_today():
    from planctl.cli.tune import _retimed_text

    assert _retimed_text("this CPU", 1.026) == (" (the old record, measured on this CPU, stored at 1.026 ms, "
                                                 "re-measured here first)")
    assert _retimed_text(None, None) == ""


def test_a_lucky_candidate_serves_only_if_it_wins_the_refines_confirmation(fused, tmp_path: Path, monkeypatch):
    """A search time is one measurement: a candidate stored at a lucky time would serve. The refine's
    confirmation (worker.confirm) times the old record and the best new candidate again, alternately,
    in a session the store ranks above the search's, so the lucky time no longer decides."""
    from planctl.lowering.build import make_target
    from planctl.tuning import worker
    from planctl.tuning.budget import Budget
    from planctl.tuning.search import TaskReport, _confirmed
    from planctl.tuning.store.record import Record

    target, budget = make_target(TARGET), Budget(trials=2, wall_clock_s=300, trials_per_task=2)
    cache = open_cache(tmp_path / "cache")
    name = cache.tune(fused, target, budget, seed=0, plan=("tiny", "abc"), allow_drift=False).tasks[0].name
    store, key, device = cache.store, cache.key.key_id, cache.device.device_id
    old = store.records(key_ids=[key])[0]
    # the refine's search session: the old record re-timed there, and a candidate stored 1000x faster
    # (the same trace: a lucky measurement, not a faster schedule)
    stamp = {**old.json("provenance"), "session": "refine"}
    store.add([Record.new(key, device, old.workload_hash, old.json("trace"), [old.min_s * 1.01], old.json("target"),
                          old.json("args_info"), {**stamp, "source": "remeasured"}, session="refine"),
               Record.new(key, device, old.workload_hash, old.json("trace"), [old.min_s / 1000],
                          old.json("target"), old.json("args_info"), {**stamp, "source": "search"},
                          session="refine")])
    lucky = store.top_k(old.workload_hash, [key], 1, prefer=device)[0]
    assert lucky.min_s == pytest.approx(old.min_s / 1000)   # without a confirmation it would serve

    monkeypatch.setenv("PLANCTL_CACHE", str(tmp_path / "cache"))
    spec = {"key": cache.key.to_dict(), "device": cache.device.to_dict(), "provenance": stamp, "session": "refine",
            "search": [name], "remeasure": {name: [old.id]}, "confirm_session": "refine-confirm"}
    tasks = {t.task_name: t for t in tvm.s_tir.meta_schedule.relax_integration.extract_tasks(fused, target)}
    _, database = worker.open_database(spec)
    builder, runner = worker.builder_runner(spec)
    made = worker.confirm(spec, tasks, database, target, builder, runner)

    timed = store.records(session="refine-confirm")
    assert made == len(timed) == 2 * worker.CONFIRM_RUNS
    roles = [r.json("provenance")["confirms"] for r in sorted(timed, key=lambda r: r.created)]
    assert roles == ["old", "new", "new", "old", "old", "new"]   # alternately: neither always goes first
    serving = store.top_k(old.workload_hash, [key], 1, prefer=device)[0]
    assert serving.session == "refine-confirm" and serving.min_s > lucky.min_s * 10
    task = TaskReport(name, old.workload_hash, cached=True, best_ms_before=old.min_s * 1e3)
    _confirmed(task, store, "refine-confirm", None)
    assert task.confirm_runs == worker.CONFIRM_RUNS
    assert task.best_ms_before == pytest.approx(min(r.min_s for r in timed if r.json("provenance")["confirms"] == "old") * 1e3)
    assert task.best_new_ms == pytest.approx(min(r.min_s for r in timed if r.json("provenance")["confirms"] == "new") * 1e3)


def test_the_refine_line_says_when_the_confirmation_timed_before_and_after():
    from planctl.cli.tune import _confirmed_text

    assert _confirmed_text(0) == ""
    assert _confirmed_text(3) == "; confirmed: the old record and the best new one timed 3 more times each, alternately"
    # "no faster record ...; confirmed" read as a contradiction (the new user, eighteenth session)
    assert _confirmed_text(3, new_won=False) == (
        "; the old record stayed faster when both were timed 3 more times each, alternately")
    assert _confirmed_text(0, "see /c/logs/search.log, the 'confirm t' lines") == (
        "; the best new candidate failed when timed again beside it: see /c/logs/search.log, the 'confirm t' lines")


def test_the_confirmation_times_each_schedule_with_its_own_weight_layout(tmp_path: Path, monkeypatch):
    """Two records of one workload may lay out its prepacked weights differently (MiniLM's 1 x 64
    attention output, committed: a 5-D and a 4-D weight); each is run on arguments of its own layout,
    or the new one fails ("Mismatched param_0_global.ndim") and silently loses."""
    import json
    import types

    from tvm.s_tir.meta_schedule.database import Workload

    from planctl.lowering.build import make_target
    from planctl.tuning import worker
    from planctl.tuning.keys import CacheKey, Device
    from planctl.tuning.store import Store
    from planctl.tuning.store.record import Record

    committed = Path(__file__).resolve().parents[2] / "examples/minilm/records/minilm-embed/x86-64-avx2.jsonl"
    lines = [line for line in map(json.loads, committed.read_text().splitlines())
             if line["workload_hash"] == "7540918020275896366"]
    layouts = {len(line["args_info"][1][2]): line for line in lines}
    assert set(layouts) == {4, 5}   # the weight's rank in each record
    old, new = layouts[5], layouts[4]
    store = Store.open(tmp_path / "cache")
    key, device = CacheKey.from_dict(old["key"]), Device.from_dict(old["device"])
    store.ensure_key(key)
    store.ensure_device(device)
    store.put_workload(old["workload_hash"], old["workload"])
    stamp = {"plan": "tiny", "session": "refine"}
    store.add([Record.new(key.key_id, device.device_id, old["workload_hash"], line["trace"], [secs], line["target"],
                          line["args_info"], {**stamp, "source": source}, session="refine")
               for line, secs, source in ((old, 6e-4, "remeasured"), (new, 3e-4, "search"))])
    workload = Workload.from_json([old["workload_hash"], old["workload"]])
    monkeypatch.setenv("PLANCTL_CACHE", str(tmp_path / "cache"))
    spec = {"key": key.to_dict(), "device": device.to_dict(), "provenance": stamp, "session": "refine",
            "search": ["attention_output"], "remeasure": {"attention_output": [0]}, "confirm_session": "confirm"}
    _, database = worker.open_database(spec)
    builder, runner = worker.builder_runner(spec)
    tasks = {"attention_output": types.SimpleNamespace(dispatched=[workload.mod])}
    made = worker.confirm(spec, tasks, database, make_target(old["key"]["target"]), builder, runner)
    timed = store.records(session="confirm")
    assert made == len(timed) == 2 * worker.CONFIRM_RUNS
    assert all(r.valid for r in timed), [(r.json("provenance")["confirms"], r.min_s) for r in timed]
