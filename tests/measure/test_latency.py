"""planctl.measure.latency and stats: interleaving, per-contender repeats, max_seconds, statistics."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from planctl.measure import LatencyStats, measure_latency


def _recorder(log, name, sleep_s=0.0):
    def call():
        log.append(name)
        if sleep_s:
            time.sleep(sleep_s)
    return call


def test_interleaves_round_robin_after_warmup():
    log = []
    stats = measure_latency({"a": _recorder(log, "a"), "b": _recorder(log, "b")}, warmup=2, repeats=3)
    assert log == ["a", "a", "b", "b"] + ["a", "b"] * 3
    assert stats["a"].n == stats["b"].n == 3 and stats["a"].interleaved and stats["a"].warmup == 2


def test_sequential_when_not_interleaved():
    log = []
    measure_latency({"a": _recorder(log, "a"), "b": _recorder(log, "b")}, warmup=0, repeats=2, interleave=False)
    assert log == ["a", "a", "b", "b"]


def test_per_contender_repeats_and_warmup():
    log = []
    stats = measure_latency({"baseline": _recorder(log, "baseline"), "candidate": _recorder(log, "candidate")},
                            warmup={"baseline": 1, "candidate": 0}, repeats={"baseline": 2, "candidate": 5})
    assert log == ["baseline"] + ["baseline", "candidate"] * 2 + ["candidate"] * 3
    assert (stats["baseline"].n, stats["candidate"].n) == (2, 5)


def test_max_seconds_stops_early_but_keeps_three_samples():
    stats = measure_latency({"slow": _recorder([], "slow", 0.002), "fast": _recorder([], "fast")},
                            warmup=0, repeats=50, max_seconds={"slow": 0.0001, "fast": None})
    assert stats["slow"].n == 3 and stats["slow"].stopped_early
    assert stats["fast"].n == 50 and not stats["fast"].stopped_early


def test_invalid_counts_are_rejected():
    with pytest.raises(ValueError):
        measure_latency({"a": lambda: None}, warmup=0, repeats=0)


def test_stats_order_and_json():
    stats = measure_latency({"a": lambda: sum(range(200))}, warmup=1, repeats=20, batch_size=4)["a"]
    assert stats.min <= stats.p50 <= stats.p90 <= stats.p95 <= stats.p99 <= stats.max
    assert stats.min <= stats.mean <= stats.max and stats.stdev >= 0 and len(stats.samples_ms) == 20
    d = json.loads(json.dumps(stats.to_dict(), allow_nan=False))
    assert d["n"] == 20 and d["batch_size"] == 4 and len(d["samples_ms"]) == 20


def test_statistics_of_known_samples():
    s = LatencyStats.from_samples([4.0, 1.0, 3.0, 2.0], batch_size=2)
    assert s.p50 == 2.5                       # linear interpolation between the middle ranks
    assert s.p90 == pytest.approx(3.7)        # rank 0.9 * 3 = 2.7 -> 3 + 0.7 * (4 - 3)
    assert (s.min, s.max, s.mean) == (1.0, 4.0, 2.5)
    assert s.stdev == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert s.throughput_per_s == pytest.approx(2 * 1000 / 2.5)
    assert LatencyStats.from_samples([5.0]).stdev == 0.0
    with pytest.raises(ValueError):
        LatencyStats.from_samples([])
