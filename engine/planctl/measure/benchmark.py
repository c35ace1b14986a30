"""Side-by-side latency of baseline, candidate and onnxruntime: one fresh process per contender
per round, rounds interleaved (A B C, B C A, C A B), samples pooled per contender.

A fresh process per contender because (1) a TVM build's latency moves ~15% with the memory state
of the process that built it (docs/tvm-0.27.md §8), and (2) two runtimes in one process
interfere: TVM's and onnxruntime's thread pools both spin after a call, and on a 2-core machine
the one that runs next loses its cores to the other's spinning workers (measured here: the tuned
MiniLM build took 92 ms interleaved in-process against 51 ms alone). Rounds rotate the order so
machine drift spreads over every contender. Each library is loaded exactly as it is deployed.

The fresh processes come from a ``multiprocessing`` forkserver that imported TVM, onnxruntime and
numpy once (:func:`start_measurement_server`): each contender's process is a fork of that clean
server, which never built or loaded a model, so it starts without the ~2.8 s TVM import that a
``python -m`` child pays (nine of them made up 17 of the 22 s of a warm apply of a small MLP).
Run as ``python -m planctl.measure.benchmark SPEC OUT`` for one contender in a plain fresh process.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import sys
import tempfile
import traceback
from pathlib import Path

from planctl.errors import PlanctlError


def _ort_runner(model: str, inputs: dict, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, inputs)


def run_one(spec: dict) -> dict:
    """Time one contender: ``spec`` has kind (tvm|onnxruntime|onnxruntime-points), path, inputs,
    warmup, repeats; ``onnxruntime-points`` times one session on every inputs file of
    ``spec["points"]`` ({name: .npz}) in turn (the shapes of a traffic mix: one model with dynamic
    shapes serving them all), each with its warm-up and repeats; ``farm`` for a TVM build measured
    on the target's RPC farm (planctl.measure.remote)."""
    import numpy as np

    from planctl.lowering.vm import vm_callable
    from planctl.measure.latency import measure_latency
    from planctl.measure.memory import peak_rss_mb

    if spec["kind"] == "onnxruntime-points":
        return _run_points(spec)
    inputs = dict(np.load(spec["inputs"]))
    if spec["kind"] == "tvm" and spec.get("farm"):
        from planctl.measure.remote import run_remote

        return run_remote(spec, inputs)
    if spec["kind"] == "onnxruntime":
        runner = _ort_runner(spec["path"], inputs, spec["threads"])
    else:
        runner = vm_callable(spec["path"], spec["input_names"], spec.get("device", "cpu")).bound(inputs)
    stats = measure_latency({"x": runner}, warmup=spec["warmup"], repeats=spec["repeats"],
                            interleave=False, max_seconds=spec.get("max_seconds"))["x"]
    return {"samples_ms": list(stats.samples_ms), "peak_rss_mb": peak_rss_mb()}


def _run_points(spec: dict) -> dict:
    import numpy as np

    from planctl.measure.latency import measure_latency
    from planctl.measure.memory import peak_rss_mb

    runner = None
    samples = {}
    for name, path in spec["points"].items():
        inputs = dict(np.load(path))
        if runner is None:
            runner = _OrtSession(spec["path"], spec["threads"])
        stats = measure_latency({"x": lambda: runner(inputs)}, warmup=spec["warmup"], repeats=spec["repeats"],
                                interleave=False, max_seconds=spec.get("max_seconds"))["x"]
        samples[name] = list(stats.samples_ms)
    return {"samples_ms_by_point": samples, "peak_rss_mb": peak_rss_mb()}


