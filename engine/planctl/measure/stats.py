"""Latency distribution statistics (milliseconds).

Percentiles use ``numpy.percentile(method="linear")``, Hyndman & Fan (1996) definition 7 (the numpy
and R default): linear interpolation between the closest ranks, so p50 of an even-sized sample is the
mean of the two middle values. ``stdev`` is the sample standard deviation (``ddof=1``; 0.0 for one
sample). Throughput assumes calls run one after another: ``batch_size / mean`` (items per second).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

STATISTICS = ("p50", "p90", "p95", "p99", "mean", "min", "max")


def statistic_of(samples_ms: Sequence[float] | np.ndarray, statistic: str, axis: int | None = None) -> Any:
    """One named statistic (``STATISTICS``) of samples in ms; ``axis`` as in numpy. ValueError otherwise."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if statistic.startswith("p") and statistic[1:].isdigit():
        return np.percentile(a, float(statistic[1:]), axis=axis, method="linear")
    if statistic in ("mean", "min", "max"):
        return getattr(np, statistic)(a, axis=axis)
    raise ValueError(f"unknown statistic {statistic!r}; expected one of {', '.join(STATISTICS)}")


@dataclass(frozen=True)
class LatencyStats:
    """Latency of one contender: raw samples and their summary, all in milliseconds.

    ``warmup``: calls run before sampling (not in ``samples_ms``); ``interleaved``: sampled round-robin
    with the other contenders; ``stopped_early``: ``max_seconds`` ended sampling before ``repeats``;
    ``batch_size``: items per call, for ``throughput_per_s``.
    """

    samples_ms: tuple[float, ...]
    p50: float
    p90: float
    p95: float
    p99: float
    mean: float
    stdev: float
    min: float
    max: float
    n: int
    batch_size: int = 1
    warmup: int = 0
    interleaved: bool = False
    stopped_early: bool = False

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float], *, batch_size: int = 1, warmup: int = 0,
                     interleaved: bool = False, stopped_early: bool = False) -> "LatencyStats":
        """Summarize ``samples_ms`` (at least one sample, else ValueError)."""
        a = np.asarray(samples_ms, dtype=np.float64)
        if a.size == 0:
            raise ValueError("no latency samples")
        summary = {s: float(statistic_of(a, s)) for s in STATISTICS}
        stdev = float(a.std(ddof=1)) if a.size > 1 else 0.0
        return cls(tuple(float(x) for x in a), stdev=stdev, n=int(a.size), batch_size=batch_size,
                   warmup=warmup, interleaved=interleaved, stopped_early=stopped_early, **summary)

    @property
    def throughput_per_s(self) -> float:
        """Items per second at one call at a time: ``batch_size * 1000 / mean_ms``."""
        return self.batch_size * 1000.0 / self.mean if self.mean > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: summary fields, ``throughput_per_s`` (None if not finite) and ``samples_ms``."""
        d = {k: getattr(self, k) for k in ("p50", "p90", "p95", "p99", "mean", "stdev", "min", "max", "n",
                                           "batch_size", "warmup", "interleaved", "stopped_early")}
        tput = self.throughput_per_s
        return d | {"throughput_per_s": tput if math.isfinite(tput) else None,
                    "samples_ms": list(self.samples_ms)}
