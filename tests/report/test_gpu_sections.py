"""The report's CUDA sections: kernel routes (with fallbacks) and the per-kernel GPU profile, from
records the typed run record (planctl.report.record) accepts."""
from __future__ import annotations

from planctl.report import render_markdown
from planctl.report.record import RunRecord

ROUTES = [{"kind": "gemm", "signature": "gemm M=4096 N=384 K=384 float16->float16 epilogue=bias", "sites": 18,
           "route": "cublaslt", "library_ms": 0.015, "tvm_ms": 0.024, "reason": "measured faster"},
          {"kind": "attention", "signature": "softmax not fused", "sites": 1, "route": "tvm (fallback)",
           "library_ms": None, "tvm_ms": None, "reason": "sequence length 300 > 128 for float16"}]
PROFILE = {"available": True, "calls": 5, "launches_per_call": 67, "kernels_per_call": 67.0,
           "kernel_us_per_call": 516.0, "graph_launches_per_call": 3.0, "api_per_call": {"cudaGraphLaunch": 3.0},
           "cuda_graphs": True, "method": "torch.profiler (CUPTI)",
           "rows": [{"name": "planctl_attention_0", "kernels": "planctl_attention_0_kernel", "launches_per_call": 6,
                     "ms_per_call": 0.116, "share": 0.226, "flops_per_call": 4.8e9, "bytes_per_call": 8.8e7,
                     "tflops": 41.5, "gbps": 757.0, "tensor_cores": "yes"}]}


def _with_build(record: dict, **update) -> dict:
    """``record`` with its first build updated, checked against the typed record."""
    record["builds"] = [{**record["builds"][0], **update}]
    return RunRecord.model_validate(record).model_dump(mode="json")


def test_routes_and_profile_render_with_the_fallback_and_graph_state(full_record):
    text = render_markdown(_with_build(full_record, kernel_routes=ROUTES, gpu_profile=PROFILE))
    assert "## GPU kernels" in text and "CUDA graphs active (3 graph launches per call)" in text
    assert "| planctl_attention_0 | 6 | 0.116 | 22.6% | 41.5 | 757 | yes |" in text
    assert "## Kernel routes" in text and "tvm (fallback)" in text and "sequence length 300 > 128" in text


def test_an_unavailable_profile_says_why(full_record):
    record = _with_build(full_record, gpu_profile={"available": False, "reason": "no CUDA device visible to torch"})
    assert "GPU profile not available: no CUDA device visible to torch" in render_markdown(record)


def test_cpu_builds_have_neither_section(full_record):
    record = _with_build(full_record)
    assert record["builds"][0]["kernel_routes"] == [] and record["builds"][0]["gpu_profile"] is None
    text = render_markdown(record)
    assert "## GPU kernels" not in text and "## Kernel routes" not in text


def test_untimed_routes_drop_the_time_columns_and_name_only_the_plans_techniques(full_record):
    """A CPU plan's fused attention: one route per kind, none timed; the section names the dispatch
    technique the plan uses, not all three, and has no all-dash time columns."""
    route = {"kind": "attention", "signature": "attention B=8 S=16 H=12 D=32", "sites": 6,
             "route": "tir-fused-attention", "library_ms": None, "tvm_ms": None, "reason": "matched; CPU kernel"}
    record = _with_build(full_record, kernel_routes=[route])
    record["techniques"] = ["operator-fusion", "fused-attention", "autotuning"]
    text = render_markdown(record)
    assert "Routes of the plan's dispatch techniques (fused-attention)." in text
    assert "| kind | signature | sites | route | why |" in text and "library ms" not in text
    assert "no route was chosen by timing here" in text
