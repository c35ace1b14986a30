"""planctl.measure.compare and memory: speedup, percentile bootstrap interval, peak RSS."""
from __future__ import annotations

import numpy as np
import pytest

from planctl.measure import LatencyStats, bootstrap_ratio_ci, peak_rss_mb, speedup

RNG = np.random.default_rng(0)
BASE = 100 + RNG.standard_normal(200)
CAND = 20 + 0.5 * RNG.standard_normal(200)


def test_speedup_is_baseline_over_candidate():
    base, cand = LatencyStats.from_samples([10, 20, 30]), LatencyStats.from_samples([5, 5, 10])
    assert speedup(base, cand, "p50") == 4.0 and speedup(base, cand, "mean") == pytest.approx(3.0)
    with pytest.raises(ValueError):
        speedup(base, cand, "p42.5")


def test_bootstrap_interval_brackets_the_point_estimate_and_is_seeded():
    low, high = bootstrap_ratio_ci(BASE, CAND, "p50")
    point = np.median(BASE) / np.median(CAND)
    assert low <= point <= high and 4.5 < low < high < 5.5
    assert bootstrap_ratio_ci(BASE, CAND, "p50", seed=7) == bootstrap_ratio_ci(BASE, CAND, "p50", seed=7)


def test_wider_confidence_gives_a_wider_interval():
    l90, h90 = bootstrap_ratio_ci(BASE, CAND, "mean", confidence=0.90)
    l99, h99 = bootstrap_ratio_ci(BASE, CAND, "mean", confidence=0.99)
    assert l99 <= l90 <= h90 <= h99


def test_identical_constant_samples_give_a_point_interval():
    assert bootstrap_ratio_ci([2.0] * 5, [1.0] * 5, "p99", n_boot=50) == (2.0, 2.0)


def test_the_gate_gives_no_interval_for_a_baseline_that_ran_once():
    from planctl.measure.compare import gate_speedup

    def latency(baseline: list[float]) -> dict:
        sides = {"baseline": baseline, "candidate": list(CAND)}
        return {name: {**LatencyStats.from_samples(s).to_dict(), "samples_ms": s} for name, s in sides.items()}

    once = gate_speedup(latency([86271.4]), "p50", 1.5)
    assert once["ci_low"] is None and once["ci_high"] is None and once["ci_omitted"] == "the baseline ran 1 time"
    assert once["value"] == pytest.approx(86271.4 / np.median(CAND))
    enough = gate_speedup(latency(list(BASE)), "p50", 1.5)
    assert enough["ci_omitted"] is None and enough["ci_low"] <= enough["value"] <= enough["ci_high"]


@pytest.mark.parametrize("kwargs", [{"baseline_samples": []}, {"n_boot": 0}, {"confidence": 1.0}])
def test_invalid_bootstrap_arguments(kwargs):
    args = {"baseline_samples": BASE, "candidate_samples": CAND, "statistic": "p50"} | kwargs
    with pytest.raises(ValueError):
        bootstrap_ratio_ci(**args)


def test_peak_rss_is_positive_and_does_not_decrease():
    first = peak_rss_mb()
    assert first > 0 and peak_rss_mb() >= first


def test_the_slower_than_onnxruntime_note_keeps_the_summarys_about_the_same_margin():
    """Within 3% the summary says "about the same"; the note says so only past it, with the margin."""
    from planctl.measure.compare import latency_warnings

    def latency(candidate: float, onnxruntime: float) -> dict:
        return {name: {"p50": v, "mean": v, "stdev": 0.0}
                for name, v in (("baseline", 100.0), ("candidate", candidate), ("onnxruntime", onnxruntime))}

    assert latency_warnings(latency(926.34, 909.53), "p50") == []
    [note] = latency_warnings(latency(12.0, 10.0), "p50")
    assert "is 20% slower than onnxruntime's (10.00 ms)" in note
