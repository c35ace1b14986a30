"""The per-kernel GPU profile's attribution of traced kernels to main's calls (no GPU needed)."""
from __future__ import annotations

import pytest

from planctl.measure.gpu_profile import PlannedCall, attribute, trace


def test_kernels_are_attributed_to_calls_in_program_order():
    plan = [PlannedCall("fused_a", "tir", 1e9, 1e6, "yes"), PlannedCall("gemm M=1", "library", 2e9, 2e6, "yes"),
            PlannedCall("gemm M=2", "library", 4e9, 4e6, "yes"), PlannedCall("fused_a", "tir", 1e9, 1e6, "yes"),
            PlannedCall("norm", "tir", 0.0, 8e6, "no")]
    kernels = [["fused_a_kernel", 0, 10.0], ["fused_a_kernel_1", 1, 5.0], ["sm90_xmma_gemm", 2, 20.0],
               ["sm90_xmma_gemm", 3, 30.0], ["splitKreduce_kernel", 4, 2.0], ["fused_a_kernel", 5, 10.0],
               ["fused_a_kernel_1", 6, 5.0], ["norm_kernel", 7, 18.0]]
    rows = {r.name: r for r in attribute(kernels, plan)}
    assert rows["fused_a"].launches_per_call == 4 and rows["fused_a"].flops_per_call == 2e9
    assert rows["gemm M=1"].launches_per_call == 1 and rows["gemm M=2"].launches_per_call == 2
    assert rows["gemm M=2"].ms_per_call == pytest.approx(0.032)
    assert rows["gemm M=1"].tflops == pytest.approx(2e9 / 20e-6 / 1e12)
    assert rows["norm"].tflops is None and rows["norm"].gbps == pytest.approx(8e6 / 18e-6 / 1e9)
    assert sum(r.share for r in rows.values()) == pytest.approx(1.0)


def test_a_kernel_nothing_launches_is_listed_unattributed():
    rows = attribute([["mystery_kernel", 0, 3.0]], [PlannedCall("fused_a", "tir", 0.0, 0.0, "no")])
    assert [r.name for r in rows] == ["(unattributed) mystery_kernel"]


def test_profile_says_why_it_is_unavailable_without_a_gpu():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    result = trace(lambda: None)
    assert result == {"available": False, "reason": "no CUDA device visible to torch"}
