"""planctl.lowering.quant_scheme: the numerics of the quantization technique, in numpy."""
from __future__ import annotations

import numpy as np
import pytest

from planctl.lowering.quant_scheme import (QuantScheme, activation_params, calibrated_range, quantize_activation,
                                           quantize_weight)


def weights(k=64, n=48, seed=0):
    return np.random.default_rng(seed).standard_normal((k, n)).astype(np.float32)


def test_symmetric_per_channel_weights_round_to_half_a_step():
    w = weights()
    qw = quantize_weight(w, QuantScheme())
    assert qw.q.dtype == np.int8 and qw.q.min() >= -127 and qw.q.max() <= 127
    assert qw.scale.shape == (1, 48) and not qw.zero.any()
    np.testing.assert_allclose(qw.scale[0], np.abs(w).max(axis=0) / 127, rtol=1e-6)
    assert (np.abs(qw.dequantize() - w) <= qw.scale[0] / 2 + 1e-7).all()


def test_asymmetric_weights_use_the_whole_int8_range_with_a_zero_point():
    w = weights() + 0.7   # mostly positive: a symmetric scale would waste half the range
    qw = quantize_weight(w, QuantScheme(weight_symmetric=False))
    assert qw.q.min() == -128 and qw.q.max() == 127
    assert (np.abs(qw.dequantize() - w) <= qw.scale[0] / 2 + 1e-6).all()
    assert np.abs(qw.dequantize() - w).max() < np.abs(quantize_weight(w, QuantScheme()).dequantize() - w).max()


def test_per_group_scales_cover_each_group_of_input_channels():
    w = weights(k=64)
    w[:16] *= 100   # a group of large weights must not coarsen the others
    qw = quantize_weight(w, QuantScheme(granularity="per-group", group_size=16))
    assert qw.scale.shape == (4, 48)
    error = np.abs(qw.dequantize() - w)
    assert error[16:].max() < np.abs(quantize_weight(w, QuantScheme()).dequantize() - w)[16:].max() / 10


def test_per_tensor_scale_is_one_number():
    qw = quantize_weight(weights(), QuantScheme(granularity="per-tensor"))
    assert np.unique(qw.scale).size == 1


def test_column_sums_are_the_int32_sums_of_the_quantized_weights():
    qw = quantize_weight(weights(), QuantScheme(granularity="per-group", group_size=16))
    sums = qw.column_sums()
    assert sums.dtype == np.int32 and sums.shape == (4, 48)
    np.testing.assert_array_equal(sums[1], qw.q[16:32].astype(np.int64).sum(axis=0))


@pytest.mark.parametrize("levels", [256, 128])
def test_uint8_activations_map_the_row_range_onto_the_levels(levels):
    scheme = QuantScheme(activations="uint8", levels=levels)
    x = np.array([[-1.0, 0.0, 3.0], [0.5, 1.0, 2.0]], np.float32)
    scale, zero = activation_params(x.min(-1, keepdims=True), x.max(-1, keepdims=True), scheme)
    q = quantize_activation(x, scale, zero, scheme)
    assert q[0, 0] == 0 and q[0, 2] == levels - 1          # the ends of the range
    assert zero[1, 0] == 0                                  # an all-positive row: 0.0 is q = 0, exactly
    np.testing.assert_allclose((q - zero) * scale, x, atol=float(scale.max()) / 2 + 1e-7)


def test_int8_activations_are_symmetric_around_half_the_levels():
    scheme = QuantScheme(activations="int8", levels=256)
    x = np.array([[-2.0, 1.0, 0.0]], np.float32)
    scale, zero = activation_params(x.min(-1, keepdims=True), x.max(-1, keepdims=True), scheme)
    assert zero[0, 0] == 128 and scale[0, 0] == pytest.approx(2.0 / 127)
    assert quantize_activation(x, scale, zero, scheme)[0].tolist() == [1, 192, 128]


def test_an_all_zero_row_quantizes_to_its_zero_point_not_nan():
    scheme = QuantScheme(activations="uint8")
    x = np.zeros((1, 8), np.float32)
    scale, zero = activation_params(x.min(-1, keepdims=True), x.max(-1, keepdims=True), scheme)
    assert np.isfinite(scale).all() and (quantize_activation(x, scale, zero, scheme) == zero).all()


def test_percentile_calibration_clips_an_outlier_minmax_keeps_it():
    samples = np.concatenate([np.random.default_rng(0).uniform(-1, 1, 100_000), [500.0]]).astype(np.float32)
    assert calibrated_range(samples, "minmax")[1] == 500.0
    lo, hi = calibrated_range(samples, "percentile")
    assert hi < 1.0 and lo > -1.0


def test_scheme_of_a_plan_technique():
    from pydantic import TypeAdapter

    from planctl.documents.models.plan import Technique

    t = TypeAdapter(Technique).validate_python({
        "technique": "quantization", "precision": {"weights": "int8", "activations": "float32", "kv_cache": "none"},
        "scheme": "asymmetric", "granularity": "per-group", "group_size": 32})
    scheme = QuantScheme.of(t)
    assert scheme.weight_only and not scheme.static and not scheme.weight_symmetric and scheme.group_size == 32
    assert scheme.groups(128) == 4
