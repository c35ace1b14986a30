"""planctl.verify.strategies: shapes from production_shapes, values from each input's domain."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planctl.errors import VerificationError
from planctl.verify.strategies import MAX_SHAPE_PRODUCT, example_inputs, inputs_strategy, production_shape_envs

FAST = settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _dim(lo, opt, hi, values=()):
    return {"min": lo, "opt": opt, "max": hi, "values": list(values)}


def _floats(name, dtype, lo, hi, shape=(8,), **extra):
    return {"name": name, "dtype": dtype, "shape": list(shape),
            "domain": {"kind": "float-range", "min": lo, "max": hi, **extra}}


def test_one_dim_envs_are_the_distinct_production_points(make_spec):
    spec = make_spec(production_shapes={"batch": _dim(1, 4, 16, [4, 8])})
    assert production_shape_envs(spec) == [{"batch": b} for b in (1, 4, 8, 16)]


def test_no_symbolic_dims_is_one_static_shape(make_spec):
    spec = make_spec(production_shapes={}, inputs=[_floats("x", "float32", -1, 1)])
    assert production_shape_envs(spec) == [{}]


def test_two_small_dims_give_the_product(make_spec):
    spec = make_spec(production_shapes={"batch": _dim(1, 2, 2), "seq": _dim(8, 16, 32)})
    envs = production_shape_envs(spec)
    assert len(envs) == 6 and {"batch": 1, "seq": 32} in envs


def test_many_points_fall_back_to_one_factor_at_a_time(make_spec):
    spec = make_spec(production_shapes={"batch": _dim(1, 4, 64, [2, 8, 16]),
                                        "seq": _dim(8, 128, 512, [32, 256])})
    envs = production_shape_envs(spec)
    assert 6 * 5 > MAX_SHAPE_PRODUCT and len(envs) < 6 * 5
    for env in ({"batch": 1, "seq": 8}, {"batch": 64, "seq": 512}, {"batch": 16, "seq": 128},
                {"batch": 4, "seq": 32}):
        assert env in envs
    assert len({tuple(sorted(e.items())) for e in envs}) == len(envs)


@FAST
@given(data=st.data())
def test_pinned_shape_and_domains(make_spec, dims, data):
    inputs = data.draw(inputs_strategy(make_spec(), {"batch": 2}))
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    assert ids.shape == mask.shape == (2, dims["seq"]) and ids.dtype == mask.dtype == np.int64
    assert ids.min() >= 0 and ids.max() <= dims["vocab"] - 1
    lengths = mask.sum(axis=1)
    assert (lengths >= 1).all()
    # right padding: each row is `length` ones then zeros
    assert all((row == (np.arange(dims["seq"]) < n)).all() for row, n in zip(mask, lengths))


@FAST
@given(data=st.data())
def test_unpinned_dim_is_shared_and_drawn_from_the_range(make_spec, data):
    inputs = data.draw(inputs_strategy(make_spec(production_shapes={"batch": _dim(1, 2, 3)})))
    assert inputs["input_ids"].shape[0] == inputs["attention_mask"].shape[0]
    assert inputs["input_ids"].shape[0] in (1, 2, 3)


@FAST
@given(data=st.data())
def test_float_range_excludes_nan_inf_subnormal_and_enum_values(make_spec, data):
    spec = make_spec(production_shapes={}, inputs=[
        _floats("x", "float32", -0.1, 3.0, shape=(64,)), _floats("h", "float16", -0.1, 0.1),
        {"name": "e", "dtype": "int32", "shape": [3], "domain": {"kind": "enum", "values": [1, 5, 7]}}])
    inputs = data.draw(inputs_strategy(spec))
    for name in ("x", "h"):
        a = inputs[name]
        assert np.isfinite(a).all() and (a >= a.dtype.type(-0.1)).all()
        assert not ((a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)).any()
    assert inputs["x"].dtype == np.float32 and inputs["h"].dtype == np.float16
    assert set(inputs["e"].tolist()) <= {1, 5, 7} and inputs["e"].dtype == np.int32


@FAST
@given(data=st.data())
def test_float_range_allows_nan_when_declared(make_spec, data):
    spec = make_spec(production_shapes={}, inputs=[_floats("x", "float32", 0, 1, shape=(16,), allow_nan=True)])
    x = data.draw(inputs_strategy(spec))["x"]
    assert (np.isnan(x) | ((x >= 0) & (x <= 1))).all()


def test_missing_dim_is_a_verification_error(make_spec):
    with pytest.raises(VerificationError, match="batch"):
        inputs_strategy(make_spec(production_shapes={}))


def test_dtype_without_numpy_equivalent_is_a_verification_error(make_spec):
    spec = make_spec(production_shapes={}, inputs=[_floats("x", "bfloat16", 0, 1)])
    with pytest.raises(VerificationError, match="bfloat16"):
        inputs_strategy(spec)


def test_mask_longer_than_sequence_is_a_verification_error(make_spec, dims):
    spec = make_spec(inputs=[{"name": "attention_mask", "dtype": "int64", "shape": ["batch", dims["seq"]],
                              "domain": {"kind": "attention-mask", "min_length": dims["seq"] + 1}}])
    with pytest.raises(VerificationError, match="min_length"):
        inputs_strategy(spec, {"batch": 1})


def test_enum_value_not_representable_is_a_verification_error(make_spec):
    spec = make_spec(production_shapes={}, inputs=[
        {"name": "e", "dtype": "int64", "shape": [2], "domain": {"kind": "enum", "values": [0.5]}}])
    with pytest.raises(VerificationError, match="enum"):
        inputs_strategy(spec)


def test_example_inputs_are_deterministic_and_accept_the_whole_plan(make_spec):
    class Plan:
        spec = make_spec()
    a, b = example_inputs(Plan(), {"batch": 2}, seed=1), example_inputs(Plan(), {"batch": 2}, seed=1)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert a["input_ids"].shape == (2, 4) and a["input_ids"].any()   # not the all-zero simplest example


def test_corners_of_every_domain(make_spec):
    from planctl.verify.corners import corner_examples

    spec = make_spec(production_shapes={}, inputs=[
        {"name": "ids", "dtype": "int64", "shape": [3, 4], "domain": {"kind": "integer-range", "min": 0, "max": 9}},
        {"name": "mask", "dtype": "int64", "shape": [3, 4], "domain": {"kind": "attention-mask", "min_length": 2}},
        _floats("x", "float32", -2.5, 7.0, shape=(3, 4)),
        {"name": "e", "dtype": "float32", "shape": [3, 4], "domain": {"kind": "enum", "values": [1, 5, 3]}}])
    corners = corner_examples(spec, {})
    by_kind = dict(zip(("min", "max", "near-min", "near-max", "equal-rows", "large-rows", "large-random-rows"),
                       corners))
    assert len(corners) == 7
    assert (by_kind["min"]["ids"] == 0).all() and (by_kind["max"]["ids"] == 9).all()
    assert (by_kind["min"]["x"] == np.float32(-2.5)).all() and (by_kind["max"]["x"] == np.float32(7.0)).all()
    assert (by_kind["near-min"]["x"] > -2.5).all() and (by_kind["near-min"]["x"] == np.nextafter(
        np.float32(-2.5), np.float32(7.0))).all()
    assert (by_kind["near-max"]["ids"] == 8).all() and (by_kind["near-max"]["e"] == 3).all()
    assert (by_kind["min"]["mask"].sum(axis=1) == 2).all() and (by_kind["max"]["mask"] == 1).all()
    rows = by_kind["equal-rows"]["x"]
    assert all(len(set(row.tolist())) == 1 for row in rows) and {rows[0, 0], rows[1, 0]} == {np.float32(7.0),
                                                                                            np.float32(-2.5)}
    large = by_kind["large-rows"]["x"]
    assert set(large.ravel().tolist()) == {-2.5, 7.0} and (large[:, :-1] != large[:, 1:]).all()
    for example in corners:   # every corner lies inside its domain, at the input's dtype and shape
        assert example["ids"].dtype == np.int64 and example["x"].dtype == np.float32
        assert example["x"].shape == (3, 4) and -2.5 <= example["x"].min() and example["x"].max() <= 7.0
        assert set(np.unique(example["e"]).tolist()) <= {1.0, 3.0, 5.0}
        lengths = example["mask"].sum(axis=1)
        assert (lengths >= 2).all() and (example["mask"][:, :2] == 1).all()


def test_corners_leave_out_duplicates_of_a_one_point_domain(make_spec):
    from planctl.verify.corners import corner_examples

    spec = make_spec(production_shapes={}, inputs=[_floats("x", "float32", 1.0, 1.0, shape=(2,))])
    assert [c["x"].tolist() for c in corner_examples(spec, {})] == [[1.0, 1.0]]
