"""MiniLM on the CPU under concurrent callers: throughput and p99 of planctl's artifact, onnxruntime
and OpenVINO, each configured the way a user configures it for that load.

``python bench/minilm_cpu.py --callers 2 [--out ...] [--rounds 3] [--repeats 30]`` runs it (or
``python bench/minilm_concurrency.py`` with the same options). N caller threads in one process
each call the model ``--repeats`` times back to back on the bench's inputs (closed loop, no think
time), starting together; throughput = all calls / wall time from the start to the last call's end,
and the latency distribution pools every call of every caller. Each contender runs in a fresh process
per round, order rotated, like bench/minilm_cpu.py. Configuration per runtime, for C callers on a
host with K cores:

- planctl (TVM): one loaded library, one Relax VM per caller (a VM holds per-call registers and is not
  shared between threads); TVM's thread pool is per calling thread, so each caller gets
  ``TVM_NUM_THREADS`` = max(1, K // C) workers (K threads each would put C*K spinning workers on K cores);
- onnxruntime: one session shared by the callers (``InferenceSession.run`` is thread-safe) with
  ``intra_op_num_threads`` = max(1, K // C): onnxruntime's own advice for concurrent requests;
- OpenVINO: the throughput hint with ``PERFORMANCE_HINT_NUM_REQUESTS`` = C, one infer request per
  caller, f32 precision (bench/openvino_peer.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BARRIER_TIMEOUT_S = 300  # callers' warm-up on a loaded 2-core host; past it the child fails, never hangs
CHILD_TIMEOUT_S = 900
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _runners(spec: dict) -> list:
    """One zero-argument call per caller, as the runtime's users configure it for ``callers`` threads."""
    import numpy as np

    inputs = dict(np.load(spec["inputs"]))
    callers, threads = spec["callers"], spec["threads"]
    if spec["kind"] == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(spec["path"], options, providers=["CPUExecutionProvider"])
        return [lambda: session.run(None, inputs) for _ in range(callers)]
    if spec["kind"] == "openvino":
        from openvino_peer import compiled_model, runner

        compiled = compiled_model(spec["path"], spec["cores"], callers)
        return [runner(compiled, inputs) for _ in range(callers)]
    import planctl.runtime

    # one artifact (bucket dispatcher, its own VM) per caller: a TVM VM is not re-entrant
    embeds = [planctl.runtime.load(spec["out"]) for _ in range(callers)]
    return [(lambda embed=embed: embed(**inputs)) for embed in embeds]


def child(spec: dict) -> dict:
    """Run the callers of one contender in this (fresh) process: ``{"samples_ms", "wall_s", "calls"}``.
    Raises RuntimeError naming the caller when one fails or the start barrier times out (a failed
    caller would otherwise leave the others waiting at the barrier)."""
    runners = _runners(spec)
    # one call each from this thread first: OpenVINO's Python module initialises pybind11's numpy
    # API on its first call, and two threads making that first call at once deadlock (seen at
    # 2 x 128: each holds what the other waits for, the GIL and a C++ static-init guard); a
    # service warms its runtime before it serves too
    for run in runners:
        run()
    start = threading.Barrier(len(runners) + 1, timeout=BARRIER_TIMEOUT_S)
    samples: list[list[float]] = [[] for _ in runners]
    errors: list[str] = []

    def caller(i: int) -> None:
        run = runners[i]
        try:
            for _ in range(spec["warmup"]):
                run()
            start.wait()
            for _ in range(spec["repeats"]):
                t0 = time.perf_counter()
                run()
                samples[i].append((time.perf_counter() - t0) * 1e3)
        except BaseException as exc:  # noqa: BLE001 - reported by the parent, never a hang
            errors.append(f"caller {i}: {type(exc).__name__}: {exc}")
            start.abort()

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(len(runners))]
    for t in threads:
        t.start()
    try:
        start.wait()
    except threading.BrokenBarrierError:
        pass
    began = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{spec['kind']}: " + "; ".join(errors))
    return {"samples_ms": [x for s in samples for x in s], "wall_s": wall, "calls": sum(map(len, samples))}


