"""Quality, bisection, planned memory and roofline in the rendered reports."""
from __future__ import annotations

import base64
import re

import pytest

from planctl.report import render_html, render_markdown
from planctl.report.roofline import placement

ROOF = {"peak_flops": {"float32": 1.92e11}, "memory_bandwidth": 2.0e10, "source": "datasheet"}
FLOPS = {"flops": 5.78e9, "bytes": 2.16e8, "intensity": 5.78e9 / 2.16e8}


@pytest.fixture
def evidence_record(full_record) -> dict:
    full_record["quality"] = [{
        "metric": "cosine-similarity", "dataset": "examples/minilm/sentences.jsonl", "examples": 64,
        "value": 0.99999994, "worst": 0.9999998, "passed": True, "shape_env": {"batch": 2},
        "goal": {"type": "threshold", "value": 0.999},
        "reason": "cosine-similarity on examples/minilm/sentences.jsonl: 0.99999994 >= threshold 0.999",
        "baseline": {"value": 1.0, "source": "onnxruntime fp32 reference (stand-in for the baseline build)",
                     "baseline_build": {"examples": 2, "batches": 1, "value": 1.0}}}]
    full_record["bisect"] = {"culprits": ["mixed-precision"], "violated": ["parity"],
                             "passing_plan": ["constant-folding", "operator-fusion"],
                             "probes": [{"techniques": ["constant-folding", "mixed-precision", "operator-fusion"],
                                         "violates": True}, {"techniques": [], "violates": False}]}
    full_record["roofline"] = placement(FLOPS, full_record["latency"]["candidate"], ROOF,
                                        latency_baseline=full_record["latency"]["baseline"])
    return full_record


def test_placement_arithmetic():
    r = placement(FLOPS, {"p50": 100.0}, ROOF)
    assert r["achieved_gflops"] == pytest.approx(57.8)
    assert r["percent_of_peak"] == pytest.approx(57.8 / 192 * 100)
    assert r["ridge_intensity"] == pytest.approx(9.6) and r["bound"] == "compute"
    assert r["attainable_gflops"] == pytest.approx(192.0)
    low = placement({**FLOPS, "intensity": 2.0}, {"p50": 100.0}, ROOF)
    assert low["bound"] == "memory" and low["attainable_gflops"] == pytest.approx(40.0)
    assert placement(None, {"p50": 1.0}, ROOF) is None and placement(FLOPS, {"p50": 1.0}, None) is None


def test_markdown_renders_quality_bisection_roofline_and_planned_bytes(evidence_record):
    md = render_markdown(evidence_record)
    order = [md.index(h) for h in ("## Verdict", "## Latency", "## Roofline", "## Parity", "## Quality",
                                   "## Bisection", "## Passes", "## Memory")]
    assert order == sorted(order)
    assert "| batch=2 | cosine-similarity | examples/minilm/sentences.jsonl | 64 | 0.99999994 |" in md
    assert "threshold 0.999 | pass |" in md
    assert "names mixed-precision as the smallest set that breaks it" in md
    assert "Techniques that pass: constant-folding, operator-fusion." in md
    assert "| constant-folding, mixed-precision, operator-fusion | violates |" in md and "| (none) | passes |" in md
    assert "% of the float32 peak (192.0 GFLOP/s)" in md and "compute-bound" in md
    assert "planned activation memory (StaticPlanBlockMemory): 6.75 MiB (7,077,888 bytes" in md


def test_quality_says_the_shared_reference_once_and_a_failure_with_its_reason(evidence_record):
    passed = evidence_record["quality"][0]
    failed = {**passed, "shape_env": {"batch": 8}, "value": 0.98, "passed": False,
              "reason": "cosine-similarity on examples/minilm/sentences.jsonl: 0.98 < threshold 0.999"}
    evidence_record["quality"] = [passed, {**passed, "shape_env": {"batch": 4}}, failed]
    md = render_markdown(evidence_record)
    quality = md[md.index("## Quality"):md.index("## Bisection")]
    assert quality.count("- baseline: onnxruntime fp32 reference") == 1
    assert "- batch=8: cosine-similarity on examples/minilm/sentences.jsonl: 0.98 < threshold 0.999" in quality
    assert "0.99999994 >= threshold" not in quality   # a pass is its table row
    assert "- batch=4: baseline build on its first 2 example(s)" in quality


