"""The MiniLM int8 plan (plans/minilm-embed-int8.yaml): its committed tuning records serve every
task (a dry run, any host), and on a host with AVX-512 VNNI the plan promotes with its quality
goal met and its int8 kernels on vpdpbusd (no search: --replay)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from planctl.cli.main import main

pytestmark = [pytest.mark.tvm, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "examples" / "minilm" / "minilm-b2-s128.onnx"
PLAN = REPO / "plans" / "minilm-embed-int8.yaml"


def host_has(flag: str) -> bool:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return any(flag in line.split() for line in text.splitlines() if line.startswith("flags"))


@pytest.fixture(autouse=True)
def model():
    pytest.importorskip("tvm")
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run scripts/setup.sh (it exports the example model)")


def test_committed_records_cover_every_task(tmp_path: Path, capsys):
    assert main(["plan", str(PLAN), "--target", "x86-64-avx512", "--root", str(REPO), "--cache",
                 str(tmp_path / "cache"), "--output", "json"]) == 0
    tasks = [task for shape in json.loads(capsys.readouterr().out)["tasks"] for task in shape["tasks"]]
    # the cache is empty, so every record that serves came from the committed file, whichever device
    # measured it (this host, another CPU, or this CPU with warm caches on the cold-measuring target)
    assert tasks and {task["source"] for task in tasks} == {"committed"}, tasks
    assert any(task["task"].startswith("fused_q8_dense") for task in tasks)


@pytest.mark.skipif(not host_has("avx512_vnni"), reason="this host has no AVX-512 VNNI")
def test_int8_plan_promotes_on_vnni(tmp_path: Path):
    code = main(["apply", str(PLAN), "--target", "x86-64-avx512", "--root", str(REPO), "--out",
                 str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--replay", "--repeats", "12"])
    record = json.loads((tmp_path / "out" / "minilm-embed-int8" / "x86-64-avx512" / "report.json").read_text())
    assert record["quality"][0]["value"] >= 0.999, record["quality"]
    kernel = record["quantization"]["kernel"]
    assert kernel["path"] == "avx512-vnni" and kernel["tensorized_kernels"] == kernel["int8_kernels"] > 0
    assert all(counts.get("vpdpbusd", 0) > 0 for counts in kernel["machine_code"].values())
    assert code == (0 if record["decision"]["verdict"] == "promote" else 1)
