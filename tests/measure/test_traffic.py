"""Traffic-mix figures (planctl.measure.traffic) and padding within a bucket (planctl.runtime.padding)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from planctl.measure.traffic import summarize, weighted_quantile
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