class _OrtSession:
    """One onnxruntime session (dynamic shapes) run on any inputs: ``session(inputs)``."""

    def __init__(self, model: str, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def __call__(self, inputs: dict):
        return self.session.run(None, inputs)


def measure_points(spec: dict, rounds: int = 3, timeout_s: float = 900) -> dict[str, list[float]]:
    """Samples (ms) per point of an ``onnxruntime-points`` contender over ``rounds`` fresh processes."""
    pooled: dict[str, list[float]] = {}
    for _ in range(rounds):
        result = _child(spec, timeout_s, key="samples_ms_by_point")
        for name, samples in result["samples_ms_by_point"].items():
            pooled.setdefault(name, []).extend(samples)
    return pooled


def measure_in_subprocesses(contenders: dict[str, dict], rounds: int = 3, timeout_s: float = 900) -> dict:
    """Run each contender ``rounds`` times in fresh processes, order rotated each round.

    ``contenders``: name → spec for :func:`run_one` (``repeats`` is per round). Returns
    ``{"latency": {name: LatencyStats.to_dict()}, "points": {name: {point: samples_ms}}, "peak_rss_mb":
    {name: MB}, "rounds": n, "method": text, "servers": {name: [RPC server of each round]}}``
    (``onnxruntime-points`` contenders go to ``points``, the others to ``latency``; peak RSS only of
    contenders run here, servers only of those run on a farm). Raises PlanctlError with the child's
    stderr tail when a child fails.
    """
    from planctl.measure.stats import LatencyStats

    names = list(contenders)
    samples: dict[str, list[float]] = {n: [] for n in names}
    points: dict[str, dict[str, list[float]]] = {}
    rss: dict[str, float] = {}
    servers: dict[str, list[str]] = {}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            by_point = contenders[name]["kind"] == "onnxruntime-points"
            result = _child(contenders[name], timeout_s, key="samples_ms_by_point" if by_point else "samples_ms")
            if by_point:
                for point, values in result["samples_ms_by_point"].items():
                    points.setdefault(name, {}).setdefault(point, []).extend(values)
            else:
                samples[name].extend(result["samples_ms"])
            if result.get("peak_rss_mb") is not None:
                rss[name] = max(rss.get(name, 0.0), result["peak_rss_mb"])
            if result.get("server"):
                servers.setdefault(name, []).append(result["server"])
    latency = {n: LatencyStats.from_samples(samples[n], warmup=contenders[n]["warmup"], interleaved=True,
                                            batch_size=contenders[n].get("batch_size", 1)).to_dict()
               for n in names if n not in points}
    farms = sorted({f"'{s['farm']['device_key']}' at {s['farm']['tracker']}" for s in contenders.values()
                    if s.get("farm")})
    method = "fresh process per contender per round, order rotated"
    if farms:
        method += f"; TVM builds timed on the RPC farm {', '.join(farms)} (a fresh server process per session)"
    return {"latency": latency, "points": points, "peak_rss_mb": rss, "rounds": rounds, "method": method,
            "servers": servers}


def on_farm(contenders: dict[str, dict], farm: dict | None) -> tuple[dict[str, dict], list[str]]:
    """The contenders as the target measures them: unchanged for a local target; with ``farm``
    (``{tracker, device_key, session_timeout_s}``, planctl.tuning.governed.rpc_farm) every TVM build
    is timed on the farm, and onnxruntime, which TVM's RPC servers cannot run, is left out (the
    returned notes say so)."""
    if not farm:
        return contenders, []
    kept = {name: {**spec, "farm": farm} for name, spec in contenders.items() if spec["kind"] == "tvm"}
    left = [name for name, spec in contenders.items() if spec["kind"] != "tvm"]
    notes = [f"baseline and candidate were timed on the RPC farm '{farm['device_key']}' at {farm['tracker']}"]
    if left:
        notes.append(f"not measured on the farm (TVM's RPC servers run TVM builds only): {', '.join(left)}")
    return kept, notes


PRELOAD = ["planctl.measure._preload"]


def _server():
    """The forkserver context, started with :data:`PRELOAD` imported (once per planctl process)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def start_measurement_server(threads: int) -> None:
    """Start the forkserver now, so its imports overlap the apply's instead of delaying the
    measurement. The server keeps the environment it starts with, so ``TVM_NUM_THREADS`` is set first."""
    from multiprocessing import forkserver

    os.environ.setdefault("TVM_NUM_THREADS", str(threads))
    _server()
    forkserver.ensure_running()


def _run_to_file(spec: dict, out_file: str) -> None:
    try:
        result = run_one(spec)
    except BaseException:  # the parent reports it; a child must not print a bare traceback
        result = {"error": traceback.format_exc(limit=-3)}
    Path(out_file).write_text(json.dumps(result))


def _child(spec: dict, timeout_s: float, key: str = "samples_ms") -> dict:
    with tempfile.TemporaryDirectory(prefix="planctl-bench-") as tmp:
        out_file = Path(tmp) / "out.json"
        proc = _server().Process(target=_run_to_file, args=(spec, str(out_file)), daemon=True)
        proc.start()
        proc.join(timeout_s)
        if proc.is_alive():
            proc.kill()
            proc.join()
            raise PlanctlError(f"the measurement process for {spec['path']} ran past {timeout_s:.0f} s",
                               hint="the model may hang on these inputs; run `planctl verify` on it")
        result = json.loads(out_file.read_text()) if out_file.exists() else {}
        if proc.exitcode != 0 or "error" in result or key not in result:
            why = result.get("error", "").strip().splitlines()[-3:] or [f"exit code {proc.exitcode}"]
            raise PlanctlError(f"the measurement process for {spec['path']} failed: {' | '.join(why)}")
        return result


if __name__ == "__main__":
    Path(sys.argv[2]).write_text(json.dumps(run_one(json.loads(Path(sys.argv[1]).read_text()))))
