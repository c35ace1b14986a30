"""Measure, at every shape bucket: the candidate and onnxruntime timed side by side on the same
inputs, each in a fresh process per round (planctl.measure.benchmark; rounds rotate the order), and
the performance gate's speedup with its bootstrap interval against the baseline. The untuned
baseline's samples are its calls during verification, timed in a fresh process of their own
(planctl.apply.stages.verify: its calls take seconds, so the same calls verify and time it, within
``baseline_max_seconds`` per bucket). Then onnxruntime on the unpadded calls of the declared traffic
mix (one session, dynamic shapes), for the traffic-weighted figures of the report.

The candidate's and onnxruntime's sampling stops at ``measure_max_seconds`` per round (at least 3
calls), so a bucket whose calls take half a second costs seconds, not minutes."""
from __future__ import annotations

from typing import Optional

from planctl.apply.context import RunContext, ShapeWork
from planctl.errors import PlanctlError
from planctl.report.record import Evidence, LatencyStats, Measurement, Memory, Speedup

ROUNDS = 3
WARMUP = 3


class BucketMeasured(Evidence):
    latency: dict[str, LatencyStats]
    measurement: Measurement
    memory: Memory            # peak RSS of each contender's process
    speedup: Speedup
    notes: list[str]


class Measured(Evidence):
    buckets: list[Optional[BucketMeasured]]   # by bucket; None where nothing could be measured
    traffic_onnxruntime: dict[str, LatencyStats]   # traffic point tag -> onnxruntime on the unpadded call
    notes: list[str]

    @property
    def first(self) -> Optional[BucketMeasured]:
        return self.buckets[0] if self.buckets else None


def prepare(ctx: RunContext) -> None:
    """Start the measurement processes' server now: its imports overlap the lowering's."""
    from planctl.measure.benchmark import start_measurement_server

    start_measurement_server(threads=ctx.threads)


def run(ctx: RunContext) -> Measured:
    """A bucket has no measurement (None) when it has no candidate (TVM failed to build it) or a
    measurement process failed or hung (``notes`` says why; a bucket without a measurement is not
    promoted)."""
    notes: list[str] = []
    buckets = [_bucket(ctx, work, notes) for work in ctx.shapes]
    with ctx.clock("measure[traffic]"):
        traffic = _traffic(ctx, notes)
    return Measured(buckets=buckets, traffic_onnxruntime=traffic, notes=notes)