def test_traffic_points_that_padding_makes_slow_are_called_out(evidence_record):
    def point(batch: int, seq: int, share: float, bucket: str, ours: float, theirs: float) -> dict:
        return {"shape_env": {"batch": batch, "seq": seq}, "share": share, "bucket": bucket,
                "planctl": {"p50": ours}, "onnxruntime": {"p50": theirs}}

    evidence_record["traffic"] = {
        "method": "m", "ratio_vs_onnxruntime": 2.15, "contenders": {},
        "points": [point(8, 16, 0.30, "batch-8_seq-16", 30.3, 24.8), point(1, 128, 0.012, "batch-8_seq-128", 252.1, 26.8),
                   point(8, 32, 0.028, "batch-8_seq-128", 252.1, 47.5)]}
    md = render_markdown(evidence_record)
    assert "| batch=8, seq=16 | 30.0% | batch-8_seq-16 | 30.30 | 24.80 | 1.22 |" in md
    assert "| batch=1, seq=128 | 1.2% | batch-8_seq-128 | 252.10 | 26.80 | 9.41 (padding) |" in md
    assert ("2 call shape(s), 4.0% of the traffic, run at least 1.5x onnxruntime's time because their bucket pads "
            "them (worst: batch=1, seq=128 on batch-8_seq-128, 9.4x; batch=8, seq=32 on batch-8_seq-128, 5.3x)") in md
    assert "on a bucket of their own shape" not in md


def test_a_slow_traffic_point_on_a_bucket_of_its_own_shape_is_not_blamed_on_padding(evidence_record):
    """A CNN whose batch-8 build is 3.7x onnxruntime's at batch 8: nothing pads it; the build is slower."""
    evidence_record["traffic"] = {
        "method": "m", "ratio_vs_onnxruntime": 1.59, "contenders": {},
        "points": [{"shape_env": {"batch": 8}, "share": 0.5, "bucket": "batch-8", "planctl": {"p50": 2.02},
                    "onnxruntime": {"p50": 0.541}}]}
    md = render_markdown(evidence_record)
    assert "| batch=8 | 50.0% | batch-8 | 2.02 | 0.541 | 3.73 (no padding) |" in md
    assert "because their bucket pads them" not in md
    assert ("1 call shape(s), 50.0% of the traffic, run at least 1.5x onnxruntime's time on a bucket of their own "
            "shape, without padding (batch=8, 3.7x): the build itself is slower there") in md


def test_html_embeds_a_roofline_plot_beside_the_latency_plot(evidence_record):
    page = render_html(evidence_record)
    plots = re.findall(r'<img alt="([a-z ]+) plot" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert [alt for alt, _ in plots] == ["latency", "roofline"]
    assert all(base64.b64decode(data).startswith(b"\x89PNG") for _, data in plots)
    assert "<h2>Quality</h2>" in page and "<h2>Bisection</h2>" in page


def test_bisection_without_culprit_and_missing_sections(rolled_back_record):
    rolled_back_record["bisect"] = {"culprits": [], "passing_plan": [], "violated": ["parity"],
                                    "note": "the envelope is violated with no technique at all"}
    md = render_markdown(rolled_back_record)
    assert "named no culprit" in md and "no technique at all" in md
    assert "## Quality" not in md and "## Roofline" not in md


def test_a_rate_above_the_declared_peak_says_the_peak_is_too_low(evidence_record):
    evidence_record["roofline"] = {**evidence_record["roofline"], "percent_of_peak": 104.3}
    md = render_markdown(evidence_record)
    assert "Above 100% of the declared peak" in md and "peak_flops" in md
    evidence_record["roofline"]["percent_of_peak"] = 64.0
    assert "Above 100% of the declared peak" not in render_markdown(evidence_record)
