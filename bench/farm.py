"""Team scale: the same search on an RPC farm of 1 and of 2 servers, and cache lookups per second on
SQLite and on PostgreSQL. Every server is started here on loopback (tests/servers.py: a TVM tracker
and RPC servers with the commands the README documents, a PostgreSQL cluster by initdb + pg_ctl)
and stopped at the end.

    .venv/bin/python bench/farm.py [--trials 24] [--per-task 8] [--runs 24] [--lookups 2000] [--repeat 3]

1. Measurement throughput: ``--runs`` runs of one built candidate through MetaSchedule's RPCRunner
   (one connection per server), with 1 and with 2 servers: candidates measured per second.
2. Search throughput: one governed search (planctl.tuning.governed.GovernedCache.tune, fresh cache)
   of a three-matmul model with the same budget (``--trials`` at ``--per-task``), with 1 and 2
   servers: candidates per second of the whole search (search, builds, measurement), and the share
   of the 1-server search spent measuring, which gives Amdahl's projection for N machines:
   speedup(N) = 1 / ((1 - f) + f / N) (builds and the evolutionary search stay on the tuning host).
3. Cache lookups: ``top_k(workload, key, 1)`` (what MetaSchedule's ApplyDatabase asks per task) on
   the same records in a SQLite file and in a PostgreSQL database on loopback, ``--lookups`` per
   repetition, medians over ``--repeat``.

JSON on stdout (and ``--out``); progress on stderr. Every server of a farm runs on this host, so
two servers share its cores with the builds: the 2-server figures say what the farm plumbing costs
and gives here, the projection what separate machines would give.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from servers import PostgresServer, RpcFarm, postgres_bin  # noqa: E402

TARGET = {"kind": "llvm", "mcpu": "haswell", "num-cores": 2}


def say(text: str) -> None:
    print(f"bench/farm: {text}", file=sys.stderr, flush=True)


def three_matmuls():
    """relu(relu(x @ W1) @ W2) @ W3, x [32, 256]: three tuning tasks, legalized and fused."""
    import numpy as np
    import tvm
    from tvm import relax

    rng = np.random.default_rng(0)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((32, 256), "float32"))
    shapes = [(256, 256), (256, 128), (128, 64)]
    with bb.function("main", [x]):
        with bb.dataflow():
            h = x
            for i, shape in enumerate(shapes):
                h = bb.emit(relax.op.matmul(h, relax.const(rng.standard_normal(shape).astype("float32"))))
                if i < len(shapes) - 1:
                    h = bb.emit(relax.op.nn.relu(h))
            out = bb.emit_output(h)
        bb.emit_func_output(out)
    fuse = tvm.transform.Sequential([relax.transform.LegalizeOps(), relax.transform.AnnotateTIROpPattern(),
                                     relax.transform.FoldConstant(), relax.transform.FuseOps(),
                                     relax.transform.FuseTIR()])
    return fuse(bb.get())


def farm_dict(farm: RpcFarm) -> dict:
    return {"tracker": farm.address, "device_key": farm.key, "session_timeout_s": 120}


def measurement_rate(farm: RpcFarm, runs: int, work: Path) -> dict:
    """Candidates per second through RPCRunner: one candidate built once, measured ``runs`` times."""
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.meta_schedule.arg_info import ArgInfo
    from tvm.s_tir.meta_schedule.builder import BuilderInput
    from tvm.s_tir.meta_schedule.runner import RunnerInput

    from planctl.lowering.build import make_target
    from planctl.tuning.farm import rpc_runner
    from planctl.tuning.search import extract
    from planctl.tuning.worker import fast_build

    target = make_target(TARGET)
    task = extract(three_matmuls(), target)[0]
    mod = task.dispatched[0]
    built = ms.builder.LocalBuilder(f_build=fast_build, timeout_sec=120).build([BuilderInput(mod, target)])[0]
    assert built.error_msg is None, built.error_msg
    runner = rpc_runner(farm_dict(farm), ms.runner.EvaluatorConfig(number=3, repeat=1, min_repeat_ms=50),
                        work / "sessions.jsonl")
    inputs = [RunnerInput(built.artifact_path, "cpu", ArgInfo.from_prim_func(mod["main"]))] * runs
    runner.run(inputs[:len(farm.servers)])[0].result()  # warm: the runner's processes import TVM once
    started = time.perf_counter()
    results = [f.result() for f in runner.run(inputs)]
    seconds = time.perf_counter() - started
    errors = sum(r.error_msg is not None for r in results)
    return {"servers": len(farm.servers), "candidates": runs, "errors": errors, "seconds": round(seconds, 3),
            "candidates_per_s": round((runs - errors) / seconds, 3)}


def search_rate(farm: RpcFarm, trials: int, per_task: int, work: Path) -> dict:
    """One governed search on the farm from a fresh cache: candidates measured per second."""
    from planctl.lowering.build import make_target
    from planctl.tuning.budget import Budget
    from planctl.tuning.farm import rpc_farm
    from planctl.tuning.governed import GovernedCache
    from planctl.tuning.keys import make_key, this_device
    from planctl.tuning.store import Store

    measurement = {"kind": "rpc", **farm_dict(farm)}
    store = Store.open(work / f"cache-{len(farm.servers)}")
    key, device = make_key(TARGET, "haswell"), this_device(TARGET, measurement)
    store.ensure_key(key)
    store.ensure_device(device)
    cache = GovernedCache(store, key, device, farm=rpc_farm(measurement))
    started = time.perf_counter()
    report = cache.tune(three_matmuls(), make_target(TARGET), Budget(trials=trials, wall_clock_s=1800,
                                                                     trials_per_task=per_task),
                        seed=0, plan=("bench-farm", "-"), allow_drift=False)
    seconds = time.perf_counter() - started
    candidates = sum(t.candidates for t in report.tasks)
    failed = sum(t.build_errors + t.run_errors for t in report.tasks)
    store.close()
    return {"servers": len(farm.servers), "candidates": candidates, "failed": failed,
            "trials_spent": report.trials_spent, "search_seconds": round(report.seconds, 3),
            "seconds": round(seconds, 3), "candidates_per_s": round(candidates / report.seconds, 3),
            "by_server": (report.farm or {}).get("candidates_by_server")}


def with_farm(servers: int, fn, *args):
    say(f"starting a tracker and {servers} RPC server(s) on loopback")
    farm = RpcFarm(key="bench-farm", servers=servers).start()
    try:
        return fn(farm, *args)
    finally:
        farm.stop()


def fill(store, workloads: int, per_workload: int) -> tuple[str, list[str]]:
    from planctl.tuning.keys import CacheKey, Device
    from planctl.tuning.store import Record

    key = CacheKey(TARGET, {"apache-tvm": "0.27.0.post1", "apache-tvm-ffi": "0.1.14.post0"}, "bench")
    device = Device({"kind": "cpu", "model": "bench", "machine": "x86_64", "isa": []},
                    {"runner": "local", "number": 3, "repeat": 1, "min_repeat_ms": 50})
    store.ensure_key(key)
    store.ensure_device(device)
    hashes = [str(10**12 + i) for i in range(workloads)]
    trace = [["SamplePerfectTile", [f"l{i}"], [4, 64], []] for i in range(40)]  # a realistic trace's size
    for w in hashes:
        store.put_workload(w, "blob")
        store.add([Record.new(key.key_id, device.device_id, w, trace + [["n", [], [n], []]], [1e-3 * (1 + n)],
                              {**TARGET, "keys": ["cpu"]}, [["TENSOR", "float32", [32, 256]]], {"bench": True})
                   for n in range(per_workload)])
    return key.key_id, hashes


def lookup_rates(lookups: int, repeat: int, work: Path) -> dict:
    from planctl.tuning.store import Store

    bindir = postgres_bin()
    if bindir is None:
        return {"skipped": "PostgreSQL is not installed (scripts/setup.sh installs it)"}
    say("starting PostgreSQL on loopback")
    server = PostgresServer(bindir).start()
    os.environ["PGPASSWORD"] = server.password
    try:
        stores = {"sqlite": Store.open(work / "lookup-cache"), "postgresql": Store.open(server.create_database("bench"))}
        results: dict[str, list[float]] = {name: [] for name in stores}
        for name, store in stores.items():
            key_id, hashes = fill(store, workloads=200, per_workload=16)
        rng = random.Random(0)
        for _ in range(repeat):
            for name, store in stores.items():  # alternating, so drift of the shared machine hits both
                picks = [rng.choice(hashes) for _ in range(lookups)]
                started = time.perf_counter()
                for w in picks:
                    assert store.top_k(w, [key_id], 1)
                results[name].append(lookups / (time.perf_counter() - started))
        for store in stores.values():
            store.close()
    finally:
        server.stop()
    out = {name: {"lookups_per_s_median": round(statistics.median(r)), "lookups_per_s": [round(x) for x in r]}
           for name, r in results.items()}
    out["records"] = 200 * 16
    out["ratio_postgresql_to_sqlite"] = round(out["postgresql"]["lookups_per_s_median"]
                                              / out["sqlite"]["lookups_per_s_median"], 3)
    return out


def amdahl(measure_1: dict, search_1: dict) -> dict:
    """Share of the 1-server search spent measuring, and the projected search speedup on N machines."""
    f = min(1.0, search_1["candidates"] / measure_1["candidates_per_s"] / search_1["search_seconds"])
    return {"measuring_share": round(f, 3),
            "projected_speedup": {str(n): round(1 / ((1 - f) + f / n), 2) for n in (1, 2, 4, 8, 16)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--per-task", type=int, default=8)
    parser.add_argument("--runs", type=int, default=24)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-farm", action="store_true", help="only the cache lookups")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("TVM_NUM_THREADS", "1")
    from planctl.host import cpu

    result = {"machine": {"cpu": cpu()["model"], "arch": platform.machine(), "cores": os.cpu_count(),
                          "python": platform.python_version(), "shared": "other engineers' jobs may run"}}
    with tempfile.TemporaryDirectory(prefix="planctl-bench-farm-") as tmp:
        work = Path(tmp)
        if not args.skip_farm:
            measure = [with_farm(n, measurement_rate, args.runs, work) for n in (1, 2)]
            search = [with_farm(n, search_rate, args.trials, args.per_task, work) for n in (1, 2)]
            result["measurement"] = {"runs": measure, "ratio_2_to_1": round(
                measure[1]["candidates_per_s"] / measure[0]["candidates_per_s"], 3)}
            result["search"] = {"runs": search, "budget": {"trials": args.trials, "per_task": args.per_task},
                                "ratio_2_to_1": round(search[1]["candidates_per_s"] / search[0]["candidates_per_s"], 3),
                                **amdahl(measure[0], search[0])}
        say("cache lookups, SQLite and PostgreSQL")
        result["lookups"] = lookup_rates(args.lookups, args.repeat, work)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