def _bucket(ctx: RunContext, work: ShapeWork, notes: list[str]) -> Optional[BucketMeasured]:
    import numpy as np

    from planctl.measure.benchmark import measure_in_subprocesses, on_farm
    from planctl.tuning.farm import rpc_farm
    from planctl.measure.compare import gate_speedup, latency_warnings
    from planctl.measure.stats import LatencyStats as Stats
    from planctl.verify.strategies import example_inputs

    if not work.has_candidate:
        return None
    repeats, cap = max(ctx.options.measure_repeats // ROUNDS, 3), ctx.options.measure_max_seconds
    inputs_file = ctx.staging / f"measure-inputs-{work.tag}.npz"
    with ctx.clock(f"measure[{work.tag}]"):
        example = example_inputs(ctx.spec, work.shape_env, seed=0)
        np.savez(inputs_file, **example)
        common = {"inputs": str(inputs_file), "input_names": work.imported.input_names, "threads": ctx.threads,
                  "device": ctx.device_kind, "batch_size": batch_size(example), "warmup": WARMUP,
                  "repeats": repeats, "max_seconds": cap}
        contenders = {"candidate": {**common, "kind": "tvm", "path": str(work.libraries["candidate"])},
                      "onnxruntime": {**common, "kind": "onnxruntime", "path": str(ctx.model_file)}}
        if not work.baseline_ms:   # verification did not time the baseline: time it here, capped
            contenders["baseline"] = {**common, "kind": "tvm", "path": str(work.libraries["baseline"]), "warmup": 1,
                                      "repeats": 4}
        contenders, farm_notes = on_farm(contenders, rpc_farm(ctx.target.model.spec.measurement))
        try:
            result = measure_in_subprocesses(contenders, rounds=ROUNDS)
        except PlanctlError as exc:   # a build that cannot run outside parity: evidence, not a crash
            notes.append(f"{work.tag} not measured: {exc.message}")
            return None
        finally:
            inputs_file.unlink(missing_ok=True)
    latency = dict(result["latency"])
    if work.baseline_ms:
        latency["baseline"] = Stats.from_samples(work.baseline_ms, warmup=work.baseline_warmup, interleaved=False,
                                                 batch_size=common["batch_size"]).to_dict()
    rss = {**result["peak_rss_mb"], **({"baseline": work.baseline_rss_mb} if work.baseline_rss_mb else {})}
    gate = ctx.spec.envelope.performance
    method = (f"{result['method']} ({ROUNDS} rounds, at most {cap:g} s of sampled calls per contender and round; "
              f"{ctx.threads} threads each: TVM_NUM_THREADS and onnxruntime's intra_op_num_threads)")
    if work.baseline_ms:
        method += (f"; baseline: its {len(work.baseline_ms) + work.baseline_warmup} timed parity calls in one fresh "
                   f"process (first dropped as warm-up when there were more), within baseline_max_seconds="
                   f"{ctx.options.baseline_max_seconds:g}")
    return BucketMeasured(latency=latency,
                          measurement=Measurement(method=method, rounds=result["rounds"],
                                                  inputs="one hypothesis example inside the input domains, at the "
                                                         "bucket's shape (the baseline: its parity examples)"),
                          memory=Memory(peak_rss_mb=rss.get("candidate"), peak_rss_mb_by_contender=rss),
                          speedup=Speedup(**gate_speedup(latency, gate.statistic, gate.min_speedup)),
                          notes=[f"{work.tag}: {n}" for n in [*latency_warnings(latency, gate.statistic), *farm_notes]])


def _traffic(ctx: RunContext, notes: list[str]) -> dict[str, LatencyStats]:
    """onnxruntime on one call of every traffic point (unpadded; a fresh process per round), when
    the model runs at any shape; {} otherwise."""
    import tempfile
    from pathlib import Path

    import numpy as np

    from planctl.documents.shapes import shape_tag, traffic_mix
    from planctl.measure.benchmark import measure_points
    from planctl.measure.stats import LatencyStats as Stats
    from planctl.verify.strategies import example_inputs

    mix = traffic_mix(ctx.spec)
    if ctx.layout is None or not mix:
        return {}
    with tempfile.TemporaryDirectory(prefix="planctl-traffic-", dir=ctx.staging) as folder:
        points, sizes = {}, {}
        for i, point in enumerate(mix):
            tag = shape_tag(point.shape_env)
            example = example_inputs(ctx.spec, point.shape_env, seed=i)
            points[tag] = str(Path(folder) / f"{tag}.npz")
            np.savez(points[tag], **example)
            sizes[tag] = batch_size(example)
        spec = {"kind": "onnxruntime-points", "path": str(ctx.model_file), "points": points, "threads": ctx.threads,
                # one warm-up per point: the session is warm after the first point
                "warmup": 1, "repeats": max(ctx.options.measure_repeats // ROUNDS // 2, 3),
                "max_seconds": ctx.options.measure_max_seconds / 4}
        try:
            pooled = measure_points(spec, rounds=ROUNDS)
        except PlanctlError as exc:
            notes.append(f"the traffic mix was not measured: {exc.message}")
            return {}
    return {tag: LatencyStats(**Stats.from_samples(samples, warmup=1, batch_size=sizes[tag]).to_dict())
            for tag, samples in pooled.items()}


def batch_size(example: dict) -> int:
    """Items per call for throughput: the leading dim of the first input that has one (a scalar
    input, or a model without inputs, counts as one item)."""
    return next((int(a.shape[0]) for a in example.values() if getattr(a, "ndim", 0) >= 1), 1)
