"""The promotion decision of one shape bucket: the envelope first (parity, task quality, memory
ceiling, padding), then the performance gate with its confidence interval, and whether a verified
build is left to deploy; and the run's verdict over its buckets (:func:`overall`)."""
from __future__ import annotations

from pathlib import Path

from planctl.documents.shapes import shape_text


def decide(parity: list[dict], speedup: dict | None, envelope, quality: list[dict] | None = None,
           memory: dict | None = None, *, fallback: list[dict], failures: list[dict] | None = None,
           padding: dict | None = None, peer_at_bucket: bool | None = None) -> dict:
    """Return ``{"verdict": promote|rollback|inconclusive|reject, "reasons": [...]}``.

    ``parity``: the candidate's ParityResult dicts, one per production shape; ``fallback``: those
    of TVM's baseline build (what a rollback deploys and the fallback switch runs);
    ``speedup`` holds ``value``, ``ci_low``, ``ci_high`` (baseline/candidate on the gate's statistic),
    None when nothing was measured; ``quality``: one ``QualityResult.to_dict()`` per production
    shape (None or [] when the plan has no quality envelope); ``memory``: the record's memory
    section (``peak_rss_mb``, ``planned_bytes``); ``failures``: the TVMFailure dicts of the
    candidate (PLN500), each with its cause.

    A parity or quality violation, a memory ceiling exceeded, or a speedup below the gate rolls
    back; a confidence interval that straddles the gate while the point estimate passes is
    ``inconclusive`` (not promoted). Either of those deploys the baseline, so when the baseline
    itself fails parity the verdict is ``reject``: nothing is deployed. ``padding``: the bucket's
    PaddingCheck dict (None where the runtime does not pad); when padding a smaller call up to the
    bucket changes its outputs, no build can serve the bucket: ``reject``. ``peer_at_bucket``: whether
    ``envelope.performance.versus_onnxruntime`` is judged here, on ``speedup["vs_onnxruntime"]``
    (default: when its ``over`` is ``each-bucket``; the traffic mix is judged over every bucket:
    :func:`gate_on_mix`).
    """
    reasons = [_failure_reason(f) for f in failures or []]
    failed = [p for p in parity if not p.get("passed")]
    for p in failed:
        reasons.append(f"parity violated at {shape_text(p.get('shape_env'))}: {p.get('reason') or 'outside tolerance'}")
    violated = bool(failed)
    if envelope.quality is not None and not quality and not failures:
        reasons.append("task quality was not evaluated")
        violated = True
    for q in quality or []:
        if not q.get("passed"):
            violated = True
            reasons.append(f"quality violated at {shape_text(q.get('shape_env'))}: {q.get('reason')}")
        else:
            reasons.append(f"quality held at {shape_text(q.get('shape_env'))}: {q.get('reason')}")
    memory_reasons = _memory(envelope, memory or {})
    violated = violated or bool(memory_reasons)
    reasons += memory_reasons
    verdict = _verdict(violated, speedup, envelope.performance, reasons)
    peer = envelope.performance.versus_onnxruntime
    if peer is not None and (peer.over == "each-bucket" if peer_at_bucket is None else peer_at_bucket):
        verdict = _peer_verdict(verdict, speedup, envelope.performance, reasons)
    if padding is not None and not padding.get("passed"):
        reasons.append(f"reject: {padding.get('reason')}; no build serves this bucket")
        return {"verdict": "reject", "reasons": reasons}
    return _deployable(verdict, reasons, fallback)