def _run_child(spec: dict) -> dict:
    env = {**os.environ, "TVM_NUM_THREADS": str(spec["threads"])}
    with tempfile.TemporaryDirectory() as tmp:
        spec_file, out_file = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_file.write_text(json.dumps(spec))
        subprocess.run([sys.executable, __file__, "--child", str(spec_file), str(out_file)], check=True, env=env,
                       timeout=CHILD_TIMEOUT_S)
        return json.loads(out_file.read_text())


def run_concurrency(outs: list[Path], callers: int, rounds: int, repeats: int, openvino: bool = True,
                    shape: tuple[int, int] = (2, 128)) -> dict:
    """Every contender with ``callers`` concurrent callers, ``rounds`` fresh processes each, rotated.
    Returns the bench's JSON: per contender throughput (calls/s), p50, p99; ratios to each peer."""
    import numpy as np

    from minilm_cpu import MODEL, contender_names, inputs_file, machine
    from openvino_peer import unavailable

    from planctl.host import physical_cores

    cores = physical_cores()
    threads = max(1, cores // callers)
    manifests = {name: (out, json.loads((out / "manifest.json").read_text()))
                 for name, out in zip(contender_names(outs), outs)}
    openvino_missing = None if openvino and not unavailable() else (unavailable() or "left out (--no-openvino)")
    with tempfile.TemporaryDirectory() as tmp:
        common = {"inputs": str(inputs_file(Path(tmp), *shape)), "input_names": next(iter(manifests.values()))[1]["input_names"],
                  "callers": callers, "threads": threads, "cores": cores, "warmup": 3, "repeats": repeats}
        onnx = str(MODEL)
        contenders = {name: {**common, "kind": "planctl", "out": str(out), "path": str(out)}
                      for name, (out, manifest) in manifests.items()}
        contenders["onnxruntime"] = {**common, "kind": "onnxruntime", "path": onnx}
        if not openvino_missing:
            contenders["openvino"] = {**common, "kind": "openvino", "path": onnx}
        names = list(contenders)
        samples = {n: [] for n in names}
        walls = {n: [0.0, 0] for n in names}
        for r in range(rounds):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                found = _run_child(contenders[name])
                samples[name].extend(found["samples_ms"])
                walls[name][0] += found["wall_s"]
                walls[name][1] += found["calls"]
    summary = {n: {"throughput_per_s": walls[n][1] / walls[n][0], "p50_ms": float(np.percentile(samples[n], 50)),
                   "p99_ms": float(np.percentile(samples[n], 99)), "n": len(samples[n])} for n in names}
    ratios = {}
    for name in manifests:
        suffix = name.removeprefix("planctl")
        for peer in ("onnxruntime", "openvino"):
            if peer in summary:
                ratios[f"throughput_ratio_vs_{peer}{suffix}"] = (summary[name]["throughput_per_s"]
                                                                 / summary[peer]["throughput_per_s"])
                ratios[f"ratio_p99_vs_{peer}{suffix}"] = summary[name]["p99_ms"] / summary[peer]["p99_ms"]
    return {"benchmark": "minilm_cpu_concurrency", "shape": f"{shape[0]}x{shape[1]}", "callers": callers,
            "threads_per_caller": threads,
            "contenders": summary, **ratios, "openvino": openvino_missing or "measured",
            "method": f"{rounds} rounds x {callers} callers x {repeats} calls, closed loop, fresh process per "
                      "contender per round, rotated order; throughput = calls / wall time",
            "machine": machine(threads)}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, nargs="+", default=[REPO / "out" / "minilm-embed" / "x86-64-avx2"])
    parser.add_argument("--callers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-openvino", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        Path(args.child[1]).write_text(json.dumps(child(json.loads(Path(args.child[0]).read_text()))))
        return
    print(json.dumps(run_concurrency(args.out, args.callers, args.rounds, args.repeats, not args.no_openvino),
                     indent=2))


if __name__ == "__main__":
    main()
