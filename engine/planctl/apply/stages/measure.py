"""Measure: baseline, candidate and onnxruntime timed side by side at the first production shape,
each in a fresh process per round (planctl.measure.benchmark), then the performance gate's
speedup with its bootstrap interval."""
from __future__ import annotations

from planctl.apply.context import RunContext
from planctl.errors import PlanctlError
from planctl.report.record import Evidence, LatencyStats, Measurement, Memory, Speedup

ROUNDS = 3


class Measured(Evidence):
    latency: dict[str, LatencyStats]
    measurement: Measurement
    memory: Memory            # peak RSS of each contender's process
    speedup: Speedup
    notes: list[str]


def prepare(ctx: RunContext) -> None:
    """Start the measurement processes' server now: its imports overlap the lowering's."""
    from planctl.measure.benchmark import start_measurement_server

    start_measurement_server(threads=ctx.threads)


def run(ctx: RunContext) -> Measured | None:
    """None when the first shape has no candidate to measure (TVM failed to build it), or when a
    measurement process failed or hung (``ctx.notes`` says why; without a measurement nothing is
    promoted)."""
    import numpy as np

    from planctl.measure.benchmark import measure_in_subprocesses, on_farm
    from planctl.tuning.farm import rpc_farm
    from planctl.measure.compare import gate_speedup, latency_warnings
    from planctl.verify.strategies import example_inputs

    work, repeats, cap = ctx.shapes[0], ctx.options.measure_repeats, ctx.options.baseline_max_seconds / ROUNDS
    if not work.has_candidate:
        return None
    inputs_file = ctx.staging / "measure-inputs.npz"
    with ctx.clock("measure"):
        example = example_inputs(ctx.spec, work.shape_env, seed=0)
        np.savez(inputs_file, **example)
        common = {"inputs": str(inputs_file), "input_names": work.imported.input_names, "threads": ctx.threads,
                  "device": ctx.device_kind,
                  "batch_size": _batch_size(example)}
        contenders = {
            "baseline": {**common, "kind": "tvm", "path": str(work.libraries["baseline"]), "warmup": 1,
                         "repeats": 4, "max_seconds": cap},
            "candidate": {**common, "kind": "tvm", "path": str(work.libraries["candidate"]), "warmup": 5,
                          "repeats": max(repeats // ROUNDS, 3), "max_seconds": cap},
            "onnxruntime": {**common, "kind": "onnxruntime", "path": str(ctx.model_file), "warmup": 5,
                            "repeats": max(repeats // ROUNDS, 3), "max_seconds": cap},
        }
        contenders, farm_notes = on_farm(contenders, rpc_farm(ctx.target.model.spec.measurement))
        try:
            result = measure_in_subprocesses(contenders, rounds=ROUNDS)
        except PlanctlError as exc:   # a build that cannot run outside parity: evidence, not a crash
            ctx.notes.append(f"not measured: {exc.message}")
            return None
        finally:
            inputs_file.unlink(missing_ok=True)
    latency, gate = result["latency"], ctx.spec.envelope.performance
    return Measured(latency=latency,
                    measurement=Measurement(method=result["method"], rounds=result["rounds"],
                                            inputs="one hypothesis example inside the input domains"),
                    memory=Memory(peak_rss_mb=result["peak_rss_mb"].get("candidate"),
                                  peak_rss_mb_by_contender=result["peak_rss_mb"]),
                    speedup=Speedup(**gate_speedup(latency, gate.statistic, gate.min_speedup)),
                    notes=latency_warnings(latency, gate.statistic) + farm_notes)


def _batch_size(example: dict) -> int:
    """Items per call for throughput: the leading dim of the first input that has one (a scalar
    input, or a model without inputs, counts as one item)."""
    return next((int(a.shape[0]) for a in example.values() if getattr(a, "ndim", 0) >= 1), 1)
