"""Latency and throughput over a declared traffic mix (numpy only).

A traffic mix is a list of call shapes with their share of calls (planctl.documents.shapes.
traffic_mix). Given each shape's latency samples for one contender (planctl: the build of the bucket
that serves it, padded up to the bucket; onnxruntime: the unpadded call), the mix's figures are
those of a call drawn at random from the mix:

- ``expected_ms``: the mean, ``sum(share_i * mean_i)`` (linearity of expectation);
- ``p50_ms`` / ``p99_ms``: quantiles of the mixture distribution, each shape's samples weighted by
  ``share_i / n_i`` (the inverse of the weighted empirical CDF: the smallest sample whose
  cumulative weight reaches q; Hyndman & Fan (1996) definition 1, weighted);
- ``throughput_per_s``: items per second, one call at a time: ``sum(share_i * batch_i) /
  sum(share_i * mean_i)`` (items per call over seconds per call, both expected over the mix).

:func:`mix_speedup` compares two contenders on one of these statistics, with a percentile-bootstrap
interval (each point's samples resampled independently, as planctl.measure.compare does per bucket).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def weighted_quantile(samples: Sequence[Sequence[float]], weights: Sequence[float], q: float) -> float:
    """Quantile ``q`` (0..1) of the mixture whose component ``i`` has empirical samples
    ``samples[i]`` and total weight ``weights[i]``. ValueError when there is no sample."""
    values, mass = [], []
    for group, weight in zip(samples, weights):
        if len(group) and weight > 0:
            values.extend(float(v) for v in group)
            mass.extend([weight / len(group)] * len(group))
    if not values:
        raise ValueError("no latency samples in the traffic mix")
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(np.asarray(mass)[order])
    cumulative /= cumulative[-1]
    index = int(np.searchsorted(cumulative, q - 1e-12, side="left"))
    return float(np.asarray(values)[order][min(index, len(values) - 1)])


def summarize(points: Sequence[Mapping]) -> dict[str, float]:
    """The mix figures of one contender from ``points``: dicts with ``share`` (fraction of calls),
    ``batch`` (items per call) and ``samples_ms`` (its latency samples at that point, ms). Shares
    are renormalised over the points given. Returns ``{expected_ms, p50_ms, p99_ms,
    throughput_per_s}``. ValueError when a point has no sample."""
    total = sum(p["share"] for p in points)
    if not points or total <= 0:
        raise ValueError("an empty traffic mix")
    shares = [p["share"] / total for p in points]
    means = []
    for p in points:
        if not len(p["samples_ms"]):
            raise ValueError("a traffic point without latency samples")
        means.append(float(np.mean(p["samples_ms"])))
    expected = sum(s * m for s, m in zip(shares, means))
    items = sum(s * p["batch"] for s, p in zip(shares, points))
    groups = [p["samples_ms"] for p in points]
    return {"expected_ms": expected, "p50_ms": weighted_quantile(groups, shares, 0.50),
            "p99_ms": weighted_quantile(groups, shares, 0.99), "throughput_per_s": items / (expected / 1e3)}


def mix_statistic(points: Sequence[Mapping], statistic: str) -> float:
    """``statistic`` (``mean``, ``p50``, ``p90``, ``p95``, ``p99``) in ms of a call drawn from the mix
    of ``points`` (dicts with ``share`` and ``samples_ms``): the share-weighted mean of the points'
    means, or the mixture's quantile (:func:`weighted_quantile`). ValueError for another statistic or
    a point without samples."""
    total = sum(p["share"] for p in points)
    if not points or total <= 0 or any(not len(p["samples_ms"]) for p in points):
        raise ValueError("a traffic mix needs points with shares and latency samples")
    shares = [p["share"] / total for p in points]
    if statistic == "mean":
        return sum(s * float(np.mean(p["samples_ms"])) for s, p in zip(shares, points))
    if statistic not in ("p50", "p90", "p95", "p99"):
        raise ValueError(f"unknown statistic {statistic!r}")
    return weighted_quantile([p["samples_ms"] for p in points], shares, int(statistic[1:]) / 100)


def mix_speedup(reference: Sequence[Mapping], contender: Sequence[Mapping], statistic: str, *,
                n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict[str, float]:
    """``{value, ci_low, ci_high}``: ``mix_statistic(reference) / mix_statistic(contender)`` (above 1
    the contender is faster over the mix) and its percentile-bootstrap interval (Efron & Tibshirani
    1993, ch. 13), every point's samples resampled with replacement on their own; deterministic for
    a ``seed``. Points as for :func:`mix_statistic`."""
    rng = np.random.default_rng(seed)

    def resampled(points):
        return [{**p, "samples_ms": rng.choice(np.asarray(p["samples_ms"], float), len(p["samples_ms"]))}
                for p in points]

    ratios = [mix_statistic(resampled(reference), statistic) / mix_statistic(resampled(contender), statistic)
              for _ in range(n_boot)]
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(ratios, [100 * alpha, 100 * (1 - alpha)])
    return {"value": mix_statistic(reference, statistic) / mix_statistic(contender, statistic),
            "ci_low": float(low), "ci_high": float(high)}
