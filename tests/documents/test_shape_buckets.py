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


def test_padded_work_by_max_says_what_each_more_bucket_buys_and_stops_at_the_grid():
    """2 buckets leave 20 elements per call; a third (batch=1, seq=8: both batch-1 points stop padding
    to batch 4) 16.4; a fourth, the whole grid, the exact work; the grid has 4 points, so no fifth."""
    from planctl.documents.shapes import padded_work_by_max, padded_work_text

    plan = _plan([{"value": 1, "share": 0.3}, {"value": 4, "share": 0.7}],
                 [{"value": 4, "share": 0.75}, {"value": 8, "share": 0.25}], most=2)
    found = padded_work_by_max(plan)
    assert [f["max"] for f in found] == [2, 3, 4]
    exact = 0.225 * 4 + 0.075 * 8 + 0.525 * 16 + 0.175 * 32
    assert [f["expected_work"] for f in found] == pytest.approx([20.0, 20.0 - 0.225 * 8 - 0.075 * 24, exact])
    assert found[1]["buckets"] == [{"batch": 1, "seq": 8}, {"batch": 4, "seq": 4}, {"batch": 4, "seq": 8}]
    text = padded_work_text(found)
    assert text.startswith("20 padded elements (batch x seq) per call at buckets.max 2; against that, ")
    assert "max 3: 16 (-18%; +1x8); max 4: 15 (-23%; +1x4); each bucket is one more build" in text
    assert padded_work_text(found, build_mb=90.4).endswith("ship and load, ~90 MB each")
    assert padded_work_by_max(_plan([1], [4])) == [{"max": 4, "buckets": [{"batch": 1, "seq": 4}], "expected_work": 4.0}]


def test_planctl_plan_says_what_a_higher_buckets_max_buys_for_the_example_plan():
    """The example plan's 6 buckets leave 330 padded elements per call; `planctl plan` says what 7, 8
    and 9 would leave, and which buckets they add (nothing is said for a grid that is all buckets)."""
    from pathlib import Path

    from planctl.cli.plan import _padded_work_lines
    from planctl.documents.load import load_plan
    from planctl.documents.shapes import padded_work_by_max

    plan = load_plan(Path(__file__).resolve().parents[2] / "plans" / "minilm-embed.yaml").model.spec
    [line] = _padded_work_lines(padded_work_by_max(plan))
    assert line.startswith("  expected padded work over the traffic mix: 330 padded elements (batch x seq) per call "
                           "at buckets.max 6; against that,")
    assert "max 7: 304 (-8%; +1x32, +8x64, -1x64); max 8: 283 (-14%; +32x64)" in line
    assert _padded_work_lines(padded_work_by_max(_plan([1], [4]))) == []
