"""The lines apply prints at the end (planctl.cli.apply.summary): one build prints its latencies;
several shape buckets print one line each, named, and the traffic mix's ratio."""
from __future__ import annotations

from pathlib import Path

from planctl.cli.apply import summary


def test_one_build_prints_its_latencies_and_speedup(full_record):
    text = summary(full_record, Path("out"))
    assert "candidate    p50" in text and "vs baseline (gate" in text and "[" not in text.splitlines()[1]


def test_every_bucket_gets_a_named_line_and_the_mix_its_ratio(full_record):
    first = {**full_record["builds"][0], "latency": full_record["latency"]}   # a bucket's own latencies
    second = {**first, "tag": "batch-32_seq-128", "latency": {**first["latency"],
                                                              "candidate": {**first["latency"]["candidate"], "p50": 900.0}}}
    record = {**full_record, "builds": [first, second], "traffic": {"ratio_vs_onnxruntime": 1.42}}
    lines = summary(record, Path("out")).splitlines()
    assert lines[1].startswith(f"  [{first['tag']}] candidate p50 ")
    assert lines[2].startswith("  [batch-32_seq-128] candidate p50 900.00 ms")
    # the Traffic mix section's time ratio, the direction in words
    # a speedup like the bucket lines' (onnxruntime's time over planctl's), then the mix's time ratio
    assert "traffic mix: 0.70x vs onnxruntime (slower over the plan's traffic" in lines[3]
    assert "expected latency 1.42x onnxruntime's" in lines[3]
    assert not any(line.startswith("  candidate    p50") for line in lines)
    # the verdict line says the mix is slower, where it is, next to the verdict
    assert lines[0].endswith("(per bucket; over the plan's traffic mix, 0.70x vs onnxruntime, slower: see traffic mix below)")
    # a 1% difference is not called faster; the mix's tail is said beside it
    record["traffic"] = {"ratio_vs_onnxruntime": 0.99, "contenders": {"planctl": {"p99_ms": 1483.89},
                                                                      "onnxruntime": {"p99_ms": 1031.97}}}
    verdict, *_, line = summary(record, Path("out")).splitlines()[:4]
    assert "traffic mix" not in verdict
    assert "1.01x vs onnxruntime (about the same, within 3% over the plan's traffic" in line
    assert "its p99 1.44x onnxruntime's" in line


def test_the_fallback_line_says_what_the_switch_costs_and_devices_are_named_once(full_record):
    """With the switch on every call runs the baseline: its p50 over the candidate's, per bucket;
    buckets whose schedules come from the same other device say so once."""
    tasks = [{**full_record["builds"][0]["tuning"]["tasks"][0], "source": "committed",
              "measured_on": "this CPU, warm caches"}]
    first = {**full_record["builds"][0], "latency": full_record["latency"],
             "tuning": {**full_record["builds"][0]["tuning"], "tasks": tasks}}
    slow = {**first["latency"], "baseline": {**first["latency"]["baseline"], "p50": 90 * 200.0},
            "candidate": {**first["latency"]["candidate"], "p50": 200.0}}
    record = {**full_record, "builds": [first, {**first, "tag": "batch-8", "latency": slow}],
              "fallback": {"switch": "PLANCTL_DISABLE_X", "library": "baseline-dynamic.so", "verified": True}}
    lines = summary(record, Path("out")).splitlines()
    low = first["latency"]["baseline"]["p50"] / first["latency"]["candidate"]["p50"]
    assert any(line.endswith(f"verified; its p50 is {min(low, 90):.1f}-{max(low, 90):.1f}x the candidate's "
                             "(report.md, Fallback)") for line in lines), lines
    named = [line for line in lines if "schedules another device measured" in line]
    assert named == ["  schedules another device measured (another host, or this one under other runner settings): "
                     "1 task(s) of each bucket measured on this CPU, warm caches"]
    # after every parity line, not between them
    assert lines.index(named[0]) > max(i for i, line in enumerate(lines) if line.startswith("  parity["))


def test_parity_lines_say_how_many_examples_were_random_and_how_many_corners(full_record):
    build = full_record["builds"][0]
    record = {**full_record, "builds": [{**build, "parity": {**build["parity"], "examples": 15, "corners": 7}}]}
    [line] = [line for line in summary(record, Path("out")).splitlines() if line.startswith("  parity[")]
    assert "over 15 examples (8 random, 7 at the inputs' domain corners)" in line


def test_buckets_whose_schedules_come_from_different_devices_are_named_each(full_record):
    build = full_record["builds"][0]
    task = build["tuning"]["tasks"][0]
    builds = [{**build, "tag": tag, "tuning": {**build["tuning"], "tasks": [
        {**task, "source": "committed", "measured_on": where}]}} for tag, where in
        (("batch-1", "AMD EPYC (x86_64, AVX-512)"), ("batch-8", "this CPU, warm caches"))]
    lines = summary({**full_record, "builds": builds}, Path("out")).splitlines()
    named = [line for line in lines if "schedules another device measured" in line]
    assert [line.split("]")[0] for line in named] == ["  [batch-1", "  [batch-8"]


def test_the_output_line_lists_the_files_written_report_html_included(full_record, tmp_path):
    for name in ("report.md", "report.html", "report.json", "manifest.json"):
        (tmp_path / name).write_text("")
    line = summary(full_record, tmp_path).splitlines()[-1]
    assert line == f"  output: {tmp_path}/ (report.md, report.html, report.json, manifest.json)"
    (tmp_path / "report.html").unlink()   # a file that is not there is not named
    assert "report.html" not in summary(full_record, tmp_path).splitlines()[-1]


def test_verbose_progress_names_each_stages_bucket(capsys):
    """rich read "import[batch-1_seq-64]" as a markup tag: -v printed "import" once per bucket, unnamed."""
    from planctl.cli.apply import _progress

    _progress(1)("import[batch-1_seq-64]")
    assert "import[batch-1_seq-64]" in capsys.readouterr().err
