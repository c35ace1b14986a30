"""Decide, at every shape bucket: promote, roll back, call it inconclusive, or reject, from that
bucket's envelope (parity, task quality, memory ceiling, padding), its performance gate, and
whether the baseline it would roll back to passed parity there (planctl.apply.decide). A bucket
that fails rolls back alone; the run's verdict sums them up (planctl.apply.decide.overall). A plan
that gates on onnxruntime (envelope.performance.versus_onnxruntime) is judged at each bucket's shape,
or once over its traffic mix, where a gate not met rolls back every promoted bucket."""
from __future__ import annotations

from typing import Optional

from planctl.apply.context import RunContext
from planctl.apply.stages.build import Builds
from planctl.apply.stages.measure import Measured
from planctl.apply.stages.verify import Verification
from planctl.report.record import BucketDecision, Decision, Evidence, Memory, TrafficGate


# Over the mix the gate judges the expected latency (the mean of a call drawn from it: what the
# service spends per call, the figure the summary and report.md's Traffic mix give). The mix's p50 is
# the median-sized call's, and promoted a build slower on expected latency, p99 and throughput (a
# new user's report, session 16).
MIX_STATISTIC = "mean"


class Decided(Evidence):
    decision: Decision
    memory: Memory   # measured peak RSS of the first bucket with the planned bytes of its candidate


def run(ctx: RunContext, verification: Verification, measured: Measured, builds: Builds) -> Decided:
    from planctl.apply.decide import decide, overall
    from planctl.documents.shapes import shape_text, traffic_mix

    envelope = ctx.spec.envelope
    peer = envelope.performance.versus_onnxruntime
    # without a declared mix (static shapes) the one bucket is the whole traffic: judged there
    peer_at_bucket = peer is not None and (peer.over == "each-bucket" or not traffic_mix(ctx.spec))
    buckets = []
    for i, work in enumerate(ctx.shapes):
        built, done = builds.shapes[i], measured.buckets[i]
        planned = built.planned_memory
        memory = (done.memory if done is not None else Memory(peak_rss_mb=None)).model_copy(
            update={"planned_bytes": planned.planned_bytes if planned is not None else None})
        quality = [q.model_dump() for q in verification.quality if q.shape_env == work.shape_env]
        failures = [f.model_dump() for f in verification.failures if f.shape == work.tag]
        padding = verification.padding[i]
        found = decide([verification.parity[i].model_dump()], done.speedup.model_dump() if done else None, envelope,
                       quality, memory.model_dump(), fallback=[verification.fallback[i].model_dump()],
                       failures=failures, padding=padding.model_dump() if padding is not None else None,
                       peer_at_bucket=peer_at_bucket)
        serves = {"promote": "candidate", "reject": None}.get(found["verdict"], "baseline")
        buckets.append(BucketDecision(shape_env=work.shape_env, tag=work.tag, verdict=found["verdict"], serves=serves,
                                      reasons=found["reasons"]))
    traffic_gate, mix_reason = None, None
    if peer is not None and not peer_at_bucket:
        buckets, traffic_gate, mix_reason = _judge_mix(ctx, verification, measured, buckets)
    verdict, reasons = overall([b.model_dump() for b in buckets], shape_text)
    if mix_reason is not None and mix_reason not in reasons:
        reasons.append(mix_reason)
    first = measured.first
    planned = builds.shapes[0].planned_memory
    memory = (first.memory if first is not None else Memory(peak_rss_mb=None)).model_copy(
        update={"planned_bytes": planned.planned_bytes if planned is not None else None})
    return Decided(decision=Decision(verdict=verdict, reasons=reasons, buckets=buckets, traffic_gate=traffic_gate),
                   memory=memory)


def _judge_mix(ctx: RunContext, verification: Verification, measured: Measured,
               buckets: list[BucketDecision]) -> tuple[list[BucketDecision], TrafficGate, str]:
    """The onnxruntime gate over the traffic mix (planctl.apply.decide.gate_on_mix): the buckets as it
    leaves them, its evidence and its reason."""
    from planctl.apply.decide import gate_on_mix

    performance = ctx.spec.envelope.performance
    mix = _mix_speedup(ctx, measured, buckets)
    judged, reason, allows = gate_on_mix([b.model_dump() for b in buckets], mix, performance,
                                         [[f.model_dump()] for f in verification.fallback])
    gate = TrafficGate(statistic=MIX_STATISTIC, gate=performance.versus_onnxruntime.min_speedup,
                       value=mix.get("value"), ci_low=mix.get("ci_low"), ci_high=mix.get("ci_high"),
                       missing=mix.get("missing"), verdict=allows)
    return [BucketDecision(**b) for b in judged], gate, reason


def _mix_speedup(ctx: RunContext, measured: Measured, buckets: list[BucketDecision]) -> dict:
    """onnxruntime / planctl on the mix's expected latency (MIX_STATISTIC), each point served
    by its bucket's deployed build padded up to the bucket, onnxruntime on the unpadded call (the
    report's Traffic section, planctl.apply.stages.report); ``{missing: why}`` where a point lacks a
    measurement."""
    from planctl.documents.shapes import bucket_for, shape_tag, shape_text, traffic_mix
    from planctl.measure.traffic import mix_speedup

    measured_at = {w.tag: done for w, done in zip(ctx.shapes, measured.buckets)}
    serves = {b.tag: b.serves for b in buckets}
    ours, theirs = [], []
    for point in traffic_mix(ctx.spec):
        bucket = bucket_for(point.shape_env, [w.shape_env for w in ctx.shapes])
        tag = shape_tag(bucket) if bucket is not None else None
        done = measured_at.get(tag)
        served = done.latency.get(serves.get(tag) or "") if done is not None else None
        ort = measured.traffic_onnxruntime.get(shape_tag(point.shape_env))
        if served is None or ort is None:
            lacking = "an onnxruntime measurement" if ort is None else "a measured deployed build"
            return {"missing": f"the call {shape_text(point.shape_env)} has no {lacking}"}
        ours.append({"share": point.share, "samples_ms": served.samples_ms})
        theirs.append({"share": point.share, "samples_ms": ort.samples_ms})
    return mix_speedup(theirs, ours, MIX_STATISTIC)


def serving(decided: Optional[Decided]) -> dict[str, Optional[str]]:
    """Bucket tag -> the build its calls run (candidate, baseline, or None: refused)."""
    return {b.tag: b.serves for b in decided.decision.buckets} if decided is not None else {}
