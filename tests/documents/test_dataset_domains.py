"""planctl.documents.datasets.domain_problem: the standard-library twin of the runtime's domain
check, which PLN215 applies to a dataset's ``inputs`` rows at check."""
from __future__ import annotations

import pytest

from planctl.documents.datasets import domain_problem

MASK = {"kind": "attention-mask", "min_length": 2}


@pytest.mark.parametrize(("value", "domain", "problem"), [
    ([0, 5, 30521], {"kind": "integer-range", "min": 0, "max": 30521}, None),
    ([[0, 5], [30522, 1]], {"kind": "integer-range", "min": 0, "max": 30521}, "values in [0, 30522], outside"),
    ([0.5, -1.0], {"kind": "float-range", "min": -1.0, "max": 1.0}, None),
    ([0.5, float("nan")], {"kind": "float-range", "min": -1.0, "max": 1.0}, "contains NaN"),
    ([0.5, float("nan")], {"kind": "float-range", "min": -1.0, "max": 1.0, "allow_nan": True}, None),
    ([1, 2], {"kind": "enum", "values": [1, 2, 3]}, None),
    ([1, 4], {"kind": "enum", "values": [1, 2, 3]}, "values outside [1, 2, 3]"),
    ([1, 1, 0], MASK, None),
    ([1, 2, 0], MASK, "values outside [0, 1]"),
    ([[1, 1, 0], [1, 0, 1]], MASK, "row 1 is not right-padded (a 0 before a 1 at position 2)"),
    ([1, 0, 0], MASK, "row 0 keeps 1 position(s), fewer than the plan's attention-mask min_length 2"),
    (["a", "b"], MASK, None),   # not numbers: apply's reader says so, with the dtype
])
def test_domain_problem_says_what_the_runtime_would_refuse(value, domain, problem):
    found = domain_problem("x", value, domain)
    assert (found is None) == (problem is None), found
    assert problem is None or problem in found


def test_a_value_that_is_not_a_number_is_named():
    from planctl.documents.datasets import _inputs_problem

    spec = {"dtype": "int64", "shape": ["batch", "seq"], "domain": None}
    assert _inputs_problem({"ids": [1, "x"]}, {"ids": spec}) == "input 'ids' holds \"x\", not numbers"
    assert _inputs_problem({"ids": []}, {"ids": spec}) == "input 'ids' holds no value, not numbers"
    assert _inputs_problem({"ids": [[1, 2]]}, {"ids": spec}) is None
