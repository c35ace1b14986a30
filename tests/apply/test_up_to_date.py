"""A second apply with unchanged inputs is skipped (up to date); a changed plan, --force or a
tampered library runs it again."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from planctl.apply.pipeline import ApplyOptions, run_apply
from planctl.cli.main import main

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")

LIVE = ("out", "tiny-mlp", "x86-64-avx2")

# the second apply in a fresh process, so that "TVM was not imported" means something
SECOND = """
import json, sys
from pathlib import Path
from planctl.apply.pipeline import ApplyOptions, run_apply
repo = Path(sys.argv[1])
stages = []
result = run_apply(ApplyOptions(plan_file=repo / "plans" / "tiny.yaml", target_name="x86-64-avx2", root=repo,
                                out_root=repo / "out", cache_dir=repo / "cache", measure_repeats=6),
                   progress=stages.append)
print(json.dumps({"up_to_date": result.record.get("up_to_date"), "since": result.record.get("up_to_date_since"),
                  "verdict": result.verdict, "stages": stages,
                  "imported": [m for m in ("tvm", "onnxruntime") if m in sys.modules]}))
"""


def _apply(repo: Path, **changes):
    stages: list[str] = []
    options = ApplyOptions(plan_file=repo / "plans" / "tiny.yaml", target_name="x86-64-avx2", root=repo,
                           out_root=repo / "out", cache_dir=repo / "cache", measure_repeats=6, **changes)
    return run_apply(options, progress=stages.append), stages


def _mtimes(repo: Path) -> dict[str, int]:
    return {str(p.relative_to(repo)): p.stat().st_mtime_ns for p in (repo / "out").rglob("*")}


def test_unchanged_inputs_are_up_to_date_without_tvm(tiny_repo: Path, capsys):
    first, _ = _apply(tiny_repo)
    assert first.verdict == "promote" and "up_to_date" not in first.record
    record = json.loads(tiny_repo.joinpath(*LIVE, "report.json").read_text())
    assert record["inputs"]["digest"] == first.record["inputs"]["digest"]
    assert record["inputs"]["components"]["tuning_cache"]["records"] > 0   # counted after the search
    manifest = json.loads(tiny_repo.joinpath(*LIVE, "manifest.json").read_text())
    assert set(manifest["sha256"]) == {manifest["baseline"], manifest["candidate"]}
    before = _mtimes(tiny_repo)

    proc = subprocess.run([sys.executable, "-c", SECOND, str(tiny_repo)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    second = json.loads(proc.stdout)
    # the legality rules run even then (a waiver may have expired since), without TVM
    assert second == {"up_to_date": True, "since": record["created"], "verdict": "promote",
                      "stages": ["documents", "legality", "references"], "imported": []}
    assert _mtimes(tiny_repo) == before   # nothing written, nothing moved to .previous
    assert not tiny_repo.joinpath(*LIVE[:-1], "x86-64-avx2.previous").exists()

    code = main(["apply", str(tiny_repo / "plans" / "tiny.yaml"), "--target", "x86-64-avx2",
                 "--root", str(tiny_repo), "--out", str(tiny_repo / "out"), "--cache", str(tiny_repo / "cache"),
                 "--repeats", "6"])
    out = capsys.readouterr().out
    assert code == 0
    assert (f"tiny-mlp on x86-64-avx2: up to date (inputs unchanged since the run of {record['created']}, "
            "verdict PROMOTE); nothing rebuilt; --force rebuilds and re-measures") in out


def test_a_changed_plan_or_force_runs_again(tiny_repo: Path):
    _apply(tiny_repo)
    forced, stages = _apply(tiny_repo, force=True)
    assert "up_to_date" not in forced.record and any(s.startswith("candidate-build") for s in stages)
    assert tiny_repo.joinpath(*LIVE[:-1], "x86-64-avx2.previous").is_dir()
    skipped, stages = _apply(tiny_repo)
    assert skipped.record["up_to_date"] and stages == ["documents", "legality", "references"]

    plan = tiny_repo / "plans" / "tiny.yaml"
    plan.write_text(plan.read_text() + "# reviewed again\n")   # same plan, another sha256
    again, stages = _apply(tiny_repo)
    assert "up_to_date" not in again.record and any(s.startswith("candidate-build") for s in stages)
    assert again.record["inputs"]["digest"] != forced.record["inputs"]["digest"]


def test_a_tampered_library_runs_again(tiny_repo: Path):
    first, _ = _apply(tiny_repo)
    live = tiny_repo.joinpath(*LIVE)
    library = live / json.loads((live / "manifest.json").read_text())["artifact"]
    data = bytearray(library.read_bytes())
    data[len(data) // 2] ^= 0xFF
    library.write_bytes(bytes(data))
    again, stages = _apply(tiny_repo)
    assert "up_to_date" not in again.record and any(s.startswith("candidate-build") for s in stages)
    assert again.record["inputs"]["digest"] == first.record["inputs"]["digest"]   # the inputs did not change
