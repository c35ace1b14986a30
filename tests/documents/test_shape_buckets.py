"""Traffic shares and shape buckets (planctl.documents.shapes, PLN122): no TVM."""
from __future__ import annotations

import math

import pytest
from types import SimpleNamespace as NS

from planctl.documents.semantics import _shares
from planctl.documents.shapes import bucket_for, choose_buckets, dim_traffic, expected_work, traffic_mix


def _plan(batch_values, seq_values, most=4):
    def rng(values):
        numbers = [v["value"] if isinstance(v, dict) else v for v in values]
        return NS(min=min(numbers), opt=min(numbers), max=max(numbers), values=values)
    return NS(workload=NS(production_shapes={"batch": rng(batch_values), "seq": rng(seq_values)},
                          buckets=NS(max=most)))


def test_shares_are_renormalised_and_missing_shares_count_equal():
    found = dim_traffic(NS(min=1, opt=1, max=4, values=[{"value": 1, "share": 0.3}, {"value": 4, "share": 0.6}]))
    assert [v for v, _ in found] == [1, 4] and [s for _, s in found] == pytest.approx([1 / 3, 2 / 3])
    assert dim_traffic(NS(min=1, opt=2, max=4, values=[1, 4])) == [(1, 0.5), (4, 0.5)]


def test_the_mix_is_the_product_of_independent_dims():
    mix = traffic_mix(_plan([{"value": 1, "share": 0.3}, {"value": 4, "share": 0.7}],
                            [{"value": 4, "share": 0.75}, {"value": 8, "share": 0.25}]))
    assert [p.shape_env for p in mix] == [{"batch": 1, "seq": 4}, {"batch": 1, "seq": 8},
                                          {"batch": 4, "seq": 4}, {"batch": 4, "seq": 8}]
    assert math.isclose(sum(p.share for p in mix), 1.0) and math.isclose(mix[2].share, 0.525)


def test_buckets_minimise_expected_padded_work_and_always_hold_the_largest_shape():
    plan = _plan([{"value": 1, "share": 0.3}, {"value": 4, "share": 0.7}],
                 [{"value": 4, "share": 0.75}, {"value": 8, "share": 0.25}], most=2)
    buckets = choose_buckets(plan)
    assert buckets == [{"batch": 4, "seq": 4}, {"batch": 4, "seq": 8}]
    assert expected_work(buckets, traffic_mix(plan)) == 20.0   # 0.75 x 16 + 0.25 x 32
    assert expected_work(buckets, traffic_mix(plan)) < expected_work([{"batch": 4, "seq": 8}], traffic_mix(plan))


def test_a_call_goes_to_the_smallest_bucket_that_fits_and_none_above_every_bucket():
    buckets = [{"batch": 8, "seq": 16}, {"batch": 32, "seq": 16}, {"batch": 8, "seq": 128}, {"batch": 32, "seq": 128}]
    assert bucket_for({"batch": 3, "seq": 12}, buckets) == {"batch": 8, "seq": 16}
    assert bucket_for({"batch": 9, "seq": 12}, buckets) == {"batch": 32, "seq": 16}
    assert bucket_for({"batch": 2, "seq": 17}, buckets) == {"batch": 8, "seq": 128}
    assert bucket_for({"batch": 33, "seq": 1}, buckets) is None


def test_pln122_shares_on_some_values_only_or_not_adding_up():
    partial = list(_shares("batch", "/spec/workload/production_shapes/batch", [{"value": 1, "share": 0.5}, 4]))
    assert [f[0] for f in partial] == ["PLN122"] and "value 4" in partial[0][2]
    off = list(_shares("batch", "/x", [{"value": 1, "share": 0.5}, {"value": 4, "share": 0.2}]))
    assert off and "add up to 0.7" in off[0][2]
    assert not list(_shares("batch", "/x", [{"value": 1, "share": 0.33}, {"value": 2, "share": 0.33},
                                             {"value": 4, "share": 0.33}]))   # rounded dashboard figures
    twice = list(_shares("batch", "/x", [1, 1]))
    assert twice and "listed twice" in twice[0][2]


def test_pln122_leaves_malformed_values_to_the_schema():
    """`values: [[]]` or a mapping as a value is the schema's finding; the share check must not
    crash on it (found by the differential test)."""
    assert list(_shares("batch", "/x", [[]])) == []
    assert list(_shares("batch", "/x", [{"value": {"a": 1}}, {"value": [2]}])) == []
