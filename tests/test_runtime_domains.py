"""planctl.runtime refuses a call whose values leave the plan's domain (the compiled kernels do not
bounds-check), with the consecutive-integer fast path giving the same answers as np.isin."""
from __future__ import annotations

import numpy as np
import pytest

from planctl.runtime.load import _all_in, _check_domain


@pytest.mark.parametrize("allowed", [[0, 1], [1, 0], [0, 2, 5], [3], [-1, 0, 1]])
def test_membership_matches_isin(allowed):
    rng = np.random.default_rng(0)
    for dtype in ("int64", "int32", "uint8", "float32"):
        for _ in range(20):
            value = rng.integers(0, 6, size=(3, 4)).astype(dtype)
            assert _all_in(value, allowed) == bool(np.isin(value, allowed).all())
    assert _all_in(np.zeros((0, 4), "int64"), allowed)


def test_a_mask_value_outside_zero_and_one_is_refused():
    mask = np.ones((2, 8), "int64")
    _check_domain("attention_mask", mask, {"kind": "attention-mask"})
    for bad in (2, -1):
        mask[1, 3] = bad
        with pytest.raises(ValueError, match="attention_mask"):
            _check_domain("attention_mask", mask, {"kind": "attention-mask"})
