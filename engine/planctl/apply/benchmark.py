"""Side-by-side latency of baseline, candidate and onnxruntime: one fresh process per contender
per round, rounds interleaved (A B C, B C A, C A B), samples pooled per contender.

A fresh process per contender because (1) a TVM build's latency moves ~15% with the memory state
of the process that built it (docs/tvm-0.27.md §8), and (2) two runtimes in one process
interfere: TVM's and onnxruntime's thread pools both spin after a call, and on a 2-core machine
the one that runs next loses its cores to the other's spinning workers (measured here: the tuned
MiniLM build took 92 ms interleaved in-process against 51 ms alone). Rounds rotate the order so
machine drift spreads over every contender. Each library is loaded exactly as it is deployed.
Run as ``python -m planctl.apply.benchmark SPEC OUT`` (one contender).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from planctl.errors import PlanctlError


def _tvm_runner(library: str, names: list[str], inputs: dict, device: str = "cpu"):
    """One call of ``main`` on inputs already on the device; GPU calls end with a device sync so
    the time covers the kernels, not just their launch."""
    import tvm
    from tvm import relax

    dev = tvm.cuda() if device == "cuda" else tvm.cpu()
    vm = relax.VirtualMachine(tvm.runtime.load_module(library), dev)
    args = [tvm.runtime.tensor(inputs[n], device=dev) for n in names]
    main = vm["main"]
    if device == "cpu":
        return lambda: main(*args)

    def run():
        main(*args)
        dev.sync()

    return run


def _ort_runner(model: str, inputs: dict, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, inputs)


def run_one(spec: dict) -> dict:
    """Time one contender: ``spec`` has kind (tvm|onnxruntime), path, inputs, warmup, repeats."""
    import numpy as np

    from planctl.measure.latency import measure_latency
    from planctl.measure.memory import peak_rss_mb

    inputs = dict(np.load(spec["inputs"]))
    if spec["kind"] == "onnxruntime":
        runner = _ort_runner(spec["path"], inputs, spec["threads"])
    else:
        runner = _tvm_runner(spec["path"], spec["input_names"], inputs, spec.get("device", "cpu"))
    stats = measure_latency({"x": runner}, warmup=spec["warmup"], repeats=spec["repeats"],
                            interleave=False, max_seconds=spec.get("max_seconds"))["x"]
    return {"samples_ms": list(stats.samples_ms), "peak_rss_mb": peak_rss_mb()}


def measure_in_subprocesses(contenders: dict[str, dict], rounds: int = 3, timeout_s: float = 900) -> dict:
    """Run each contender ``rounds`` times in fresh processes, order rotated each round.

    ``contenders``: name → spec for :func:`run_one` (``repeats`` is per round). Returns
    ``{"latency": {name: LatencyStats.to_dict()}, "peak_rss_mb": {name: MB}, "rounds": n}``.
    Raises PlanctlError with the child's stderr tail when a child fails.
    """
    from planctl.measure.stats import LatencyStats

    names = list(contenders)
    samples: dict[str, list[float]] = {n: [] for n in names}
    rss: dict[str, float] = {}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            result = _child(contenders[name], timeout_s)
            samples[name].extend(result["samples_ms"])
            rss[name] = max(rss.get(name, 0.0), result["peak_rss_mb"])
    latency = {n: LatencyStats.from_samples(samples[n], warmup=contenders[n]["warmup"], interleaved=True,
                                            batch_size=contenders[n].get("batch_size", 1)).to_dict()
               for n in names}
    return {"latency": latency, "peak_rss_mb": rss, "rounds": rounds,
            "method": "fresh process per contender per round, order rotated"}


def _child(spec: dict, timeout_s: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="planctl-bench-") as tmp:
        spec_file, out_file = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_file.write_text(json.dumps(spec))
        proc = subprocess.run([sys.executable, "-m", "planctl.apply.benchmark", str(spec_file), str(out_file)],
                              capture_output=True, text=True, timeout=timeout_s, env=os.environ.copy())
        if proc.returncode != 0 or not out_file.exists():
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise PlanctlError(f"the measurement process for {spec['path']} failed (exit {proc.returncode}): {tail}")
        return json.loads(out_file.read_text())


if __name__ == "__main__":
    Path(sys.argv[2]).write_text(json.dumps(run_one(json.loads(Path(sys.argv[1]).read_text()))))
