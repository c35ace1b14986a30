"""The report's CPU kernels section, from records the typed run record accepts."""
from __future__ import annotations

from planctl.report import render_markdown
from planctl.report.record import RunRecord

PROFILE = {"available": True, "calls": 20, "plain_ms": 50.0, "instrumented_ms": 52.0, "kernel_ms": 49.0,
           "builtin_ms": 0.5, "kernel_gflops": 120.0, "launches_per_call": 97.0, "method": "VM instrument",
           "allocations_per_call": {"vm.builtin.alloc_storage": 9.0, "vm.builtin.alloc_tensor": 90.0},
           "rows": [{"name": "fused_matmul3_add5_fast_gelu1", "kind": "kernel", "launches_per_call": 6.0,
                     "ms_per_call": 15.0, "share": 0.3, "flops_per_call": 2e9, "gflops": 133.3},
                    {"name": "take", "kind": "kernel", "launches_per_call": 1.0, "ms_per_call": 2.0,
                     "share": 0.04, "flops_per_call": 0.0, "gflops": None}]}


def _with_build(record: dict, **update) -> dict:
    record["builds"] = [{**record["builds"][0], **update}]
    return RunRecord.model_validate(record).model_dump(mode="json")


def test_the_cpu_profile_renders_each_kernel_with_share_and_rate(full_record):
    text = render_markdown(_with_build(full_record, cpu_profile=PROFILE))
    assert "## CPU kernels" in text
    assert "| fused_matmul3_add5_fast_gelu1 | kernel | 6 | 15.00 | 30.0% | 133.3 |" in text
    assert "| take | kernel | 1 | 2.00 | 4.0% | — |" in text
    assert "vm.builtin.alloc_storage 9" in text and "97 kernel launches per call" in text


def test_an_unavailable_cpu_profile_says_why(full_record):
    record = _with_build(full_record, cpu_profile={"available": False, "reason": "RuntimeError: boom"})
    assert "CPU profile not available: RuntimeError: boom" in render_markdown(record)


def test_every_profiled_bucket_gets_its_own_cpu_section(full_record):
    first = {**full_record["builds"][0], "cpu_profile": PROFILE, "shape_env": {"batch": 8, "seq": 16}}
    second = {**first, "tag": "batch-32_seq-128", "shape_env": {"batch": 32, "seq": 128},
              "cpu_profile": {**PROFILE, "kernel_ms": 900.0}}
    record = RunRecord.model_validate({**full_record, "builds": [first, second]}).model_dump(mode="json")
    text = render_markdown(record)
    assert "## CPU kernels (batch=8, seq=16)" in text and "## CPU kernels (batch=32, seq=128)" in text
    assert "900.00 ms in kernels" in text


def test_kernels_summing_above_a_plain_call_are_explained(full_record):
    """The kernels are timed under the VM instrument, the plain call without it: at 8 x 16 on a
    noisy VM their sum (43.55 ms) came out above the plain call (42.82 ms) with no word why."""
    plain = render_markdown(_with_build(full_record, cpu_profile=PROFILE))
    above = render_markdown(_with_build(full_record, cpu_profile={**PROFILE, "kernel_ms": 51.0}))
    above_instrumented = render_markdown(_with_build(full_record, cpu_profile={**PROFILE, "instrumented_ms": 48.5}))
    why = "can put the kernels' sum above a whole call"
    assert why not in plain and why in above and why in above_instrumented
