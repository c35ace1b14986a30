"""planctl.apply.sensitivity: the smallest set of quantized operators to keep float, found by
measured sensitivity and bisection (a synthetic metric here: each operator costs a fixed amount)."""
from __future__ import annotations

import pytest

from planctl.apply.sensitivity import search

COST = {"q": 0.0002, "k": 0.00001, "v": 0.0009, "ffn_up": 0.00002, "ffn_down": 0.0006, "out": 0.00001}


def score(quantized):
    return 1.0 - sum(COST[name] for name in quantized)


def test_finds_the_most_sensitive_operators_and_nothing_more():
    result = search(list(COST), score, lambda value: value >= 0.999, metric="cosine-similarity", measured=None)
    assert result.keep_float == ["v"]          # 1 - 0.00124 + 0.0009 = 0.99966 >= 0.999
    assert result.passed and result.value == pytest.approx(score([n for n in COST if n != "v"]))
    assert [row["name"] for row in result.per_op][:3] == ["v", "ffn_down", "q"]
    assert len(result.probes) <= 1 + 3 + 1     # every-op probe, ~log2(6) bisection steps, one drop attempt


def test_interacting_operators_need_a_larger_set():
    result = search(list(COST), score, lambda value: value >= 0.9996, metric="cosine-similarity", measured=None)
    assert sorted(result.keep_float) == ["ffn_down", "v"]


def test_the_simulation_gap_to_the_measured_value_is_a_margin():
    # simulated 0.99876 for all quantized but measured 0.99826: every probe must clear 0.999 + 0.0005
    result = search(list(COST), score, lambda value: value >= 0.999, metric="cosine-similarity",
                    measured=score(COST) - 0.0005)
    assert result.margin == pytest.approx(0.0005)
    assert sorted(result.keep_float) == ["ffn_down", "v"]


def test_nothing_to_keep_when_the_simulation_already_meets_the_goal():
    result = search(list(COST), score, lambda value: value >= 0.99, metric="cosine-similarity", measured=None)
    assert result.keep_float == [] and result.passed and "not explained by quantization" in result.note


def test_no_set_when_even_all_float_misses_the_goal():
    result = search(list(COST), score, lambda value: value >= 1.5, metric="cosine-similarity", measured=None)
    assert result.keep_float == [] and not result.passed and "not the cause" in result.note