def overall(buckets: list[dict], shape_text=shape_text) -> tuple[str, list[str]]:
    """The run's verdict and reasons from its buckets' BucketDecision dicts: one bucket's own; else
    ``promote`` when every bucket is promoted, ``partial`` when some are (the others rolled back
    alone, or serve nothing), and otherwise ``reject`` when no bucket has a verified build to
    serve, else ``rollback`` (or ``inconclusive`` when that is all the buckets were)."""
    if len(buckets) == 1:
        return buckets[0]["verdict"], list(buckets[0]["reasons"])
    verdicts = [b["verdict"] for b in buckets]
    reasons = [f"[{shape_text(b['shape_env'])}] {b['verdict']}: {'; '.join(b['reasons'])}" for b in buckets]
    promoted = verdicts.count("promote")
    if promoted == len(verdicts):
        verdict = "promote"
    elif promoted:
        verdict = "partial"
        reasons.append(f"partial: {promoted} of {len(verdicts)} buckets promoted; each other one rolled back alone "
                       "(to its verified baseline) or, without one, refuses its calls")
    elif all(v == "reject" for v in verdicts):
        verdict = "reject"
    else:
        verdict = "rollback" if "rollback" in verdicts or "reject" in verdicts else "inconclusive"
    return verdict, reasons


def _verdict(violated: bool, speedup: dict | None, gate, reasons: list[str]) -> str:
    """promote, rollback or inconclusive from the envelope and the gate; appends the gate's reason."""
    if speedup is None:
        reasons.append("performance was not measured")
        return "rollback"
    value, low = speedup["value"], speedup.get("ci_low")
    met = value >= gate.min_speedup
    interval = (f"95% CI {low:.2f}-{speedup.get('ci_high'):.2f}" if low is not None
                else f"no interval: {speedup['ci_omitted']}" if speedup.get("ci_omitted") else None)
    reasons.append(f"{gate.statistic} speedup {value:.2f}x vs gate {gate.min_speedup:.2f}x "
                   f"({'met' if met else 'not met'}{f'; {interval}' if interval else ''})")
    if violated or not met:
        return "rollback"
    if low is not None and low < gate.min_speedup:
        reasons.append("the confidence interval straddles the gate")
        return "inconclusive"
    reasons.append("parity held at every built shape (calls padded into a bucket: its padding check)")
    return "promote"


def _peer_verdict(verdict: str, speedup: dict | None, gate, reasons: list[str]) -> str:
    """The onnxruntime gate at the bucket's shape: a promotion that does not reach it rolls back, one
    whose interval straddles it is inconclusive; appends the gate's reason (also when the verdict was
    settled before it, as evidence)."""
    peer = gate.versus_onnxruntime
    value = (speedup or {}).get("vs_onnxruntime")
    if value is None:
        reasons.append("onnxruntime gate: onnxruntime was not measured at this bucket (on an RPC farm only TVM "
                       "builds run); not promoted")
        return "rollback" if verdict == "promote" else verdict
    low, high = speedup.get("vs_onnxruntime_ci_low"), speedup.get("vs_onnxruntime_ci_high")
    met = value >= peer.min_speedup
    interval = f"; 95% CI {low:.2f}-{high:.2f}" if low is not None else ""
    reasons.append(f"onnxruntime gate: {gate.statistic} speedup {value:.2f}x over onnxruntime vs gate "
                   f"{peer.min_speedup:.2f}x ({'met' if met else 'not met'}{interval})")
    if verdict != "promote":
        return verdict
    if not met:
        return "rollback"
    if low is not None and low < peer.min_speedup:
        reasons.append("the onnxruntime gate's confidence interval straddles it")
        return "inconclusive"
    return verdict


