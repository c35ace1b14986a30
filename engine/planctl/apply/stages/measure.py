"""Measure, at every shape bucket: the candidate and onnxruntime timed side by side on the same
inputs, each in a fresh process per round (planctl.measure.benchmark; rounds rotate the order), and
the performance gate's speedup with its bootstrap interval against the baseline. The untuned
baseline's samples are its calls during verification, timed in a fresh process of their own
(planctl.apply.stages.verify: its calls take seconds, so the same calls verify and time it, within
``baseline_max_seconds`` per bucket). onnxruntime on the unpadded calls of the declared traffic mix
(one session, dynamic shapes), for the traffic-weighted figures of the report and the gate over the
mix, is a contender of the bucket that serves those calls, in the same rotated rounds: the mix then
compares times taken side by side, as each bucket does (timed after the buckets, a host whose load
changed in between made the mix contradict every bucket). Calls whose bucket was not measured are
timed after the buckets.

The candidate's and onnxruntime's sampling stops at ``measure_max_seconds`` per round (at least 3
calls), so a bucket whose calls take half a second costs seconds, not minutes."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional

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
    import tempfile

    from planctl.measure.stats import LatencyStats as Stats

    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="planctl-traffic-", dir=ctx.staging) as folder:
        calls = _traffic_calls(ctx, Path(folder))
        buckets, samples = [], {}
        for work in ctx.shapes:
            served = {tag: call for tag, call in calls.items() if call.bucket == work.tag}
            done, by_point = _bucket(ctx, work, served, notes)
            buckets.append(done)
            samples.update(by_point)
        beside = set(samples)   # timed in their bucket's rounds
        left = {tag: call for tag, call in calls.items() if tag not in beside}
        if left:
            with ctx.clock("measure[traffic]"):
                samples.update(_traffic(ctx, left, notes))
    traffic = {tag: LatencyStats(**Stats.from_samples(samples[tag], warmup=1, interleaved=tag in beside,
                                                      batch_size=call.batch).to_dict())
               for tag, call in calls.items() if samples.get(tag)}
    return Measured(buckets=buckets, traffic_onnxruntime=traffic, notes=notes)


class TrafficCall(NamedTuple):
    inputs: str     # .npz of the call's inputs, drawn inside the input domains at the call's shape
    batch: int      # items per call
    bucket: Optional[str]   # the tag of the bucket that serves it (padded up); None: none does


def _traffic_calls(ctx: RunContext, folder: Path) -> dict[str, TrafficCall]:
    """One call per point of the declared traffic mix, by its shape tag; {} when the model runs at
    one shape or the plan declares no mix."""
    import numpy as np

    from planctl.documents.shapes import bucket_for, shape_tag, traffic_mix
    from planctl.verify.strategies import example_inputs

    mix = traffic_mix(ctx.spec)
    if ctx.layout is None or not mix:
        return {}
    calls = {}
    for i, point in enumerate(mix):
        tag = shape_tag(point.shape_env)
        example = example_inputs(ctx.spec, point.shape_env, seed=i)
        np.savez(folder / f"{tag}.npz", **example)
        bucket = bucket_for(point.shape_env, [w.shape_env for w in ctx.shapes])
        calls[tag] = TrafficCall(str(folder / f"{tag}.npz"), batch_size(example),
                                 shape_tag(bucket) if bucket is not None else None)
    return calls


def _points_spec(ctx: RunContext, calls: dict[str, TrafficCall]) -> dict:
    """onnxruntime (one session, dynamic shapes) on each of ``calls`` in turn, unpadded."""
    return {"kind": "onnxruntime-points", "path": str(ctx.model_file), "threads": ctx.threads,
            "points": {tag: call.inputs for tag, call in calls.items()},
            # one warm-up per point: the session is warm after the first point
            "warmup": 1, "repeats": max(ctx.options.measure_repeats // ROUNDS // 2, 3),
            "max_seconds": ctx.options.measure_max_seconds / 4}


def _bucket(ctx: RunContext, work: ShapeWork, calls: dict[str, TrafficCall],
            notes: list[str]) -> tuple[Optional[BucketMeasured], dict[str, list[float]]]:
    """The bucket's measurement and onnxruntime's samples (ms) on the traffic ``calls`` it serves,
    timed in the same rounds."""
    import numpy as np

    from planctl.measure.benchmark import on_farm
    from planctl.tuning.farm import rpc_farm
    from planctl.measure.compare import gate_speedup, latency_warnings
    from planctl.measure.stats import LatencyStats as Stats
    from planctl.verify.strategies import example_inputs

    if not work.has_candidate:
        return None, {}
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
        if calls:
            contenders["onnxruntime-traffic"] = _points_spec(ctx, calls)
        contenders, farm_notes = on_farm(contenders, rpc_farm(ctx.target.model.spec.measurement))
        try:
            result = _measure(contenders)
        except PlanctlError as exc:   # a build that cannot run outside parity: evidence, not a crash
            notes.append(f"{work.tag} not measured: {exc.message}")
            return None, {}
        finally:
            inputs_file.unlink(missing_ok=True)
    latency = dict(result["latency"])
    if work.baseline_ms:
        latency["baseline"] = Stats.from_samples(work.baseline_ms, warmup=work.baseline_warmup, interleaved=False,
                                                 batch_size=common["batch_size"]).to_dict()
    rss = {k: v for k, v in result["peak_rss_mb"].items() if k != "onnxruntime-traffic"}
    if work.baseline_rss_mb:
        rss["baseline"] = work.baseline_rss_mb
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
                          notes=[f"{work.tag}: {n}" for n in [*latency_warnings(latency, gate.statistic), *farm_notes]]
                          ), result["points"].get("onnxruntime-traffic", {})


def _measure(contenders: dict[str, dict]) -> dict:
    """planctl.measure.benchmark.measure_in_subprocesses; when it fails with onnxruntime's traffic calls
    among the contenders, once more without them (their failure is the traffic measurement's, after the
    buckets, not the bucket's)."""
    from planctl.measure.benchmark import measure_in_subprocesses

    try:
        return measure_in_subprocesses(contenders, rounds=ROUNDS)
    except PlanctlError:
        if "onnxruntime-traffic" not in contenders:
            raise
    return measure_in_subprocesses({k: v for k, v in contenders.items() if k != "onnxruntime-traffic"}, rounds=ROUNDS)


def _traffic(ctx: RunContext, calls: dict[str, TrafficCall], notes: list[str]) -> dict[str, list[float]]:
    """onnxruntime's samples (ms) on ``calls`` no measured bucket timed (a fresh process per round)."""
    from planctl.measure.benchmark import measure_points

    try:
        return measure_points(_points_spec(ctx, calls), rounds=ROUNDS)
    except PlanctlError as exc:
        notes.append(f"the traffic mix was not measured: {exc.message}")
        return {}


def batch_size(example: dict) -> int:
    """Items per call for throughput: the leading dim of the first input that has one (a scalar
    input, or a model without inputs, counts as one item)."""
    return next((int(a.shape[0]) for a in example.values() if getattr(a, "ndim", 0) >= 1), 1)
