"""Measuring on a device farm: a TVM RPC tracker and two RPC servers on loopback, started by this
module with the commands the README documents. MetaSchedule's RPCRunner measures the search's
candidates on every server under the key; a server killed mid-search leaves the search to the other
one, and the report says so; the gate's contenders are timed on the farm, a fresh process each."""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.tvm, pytest.mark.farm]
tvm = pytest.importorskip("tvm")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from servers import RpcFarm  # noqa: E402

TARGET = {"kind": "llvm", "mcpu": "haswell", "num-cores": 2}


@pytest.fixture(scope="module")
def farm():
    started = RpcFarm(key="planctl-test", servers=2).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def two_tasks():
    """y = relu(x @ W1) @ W2, legalized and fused: two tuning tasks (two matmuls of other shapes)."""
    import numpy as np
    from tvm import relax

    rng = np.random.default_rng(0)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((32, 128), "float32"))
    w1 = relax.const(rng.standard_normal((128, 128)).astype("float32"))
    w2 = relax.const(rng.standard_normal((128, 64)).astype("float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            h = bb.emit(relax.op.nn.relu(relax.op.matmul(x, w1)))
            out = bb.emit_output(relax.op.matmul(h, w2))
        bb.emit_func_output(out)
    unfused = bb.get()
    fuse = tvm.transform.Sequential([relax.transform.LegalizeOps(), relax.transform.AnnotateTIROpPattern(),
                                     relax.transform.FoldConstant(), relax.transform.FuseOps(),
                                     relax.transform.FuseTIR()])
    return unfused, fuse(unfused)


def farm_cache(cache_dir: Path, farm: RpcFarm):
    from planctl.tuning.farm import rpc_farm
    from planctl.tuning.governed import GovernedCache
    from planctl.tuning.keys import make_key, this_device
    from planctl.tuning.store import Store

    measurement = {"kind": "rpc", "tracker": farm.address, "device_key": farm.key, "session_timeout_s": 120}
    store = Store.open(cache_dir)
    key, device = make_key(TARGET, "haswell"), this_device(TARGET, measurement)
    store.ensure_key(key)
    store.ensure_device(device)
    return GovernedCache(store, key, device, farm=rpc_farm(measurement))


def test_the_gate_times_baseline_and_candidate_on_the_farm(farm: RpcFarm, two_tasks, tmp_path: Path):
    import numpy as np

    from planctl.measure.benchmark import measure_in_subprocesses, on_farm

    library = tmp_path / "build.so"
    tvm.compile(two_tasks[0], tvm.target.Target(TARGET)).export_library(str(library))
    np.savez(tmp_path / "inputs.npz", x=np.ones((32, 128), "float32"))
    common = {"inputs": str(tmp_path / "inputs.npz"), "input_names": ["x"], "threads": 1, "warmup": 1,
              "repeats": 3, "max_seconds": 5}
    contenders, notes = on_farm({"baseline": {**common, "kind": "tvm", "path": str(library)},
                                 "candidate": {**common, "kind": "tvm", "path": str(library)},
                                 "onnxruntime": {**common, "kind": "onnxruntime", "path": "unused.onnx"}},
                                {"tracker": farm.address, "device_key": farm.key, "session_timeout_s": 60})
    assert list(contenders) == ["baseline", "candidate"] and "onnxruntime" in notes[-1]
    result = measure_in_subprocesses(contenders, rounds=2)
    assert {n: s["n"] for n, s in result["latency"].items()} == {"baseline": 6, "candidate": 6}
    assert "RPC farm 'planctl-test'" in result["method"]
    servers = {f"127.0.0.1:{p}" for p in farm.server_ports}
    assert len(result["servers"]["baseline"]) == 2 and set(result["servers"]["candidate"]) <= servers
    assert result["peak_rss_mb"] == {}  # nothing measured here


def test_a_server_killed_mid_search_leaves_the_search_to_the_other(farm: RpcFarm, two_tasks, tmp_path: Path):
    from planctl.lowering.build import apply_database, make_target
    from planctl.report.record import Tuning
    from planctl.tuning.budget import Budget

    cache = farm_cache(tmp_path / "cache", farm)
    killed = f"127.0.0.1:{farm.server_ports[0]}"

    def kill_after_first_batch():  # the first task's batch is committed: take server 0 down
        deadline = time.monotonic() + 600
        while cache.store.count() == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        farm.kill(0)

    killer = threading.Thread(target=kill_after_first_batch, daemon=True)
    killer.start()
    report = cache.tune(two_tasks[1], make_target(TARGET), Budget(trials=8, wall_clock_s=600, trials_per_task=4),
                        seed=0, plan=("tiny", "abc"), allow_drift=False)
    killer.join(timeout=60)
    assert report.stopped_by == "tasks" and not report.timed_out
    assert [t.served_by for t in report.tasks] == ["searched", "searched"]  # both tasks got records
    farm_seen = report.farm
    assert farm_seen["servers_at_start"] == sorted(f"127.0.0.1:{p}" for p in farm.server_ports)
    assert farm_seen["left"] == [killed] and killed not in farm_seen["servers_at_end"]
    survivor = farm_seen["servers_at_end"][0]
    assert farm_seen["candidates_by_server"].get(survivor, 0) > 0
    said = "\n".join(report.notes)
    assert f"RPC server {killed} left the farm during the search" in said
    assert f"the search finished on {survivor}" in said
    Tuning(**report.to_dict())  # the run report's schema takes the farm evidence
    _, scheduled, _ = apply_database(two_tasks[1], make_target(TARGET), cache.database())
    assert scheduled == 2
    device = cache.store.devices()[cache.device.device_id]
    assert device.device == {"kind": "rpc", "device_key": "planctl-test"}  # provenance names the farm's key
