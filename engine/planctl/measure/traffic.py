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
