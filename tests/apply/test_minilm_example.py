"""The README's main job: the real MiniLM example through apply with the committed tuning records.

Needs the exported model (scripts/setup.sh writes it); uses a private cache and output root so the
committed records, not a warm developer cache, serve every task.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from planctl.cli.main import main

pytestmark = [pytest.mark.tvm, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "examples" / "minilm" / "minilm-b2-s128.onnx"


@pytest.fixture(scope="module")
def minilm_run(tmp_path_factory):
    pytest.importorskip("tvm")
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run scripts/setup.sh (it exports the example model)")
    work = tmp_path_factory.mktemp("minilm")
    code = main(["apply", str(REPO / "plans" / "minilm-embed.yaml"), "--target", "x86-64-avx2",
                 "--root", str(REPO), "--out", str(work / "out"), "--cache", str(work / "cache"),
                 "--replay", "--repeats", "20"])
    out_dir = work / "out" / "minilm-embed" / "x86-64-avx2"
    return code, out_dir, json.loads((out_dir / "report.json").read_text())


def test_committed_records_serve_every_task(minilm_run):
    _code, _out, record = minilm_run
    tuning = record["builds"][0]["tuning"]
    assert tuning["trials_spent"] == 0
    assert tuning["imported_records"] > 0
    assert tuning["scheduled_funcs"] >= tuning["total_funcs"] - 2


def test_parity_holds_against_onnxruntime(minilm_run):
    _code, _out, record = minilm_run
    parity = record["parity"][0]
    assert parity["passed"], parity
    assert parity["examples"] >= 8


def test_report_and_artifact_exist(minilm_run):
    code, out_dir, record = minilm_run
    assert (out_dir / "report.md").stat().st_size > 0
    assert record["latency"]["candidate"]["p50"] > 0
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["verdict"] == record["decision"]["verdict"]
    assert code == (0 if manifest["verdict"] == "promote" else 1)
    assert (out_dir / manifest["artifact"]).is_file()
