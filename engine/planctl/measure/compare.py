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
