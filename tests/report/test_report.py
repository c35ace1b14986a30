"""planctl.report: Markdown and HTML rendering from the run record alone, and writing the files."""
from __future__ import annotations

import base64
import json
import math
import re

import numpy as np

from planctl.report import collect_environment, render_html, render_markdown, write_reports


def test_markdown_puts_the_verdict_first_then_the_evidence(full_record):
    md = render_markdown(full_record)
    assert md.startswith("# planctl apply: minilm-embed on x86-64-avx2")
    order = [md.index(h) for h in ("## Verdict", "## Latency", "## Parity", "## Passes", "## Tuning",
                                   "## Memory", "## Environment", "## Digests")]
    assert order == sorted(order)
    assert "**PROMOTE**" in md and "- p50 speedup 27.1× ≥ 1.5×" in md
    assert "gate ≥ 1.5×: met" in md and "27.10×" in md


def test_markdown_tables_carry_ratios_deltas_and_escape_pipes(full_record):
    md = render_markdown(full_record)
    candidate_row = next(line for line in md.splitlines() if line.startswith("| candidate |"))
    assert candidate_row.count("1.00×") == 3
    assert "| FuseTIR | 0.400 | 350 → 120 | -230 | 180 → 60 | -120 |" in md
    assert "Test CPU \\| with pipe" in md and "| tvm_ffi | unset |" in md
    assert "a" * 64 in md and "| fused_matmul_add | 96 | 0.8 | yes |" in md


def test_markdown_of_a_rolled_back_run(rolled_back_record):
    md = render_markdown(rolled_back_record)
    assert "**ROLLBACK**" in md and "FAIL" in md and "## Latency" not in md
    assert "`planctl verify replay out/counterexample-batch-2.npz`" in md
    assert "| batch=2 | sentence_embedding | 3 | 5.00e-01 | — |" in md


def test_markdown_of_an_empty_record_does_not_raise():
    assert "UNKNOWN" in render_markdown({})


def test_html_is_self_contained_with_an_embedded_plot(full_record):
    page = render_html(full_record)
    assert page.startswith("<!DOCTYPE html>") and 'class="verdict promote"' in page
    assert "<script" not in page and not re.search(r'(src|href)="(https?:|/)', page)
    png = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert png and base64.b64decode(png.group(1)).startswith(b"\x89PNG")
    assert "Test CPU | with pipe" in page


def test_html_without_samples_has_no_plot(rolled_back_record):
    page = render_html(rolled_back_record)
    assert "data:image/png" not in page and "ROLLBACK" in page


def test_write_reports_writes_three_files_with_sorted_json(full_record, tmp_path):
    full_record["memory"]["peak_rss_mb"] = math.nan
    full_record["latency"]["candidate"]["p50"] = np.float64(full_record["latency"]["candidate"]["p50"])
    paths = write_reports(full_record, tmp_path / "out")
    assert {p.name for p in paths.values()} == {"report.json", "report.md", "report.html"}
    text = paths["json"].read_text()
    data = json.loads(text)
    assert list(data) == sorted(data) and text.startswith('{\n  "artifacts"')
    assert data["memory"]["peak_rss_mb"] is None and data["report_version"] == 1
    assert "PROMOTE" in paths["md"].read_text() and not list((tmp_path / "out").glob(".*.tmp"))


def test_collect_environment_reports_versions_and_env_vars(monkeypatch):
    monkeypatch.setenv("TVM_NUM_THREADS", "2")
    env = collect_environment()
    assert env["numpy"] == np.__version__ and env["cores"] >= 1 and env["env"]["TVM_NUM_THREADS"] == "2"
    assert set(env) >= {"python", "tvm", "tvm_ffi", "onnxruntime", "numpy", "cpu", "cores", "env"}


def test_a_record_of_several_buckets_reports_each_bucket(full_record):
    """Latency, roofline and tuning show every shape bucket, and the digests every library, not
    only the first bucket's (which the record's top-level latency and artifacts.library hold)."""
    import copy

    from planctl.report.sections import sections

    second = copy.deepcopy(full_record["builds"][0])
    second.update(shape_env={"batch": 8}, tag="batch-8",
                  latency={"candidate": {**full_record["latency"]["candidate"], "p50": 200.0}},
                  libraries={"baseline": "baseline-batch-8.so", "candidate": "candidate-batch-8.so"})
    second["tuning"]["notes"] = ["only at batch 8", "3 measured on host B"]
    first = full_record["builds"][0]
    first.update(latency=full_record["latency"])
    first["tuning"]["notes"] = ["3 measured on host B"]
    roofline = {"flops": 5.78e9, "achieved_gflops": 82.6, "peak_gflops": 384.0, "percent_of_peak": 21.5,
                "dtype": "float32", "statistic": "p50"}
    record = {**full_record, "builds": [first, second], "roofline": roofline,
              "library_sha256": {"candidate-batch-2.so": "d" * 64, "candidate-batch-8.so": "f" * 64}}
    found = {s.title: s for s in sections(record)}
    latency_rows = found["Latency"].tables[0].rows
    assert {row[0] for row in latency_rows} == {"batch=2", "batch=8"}
    assert ["batch=8", "candidate"] == latency_rows[-1][:2] and latency_rows[-1][3] == "200.00"
    assert [row[0] for row in found["Roofline"].tables[1].rows] == ["batch=2", "batch=8"]
    tuning = found["Tuning"]
    assert [row[0] for row in tuning.tables[0].rows] == ["batch=2", "batch=8"]
    assert "batch=8: only at batch 8" in tuning.bullets
    assert "3 measured on host B (at each of the 2 buckets)" in tuning.bullets   # a count of one bucket's tasks
    libraries = [row for row in found["Digests and artifacts"].tables[0].rows if row[0] == "library"]
    assert [row[1:] for row in libraries] == [["candidate-batch-2.so", "d" * 64], ["candidate-batch-8.so", "f" * 64]]


def test_the_tuning_section_says_what_kernels_scheduled_counts(full_record):
    """17 of 18 kernels beside one task: the line splits the count into tuned tasks and planctl's
    hand-written kernels, and names the kernel left on TVM's default schedule; buckets that differ
    get a line each."""
    import copy

    from planctl.report.sections import sections

    first = full_record["builds"][0]
    first["tuning"].update(scheduled_funcs=17, total_funcs=18, unscheduled_funcs=["take1"])
    bullets = {s.title: s for s in sections(full_record)}["Tuning"].bullets
    assert ("kernels scheduled: 17 of 18 = 1 from tuning records + 16 hand-written by planctl (no tuning task); "
            "on TVM's default schedule: take1") in bullets
    second = copy.deepcopy(first)
    second.update(shape_env={"batch": 8}, tag="batch-8")
    second["tuning"].update(scheduled_funcs=18, unscheduled_funcs=[])
    bullets = {s.title: s for s in sections({**full_record, "builds": [first, second]})}["Tuning"].bullets
    assert "kernels scheduled at batch=8: 18 of 18 = 1 from tuning records + 17 hand-written by planctl (no tuning task)" \
        in bullets