def gate_on_mix(buckets: list[dict], mix: dict | None, gate,
                fallback: list[list[dict]]) -> tuple[list[dict], str, str]:
    """The onnxruntime gate over the traffic mix (``versus_onnxruntime.over: traffic-mix``), judged
    once for the run: ``buckets`` (BucketDecision dicts) with every promoted one rolled back when the
    gate is not reached, or inconclusive when its interval straddles it; the gate's reason; and what
    it allows (promote, rollback, inconclusive).

    ``mix``: ``{value, ci_low, ci_high}`` (onnxruntime / planctl on the expected latency of a call drawn from
    the mix, planctl serving each bucket's deployed build: planctl.measure.traffic.mix_speedup), or
    ``{missing: why}`` when it could not be measured, which fails the gate. ``fallback``: each
    bucket's baseline parity results, as for :func:`decide` (a rolled-back bucket deploys it)."""
    peer = gate.versus_onnxruntime
    if mix is None or "missing" in mix:
        why = (mix or {}).get("missing", "the traffic mix was not measured")
        reason, verdict = f"onnxruntime gate over the traffic mix: not evaluated ({why}); not promoted", "rollback"
    else:
        value, low, high = mix["value"], mix.get("ci_low"), mix.get("ci_high")
        met = value >= peer.min_speedup
        interval = f"; 95% CI {low:.2f}-{high:.2f}" if low is not None else ""
        reason = (f"onnxruntime gate over the traffic mix: expected-latency speedup {value:.2f}x over onnxruntime "
                  f"vs gate {peer.min_speedup:.2f}x ({'met' if met else 'not met'}{interval})")
        verdict = ("rollback" if not met else "inconclusive" if low is not None and low < peer.min_speedup
                   else "promote")
    out = []
    for bucket, base in zip(buckets, fallback):
        if bucket["verdict"] != "promote" or verdict == "promote":
            out.append(bucket)
            continue
        found = _deployable(verdict, [*bucket["reasons"], reason], base)
        out.append({**bucket, **found, "serves": "baseline" if found["verdict"] != "reject" else None})
    return out, reason, verdict


def _deployable(verdict: str, reasons: list[str], fallback: list[dict]) -> dict:
    """A verdict that deploys the baseline needs a baseline that passed parity at every shape."""
    broken = [p for p in fallback if not p.get("passed")]
    for p in broken:
        reasons.append(f"the baseline build (the fallback) fails parity at {shape_text(p.get('shape_env'))}: "
                       f"{p.get('reason') or 'outside tolerance'}")
    if not broken:
        return {"verdict": verdict, "reasons": reasons}
    if verdict == "promote":
        reasons.append("the fallback switch has no verified build to run: the runtime refuses it for this output")
        return {"verdict": verdict, "reasons": reasons}
    reasons.append(f"reject: not promoted ({verdict}), and the baseline a {verdict} would deploy is not "
                   "verified either; nothing new is deployed (a previously promoted output stays live)")
    return {"verdict": "reject", "reasons": reasons}


def _failure_reason(failure: dict) -> str:
    where = [f"stage {failure.get('stage')}"]
    if failure.get("pass_name"):
        where.append(f"pass {failure['pass_name']}")
    if failure.get("node"):
        where.append(f"ONNX node {failure['node']}")
    cause = (f"technique {failure['technique']} is the cause" if failure.get("technique")
             else "no plan technique is named as the cause (see the bisection)")
    return (f"{failure.get('code', 'PLN500')} TVM failed to make the candidate at {failure.get('shape')} "
            f"({', '.join(where)}): {failure.get('error')}: {failure.get('detail')}; {cause}; "
            f"crash log {Path(failure['log']).name if failure.get('log') else None} in the output folder")


def _memory(envelope, memory: dict) -> list[str]:
    """Reasons the memory ceiling (``envelope.memory``) is exceeded; empty when it holds or is unset."""
    ceiling = getattr(envelope, "memory", None)
    if ceiling is None:
        return []
    out = []
    rss, planned = memory.get("peak_rss_mb"), memory.get("planned_bytes")
    if ceiling.peak_rss_mb is not None and rss is not None and rss > ceiling.peak_rss_mb:
        out.append(f"memory ceiling exceeded: peak RSS {rss:.1f} MiB > {ceiling.peak_rss_mb:g} MiB")
    if ceiling.planned_bytes is not None and planned is not None and planned > ceiling.planned_bytes:
        out.append(f"memory ceiling exceeded: planned {planned:,} bytes > {ceiling.planned_bytes:,} bytes")
    return out
