"""Traffic-mix figures (planctl.measure.traffic) and padding within a bucket (planctl.runtime.padding)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from planctl.measure.traffic import mix_speedup, mix_statistic, summarize, weighted_quantile
from planctl.runtime.padding import call_shape, pad_inputs, slice_outputs


def test_expected_latency_and_throughput_are_share_weighted():
    found = summarize([{"share": 0.75, "batch": 1, "samples_ms": [10.0, 10.0]},
                       {"share": 0.25, "batch": 8, "samples_ms": [40.0]}])
    assert math.isclose(found["expected_ms"], 17.5)
    assert math.isclose(found["throughput_per_s"], (0.75 * 1 + 0.25 * 8) / 0.0175)
    assert found["p50_ms"] == 10.0 and found["p99_ms"] == 40.0


def test_a_point_with_many_samples_weighs_its_share_not_its_count():
    assert weighted_quantile([[1.0] * 99, [100.0]], [0.1, 0.9], 0.5) == 100.0
    with pytest.raises(ValueError):
        summarize([{"share": 1.0, "batch": 1, "samples_ms": []}])


def test_a_mix_statistic_is_the_gates_statistic_of_a_call_drawn_from_the_mix():
    points = [{"share": 0.75, "samples_ms": [10.0, 10.0]}, {"share": 0.25, "samples_ms": [40.0]}]
    assert math.isclose(mix_statistic(points, "mean"), 17.5)
    assert mix_statistic(points, "p50") == 10.0 and mix_statistic(points, "p90") == 40.0
    with pytest.raises(ValueError, match="unknown statistic"):
        mix_statistic(points, "p42")


def test_a_mix_speedup_is_reference_over_contender_with_an_interval_around_it():
    rng = np.random.default_rng(1)
    onnxruntime = [{"share": 0.6, "samples_ms": list(rng.normal(10, 0.5, 30))},
                   {"share": 0.4, "samples_ms": list(rng.normal(30, 1.0, 30))}]
    planctl = [{"share": 0.6, "samples_ms": list(rng.normal(20, 0.5, 30))},    # padded: twice the time
               {"share": 0.4, "samples_ms": list(rng.normal(30, 1.0, 30))}]
    found = mix_speedup(onnxruntime, planctl, "mean")
    assert math.isclose(found["value"], mix_statistic(onnxruntime, "mean") / mix_statistic(planctl, "mean"))
    assert 0.6 < found["ci_low"] <= found["value"] <= found["ci_high"] < 0.9
    assert mix_speedup(onnxruntime, planctl, "mean") == found   # deterministic for a seed


def test_padding_repeats_the_last_row_pads_the_sequence_and_slices_back():
    dims = {"batch": [["ids", 0], ["mask", 0]], "seq": [["ids", 1], ["mask", 1]]}
    call = {"ids": np.array([[5, 6, 7]]), "mask": np.array([[1, 1, 0]])}
    assert call_shape(call, dims) == {"batch": 1, "seq": 3}
    padded = pad_inputs(call, {"batch": 2, "seq": 4}, dims, {"ids": 0}, "batch")
    assert padded["ids"].tolist() == [[5, 6, 7, 0], [5, 6, 7, 0]]
    assert padded["mask"].tolist() == [[1, 1, 0, 0], [1, 1, 0, 0]]   # added positions masked out
    (out,) = slice_outputs([np.ones((2, 384))], ["y"], {"y": ["batch", None]}, {"batch": 1, "seq": 3})
    assert out.shape == (1, 384)
    with pytest.raises(ValueError, match="larger than the bucket"):
        pad_inputs(call, {"batch": 1, "seq": 2}, dims, {}, "batch")
    with pytest.raises(ValueError, match="disagree"):
        call_shape({"ids": np.zeros((1, 3)), "mask": np.zeros((1, 4))}, dims)
