"""The promotion decision: parity first, then the performance gate with its confidence interval."""
from __future__ import annotations


def decide(parity: list[dict], speedup: dict | None, envelope) -> dict:
    """Return ``{"verdict": promote|rollback|inconclusive, "reasons": [...]}``.

    ``speedup`` holds ``value``, ``ci_low``, ``ci_high`` (baseline/candidate on the gate's statistic).
    Parity failure or a speedup below the gate rolls back; a confidence interval that straddles
    the gate while the point estimate passes is ``inconclusive`` (not promoted).
    """
    reasons = []
    failed = [p for p in parity if not p.get("passed")]
    for p in failed:
        reasons.append(f"parity violated at {p.get('shape_env')}: {p.get('reason') or 'outside tolerance'}")
    gate = envelope.performance
    if speedup is None:
        reasons.append("performance was not measured")
        return {"verdict": "rollback", "reasons": reasons}
    value, low = speedup["value"], speedup.get("ci_low")
    met = value >= gate.min_speedup
    reasons.append(f"{gate.statistic} speedup {value:.2f}x vs gate {gate.min_speedup:.2f}x "
                   f"({'met' if met else 'not met'}; 95% CI {low:.2f}-{speedup.get('ci_high'):.2f})"
                   if low is not None else f"{gate.statistic} speedup {value:.2f}x vs gate {gate.min_speedup:.2f}x")
    if failed or not met:
        return {"verdict": "rollback", "reasons": reasons}
    if low is not None and low < gate.min_speedup:
        return {"verdict": "inconclusive", "reasons": reasons + ["the confidence interval straddles the gate"]}
    return {"verdict": "promote", "reasons": reasons + ["parity held at every production shape"]}
