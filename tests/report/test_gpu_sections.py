"""The report's CUDA sections: kernel routes (with fallbacks) and the per-kernel GPU profile."""
from __future__ import annotations

from planctl.report import render_markdown

ROUTES = [{"kind": "gemm", "signature": "gemm M=4096 N=384 K=384 float16->float16 epilogue=bias", "sites": 18,
           "route": "cublaslt", "library_ms": 0.015, "tvm_ms": 0.024, "reason": "measured faster"},
          {"kind": "attention", "signature": "softmax not fused", "sites": 1, "route": "tvm (fallback)",
           "library_ms": None, "tvm_ms": None, "reason": "sequence length 300 > 128 for float16"}]
PROFILE = {"available": True, "launches_per_call": 67, "kernel_us_per_call": 516.0, "graph_launches_per_call": 3.0,
           "method": "torch.profiler (CUPTI)",
           "rows": [{"name": "planctl_attention_0", "launches_per_call": 6, "ms_per_call": 0.116, "share": 0.226,
                     "tflops": 41.5, "gbps": 757.0, "tensor_cores": "yes"}]}


def test_routes_and_profile_render_with_the_fallback_and_graph_state(full_record):
    full_record["builds"] = [{"kernel_routes": ROUTES, "gpu_profile": PROFILE}]
    text = render_markdown(full_record)
    assert "## GPU kernels" in text and "CUDA graphs active (3 graph launches per call)" in text
    assert "| planctl_attention_0 | 6 | 0.116 | 22.6% | 41.5 | 757 | yes |" in text
    assert "## Kernel routes" in text and "tvm (fallback)" in text and "sequence length 300 > 128" in text


def test_an_unavailable_profile_says_why(full_record):
    full_record["builds"] = [{"gpu_profile": {"available": False, "reason": "no CUDA device visible to torch"}}]
    assert "GPU profile not available: no CUDA device visible to torch" in render_markdown(full_record)
