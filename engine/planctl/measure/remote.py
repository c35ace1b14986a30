"""Timing a TVM build on the device farm (a Target's ``measurement: {kind: rpc, ...}``), the way
TVM deploys over RPC: a session from the tracker for the device key, the exported library uploaded
and loaded there, a Relax VM on the remote device, the inputs copied to it once, and each sample
timed on the device by TVM's ``time_evaluator`` (``invoke_stateful``: the network round trip is
not in the figure).

Each contender's measurement process (planctl.measure.benchmark) opens its own session, and TVM's
RPC server serves every session in a process of its own, so baseline and candidate each run in a
fresh process on the farm as they do locally. Stopping follows planctl.measure.latency: ``repeats``
samples, or fewer once ``max_seconds`` of sampled time is spent (never fewer than MIN_SAMPLES).
"""
from __future__ import annotations

from pathlib import Path

from planctl.measure.latency import MIN_SAMPLES


def run_remote(spec: dict, inputs: dict) -> dict:
    """``spec``: a contender of kind ``tvm`` with ``farm`` (``{tracker, device_key,
    session_timeout_s}``), ``path`` (the exported ``.so``), ``input_names``, ``warmup``,
    ``repeats``, ``max_seconds``. Returns ``{samples_ms, peak_rss_mb: None, server}``. Raises TVM's
    RPC errors when the farm cannot run it."""
    from planctl.lowering.tvm_env import import_tvm

    tvm = import_tvm()
    from tvm import relax
    from tvm.s_tir import meta_schedule as ms

    from planctl.tuning.farm import create_session, split_address

    farm = spec["farm"]
    host, port = split_address(farm["tracker"])
    config = ms.runner.RPCConfig(tracker_host=host, tracker_port=port, tracker_key=farm["device_key"],
                                 session_timeout_sec=max(int(farm.get("session_timeout_s", 60)), 600))
    session = create_session(config)
    name = Path(spec["path"]).name
    session.upload(spec["path"], name)
    dev = session.device(spec.get("device", "cpu"), 0)
    vm = relax.VirtualMachine(session.load_module(name), dev)
    vm.set_input("main", *[tvm.runtime.tensor(inputs[n], device=dev) for n in spec["input_names"]])
    timer = vm.time_evaluator("invoke_stateful", dev, number=1, repeat=1)
    for _ in range(spec["warmup"]):
        vm.invoke_stateful("main")
    samples: list[float] = []
    cap = spec.get("max_seconds")
    while len(samples) < spec["repeats"] and not (cap is not None and len(samples) >= MIN_SAMPLES
                                                  and sum(samples) >= cap * 1e3):
        samples.append(timer("main").results[0] * 1e3)
    return {"samples_ms": samples, "peak_rss_mb": None, "server": getattr(session, "planctl_server", None)}
