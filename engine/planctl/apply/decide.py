"""The promotion decision: the envelope first (parity, task quality, memory ceiling), then the
performance gate with its confidence interval."""
from __future__ import annotations

from planctl.documents.shapes import shape_text


def decide(parity: list[dict], speedup: dict | None, envelope, quality: list[dict] | None = None,
           memory: dict | None = None) -> dict:
    """Return ``{"verdict": promote|rollback|inconclusive, "reasons": [...]}``.

    ``speedup`` holds ``value``, ``ci_low``, ``ci_high`` (baseline/candidate on the gate's statistic);
    ``quality``: one ``QualityResult.to_dict()`` per production shape (None or [] when the plan has
    no quality envelope); ``memory``: the record's memory section (``peak_rss_mb``, ``planned_bytes``).
    A parity or quality violation, a memory ceiling exceeded, or a speedup below the gate rolls
    back; a confidence interval that straddles the gate while the point estimate passes is
    ``inconclusive`` (not promoted).
    """
    reasons = []
    failed = [p for p in parity if not p.get("passed")]
    for p in failed:
        reasons.append(f"parity violated at {shape_text(p.get('shape_env'))}: {p.get('reason') or 'outside tolerance'}")
    violated = bool(failed)
    if envelope.quality is not None and not quality:
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
    gate = envelope.performance
    if speedup is None:
        reasons.append("performance was not measured")
        return {"verdict": "rollback", "reasons": reasons}
    value, low = speedup["value"], speedup.get("ci_low")
    met = value >= gate.min_speedup
    reasons.append(f"{gate.statistic} speedup {value:.2f}x vs gate {gate.min_speedup:.2f}x "
                   f"({'met' if met else 'not met'}; 95% CI {low:.2f}-{speedup.get('ci_high'):.2f})"
                   if low is not None else f"{gate.statistic} speedup {value:.2f}x vs gate {gate.min_speedup:.2f}x")
    if violated or not met:
        return {"verdict": "rollback", "reasons": reasons}
    if low is not None and low < gate.min_speedup:
        return {"verdict": "inconclusive", "reasons": reasons + ["the confidence interval straddles the gate"]}
    return {"verdict": "promote", "reasons": reasons + ["parity held at every production shape"]}


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
