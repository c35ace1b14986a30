"""Speedup of a candidate over a baseline and its bootstrap confidence interval.

``speedup = statistic(baseline) / statistic(candidate)``: above 1 the candidate is faster; the plan's
performance gate (``envelope.performance``) compares it with ``min_speedup``.

The interval is the percentile bootstrap (Efron & Tibshirani, *An Introduction to the Bootstrap*,
Chapman & Hall, 1993, ch. 13): resample each contender's samples independently with replacement,
compute the ratio of the statistic on every resample, and take the ``(1 - confidence)/2`` and
``(1 + confidence)/2`` percentiles of those ratios. Baseline and candidate are independent samples
(different builds), hence independent resampling rather than paired.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from planctl.measure.stats import LatencyStats, statistic_of


def speedup(baseline: LatencyStats, candidate: LatencyStats, statistic: str) -> float:
    """``baseline.<statistic> / candidate.<statistic>`` (e.g. ``"p50"``); ValueError for an unknown
    statistic or a candidate statistic that is not positive."""
    if statistic not in ("p50", "p90", "p95", "p99", "mean", "min", "max"):
        raise ValueError(f"unknown statistic {statistic!r}")
    cand = getattr(candidate, statistic)
    if cand <= 0:
        raise ValueError(f"candidate {statistic} is {cand} ms; a speedup needs a positive latency")
    return getattr(baseline, statistic) / cand


def bootstrap_ratio_ci(baseline_samples: Sequence[float], candidate_samples: Sequence[float], statistic: str,
                       n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval ``(low, high)`` of ``statistic(baseline) / statistic(candidate)``.

    Samples in any consistent unit; ``statistic`` as in ``planctl.measure.stats.STATISTICS``;
    deterministic for a given ``seed`` (numpy ``default_rng``). ValueError for empty samples,
    ``n_boot < 1`` or ``confidence`` outside (0, 1).
    """
    base, cand = np.asarray(baseline_samples, float), np.asarray(candidate_samples, float)
    if base.size == 0 or cand.size == 0 or n_boot < 1 or not 0 < confidence < 1:
        raise ValueError("bootstrap needs non-empty samples, n_boot >= 1 and 0 < confidence < 1")
    rng = np.random.default_rng(seed)
    base_stat = statistic_of(base[rng.integers(0, base.size, (n_boot, base.size))], statistic, axis=1)
    cand_stat = statistic_of(cand[rng.integers(0, cand.size, (n_boot, cand.size))], statistic, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = base_stat / cand_stat
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(ratios, [100 * alpha, 100 * (1 - alpha)], method="linear")
    return float(low), float(high)


# Fewer samples than this on either side and the bootstrap has next to nothing to resample: from one
# baseline call (a slow untuned build at a large bucket) every resample is that call, and the
# "interval" shows only the candidate's spread.
MIN_BOOTSTRAP_SAMPLES = 5


def gate_speedup(latency: dict[str, dict], statistic: str, gate: float) -> dict:
    """The performance gate's evidence from ``latency`` (contender -> ``LatencyStats.to_dict()``
    with ``baseline``, ``candidate``, ``onnxruntime``): ``{statistic, gate, value, ci_low, ci_high,
    ci_omitted, vs_onnxruntime, vs_onnxruntime_ci_low, vs_onnxruntime_ci_high}``; ``value`` = baseline /
    candidate on ``statistic``, the interval is
    :func:`bootstrap_ratio_ci` (95%), omitted (``ci_omitted`` says why) when either side has fewer
    than :data:`MIN_BOOTSTRAP_SAMPLES` samples; ``vs_onnxruntime`` = onnxruntime / candidate (None
    when onnxruntime was not measured: on an RPC farm only TVM builds run), with its own interval
    when both sides have enough samples."""
    base, cand, ort = latency["baseline"], latency["candidate"], latency.get("onnxruntime")
    counts = {name: len(latency[name]["samples_ms"]) for name in ("baseline", "candidate")}
    low = high = omitted = None
    if min(counts.values()) >= MIN_BOOTSTRAP_SAMPLES:
        low, high = bootstrap_ratio_ci(base["samples_ms"], cand["samples_ms"], statistic)
    else:
        omitted = ", ".join(f"the {name} ran {n} time{'s' if n != 1 else ''}"
                            for name, n in counts.items() if n < MIN_BOOTSTRAP_SAMPLES)
    ort_low = ort_high = None
    if ort and min(len(ort["samples_ms"]), counts["candidate"]) >= MIN_BOOTSTRAP_SAMPLES:
        ort_low, ort_high = bootstrap_ratio_ci(ort["samples_ms"], cand["samples_ms"], statistic)
    return {"statistic": statistic, "gate": gate, "value": base[statistic] / cand[statistic],
            "ci_low": low, "ci_high": high, "ci_omitted": omitted,
            "vs_onnxruntime": ort[statistic] / cand[statistic] if ort else None,
            "vs_onnxruntime_ci_low": ort_low, "vs_onnxruntime_ci_high": ort_high}


NOISY_CV = 0.2   # stdev / mean above which a latency distribution is called noisy


SAME_WITHIN = 0.03   # a ratio this close to 1 is called "about the same": below a quiet host's p50 spread


def latency_warnings(latency: dict[str, dict], statistic: str) -> list[str]:
    """Say when the figures need a second look: a noisy machine (coefficient of variation above
    :data:`NOISY_CV`), or a candidate slower than the independent runtime (the gate compares
    against TVM's untuned build, not onnxruntime)."""
    notes = []
    for name in ("baseline", "candidate"):
        s = latency[name]
        if s["mean"] and s["stdev"] / s["mean"] > NOISY_CV:
            notes.append(f"{name} latency is noisy (stdev {s['stdev']:.3g} ms = {s['stdev'] / s['mean']:.0%} of "
                         "the mean): another process may have been using the cores; rerun on an idle machine")
    if "onnxruntime" in latency:
        mine, theirs = latency["candidate"][statistic], latency["onnxruntime"][statistic]
        if mine and theirs and theirs / mine < 1 - SAME_WITHIN:   # the summary's speedup, below "about the same"
            notes.append(f"the candidate's {statistic} ({mine:.2f} ms) is {mine / theirs - 1:.0%} slower than "
                         f"onnxruntime's ({theirs:.2f} ms) on the same inputs")
    return notes
