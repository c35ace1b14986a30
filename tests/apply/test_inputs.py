"""planctl.apply.inputs without TVM: every input moves the digest; a live output is trusted only
when its digest matches and its libraries are intact."""
from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from planctl.apply import inputs
from planctl.apply.pipeline import ApplyOptions
from planctl.documents.load import find_target, load_plan, load_target


def _options(repo: Path, **changes) -> ApplyOptions:
    return ApplyOptions(plan_file=repo / "plans" / "tiny.yaml", target_name="x86-64-avx2", root=repo,
                        out_root=repo / "out", cache_dir=repo / "cache", **changes)


def _digest(repo: Path, environ=None, **changes) -> str:
    options = _options(repo, **changes)
    found = inputs.components(options, load_plan(options.plan_file), load_target(find_target(options.target_name, repo)),
                              environ={} if environ is None else environ)
    return inputs.digest(found)


def _store(repo: Path, rows: int) -> None:
    """A stand-in tuning store: only the two tables the generation query reads."""
    (repo / "cache").mkdir(exist_ok=True)
    conn = sqlite3.connect(repo / "cache" / "tuning.sqlite3")
    conn.executescript("CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY);"
                       "CREATE TABLE IF NOT EXISTS quarantine (id INTEGER PRIMARY KEY);")
    conn.executemany("INSERT INTO records DEFAULT VALUES", [()] * rows)
    conn.commit()
    conn.close()


def test_same_inputs_same_digest(tiny_repo: Path):
    assert _digest(tiny_repo) == _digest(tiny_repo)
    found = inputs.components(_options(tiny_repo), load_plan(tiny_repo / "plans" / "tiny.yaml"),
                              load_target(tiny_repo / "targets" / "x86-64-avx2.yaml"), environ={})
    assert {"plan", "target", "model", "files", "versions", "host", "options", "budget",
            "tuning_cache"} <= set(found)
    assert found["versions"]["planctl"] and "isa" in found["host"]["cpu"]
    assert found["tuning_cache"]["state"] == "absent" and not (tiny_repo / "cache").exists()


@pytest.mark.parametrize("change", [
    "plan", "target", "records", "dataset", "replay", "allow_version_drift", "measure_repeats",
    "baseline_max_seconds", "TVM_NUM_THREADS", "cache", "quarantine", "version", "cpu", "budget",
])
def test_any_input_change_changes_the_digest(tiny_repo: Path, monkeypatch, change: str):
    plan = tiny_repo / "plans" / "tiny.yaml"
    # a plan that names a records file and a quality dataset, with a tuning cache present
    (tiny_repo / "records.jsonl").write_text("{}\n")
    (tiny_repo / "quality.jsonl").write_text('{"inputs": {}}\n')
    plan.write_text(plan.read_text()
                    .replace("trials_per_task: 2}", "trials_per_task: 2}\n      records: records.jsonl")
                    .replace("    performance:", "    quality:\n      metric: cosine-similarity\n"
                             "      dataset: quality.jsonl\n      goal: {type: threshold, value: 0.99}\n"
                             "    performance:"))
    _store(tiny_repo, 3)
    before = _digest(tiny_repo)
    kwargs, environ = {}, None
    if change == "plan":
        plan.write_text(plan.read_text() + "# a comment\n")
    elif change == "target":
        target = tiny_repo / "targets" / "x86-64-avx2.yaml"
        target.write_text(target.read_text() + "# a comment\n")
    elif change == "records":
        (tiny_repo / "records.jsonl").write_text("{}\n{}\n")
    elif change == "dataset":
        (tiny_repo / "quality.jsonl").write_text('{"inputs": {}, "label": 1}\n')
    elif change == "replay":
        kwargs = {"replay": True}
    elif change == "allow_version_drift":
        kwargs = {"allow_version_drift": True}
    elif change == "measure_repeats":
        kwargs = {"measure_repeats": 51}
    elif change == "baseline_max_seconds":
        kwargs = {"baseline_max_seconds": 31.0}
    elif change == "TVM_NUM_THREADS":
        environ = {"TVM_NUM_THREADS": "7"}
    elif change == "cache":
        _store(tiny_repo, 1)
    elif change == "quarantine":
        conn = sqlite3.connect(tiny_repo / "cache" / "tuning.sqlite3")
        conn.execute("INSERT INTO quarantine DEFAULT VALUES")
        conn.commit()
        conn.close()
    elif change == "version":
        import planctl
        monkeypatch.setattr(planctl, "__version__", "99.0")
    elif change == "cpu":
        from planctl import host
        monkeypatch.setattr(host, "cpu_fingerprint", lambda: {"kind": "cpu", "model": "other", "isa": []})
    elif change == "budget":
        (tiny_repo / "planctl.toml").write_text("max_trials = 2\n")
    assert _digest(tiny_repo, environ, **kwargs) != before


def test_a_records_folder_is_digested_by_its_files(tiny_repo: Path):
    """TVM's JSONDatabase format is a folder: replacing a file in it is a change (issue 12 D)."""
    plan = tiny_repo / "plans" / "tiny.yaml"
    folder = tiny_repo / "records" / "x86"
    folder.mkdir(parents=True)
    (folder / "database_workload.json").write_text("[]\n")
    (folder / "database_tuning_record.json").write_text("[0, []]\n")
    plan.write_text(plan.read_text().replace("trials_per_task: 2}", "trials_per_task: 2}\n      records: records/x86"))
    before = _digest(tiny_repo)
    (folder / "database_tuning_record.json").write_text("[0, [1]]\n")
    assert _digest(tiny_repo) != before


def test_gpu_names_count_for_a_cuda_target(tiny_repo: Path, monkeypatch):
    target = tiny_repo / "targets" / "x86-64-avx2.yaml"
    found = inputs.components(_options(tiny_repo), load_plan(tiny_repo / "plans" / "tiny.yaml"),
                              load_target(target), environ={})
    assert "gpus" not in found["host"]   # a CPU target does not ask nvidia-smi

    def smi(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 0, stdout="NVIDIA H200, 9.0\n", stderr="")
    monkeypatch.setattr(inputs.subprocess, "run", smi)
    assert inputs.gpu_names() == ["NVIDIA H200, 9.0"]

    def missing(cmd, **kwargs):
        raise FileNotFoundError(cmd[0])
    monkeypatch.setattr(inputs.subprocess, "run", missing)
    assert inputs.gpu_names() == "unavailable"


def _output(folder: Path, digest: str | None) -> Path:
    folder.mkdir(parents=True)
    (folder / "candidate.so").write_bytes(b"candidate library")
    (folder / "baseline.so").write_bytes(b"baseline library")
    manifest = {"verdict": "promote", "artifact": "candidate.so", "baseline": "baseline.so",
                "candidate": "candidate.so", "plan": "tiny", "target": "x86-64-avx2"}
    for name in ("report.md", "report.html"):
        (folder / name).write_text("report")
    manifest["sha256"] = inputs.library_sums(folder, manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    record = {"created": "2026-11-20T10:00:00+00:00", "decision": {"verdict": "promote"},
              "plan": {"name": "tiny"}, "target": {"name": "x86-64-avx2"}}
    if digest:
        record["inputs"] = {"digest": digest, "components": {}}
    (folder / "report.json").write_text(json.dumps(record))
    return folder


def test_live_output_needs_the_digest_and_intact_libraries(tmp_path: Path):
    live = _output(tmp_path / "live", "d" * 64)
    assert inputs.live_output(live, "d" * 64)["created"] == "2026-11-20T10:00:00+00:00"
    assert inputs.live_output(live, "e" * 64) is None               # other inputs
    assert inputs.live_output(tmp_path / "absent", "d" * 64) is None
    assert inputs.live_output(_output(tmp_path / "old", None), "d" * 64) is None   # a report without inputs
    data = bytearray((live / "baseline.so").read_bytes())
    data[0] ^= 1
    (live / "baseline.so").write_bytes(bytes(data))                 # one byte changed
    assert inputs.live_output(live, "d" * 64) is None


def test_live_output_doubts_a_damaged_manifest(tmp_path: Path):
    live = _output(tmp_path / "live", "d" * 64)
    (live / "candidate.so").unlink()
    assert inputs.live_output(live, "d" * 64) is None
    live = _output(tmp_path / "live2", "d" * 64)
    (live / "manifest.json").write_text("{not json")
    assert inputs.live_output(live, "d" * 64) is None
    live = _output(tmp_path / "live3", "d" * 64)
    manifest = json.loads((live / "manifest.json").read_text())
    (live / "manifest.json").write_text(json.dumps({**manifest, "sha256": {}}))
    assert inputs.live_output(live, "d" * 64) is None


def test_live_output_must_agree_with_its_manifest_and_be_whole(tmp_path: Path):
    """A verdict the manifest contradicts, a missing report or a record without its fields: run again."""
    live = _output(tmp_path / "live", "d" * 64)
    manifest = json.loads((live / "manifest.json").read_text())
    (live / "manifest.json").write_text(json.dumps({**manifest, "verdict": "rollback", "artifact": "baseline.so"}))
    assert inputs.live_output(live, "d" * 64) is None
    live = _output(tmp_path / "live2", "d" * 64)
    (live / "report.md").unlink()
    assert inputs.live_output(live, "d" * 64) is None
    live = _output(tmp_path / "live3", "d" * 64)
    record = json.loads((live / "report.json").read_text())
    del record["plan"]
    (live / "report.json").write_text(json.dumps(record))
    assert inputs.live_output(live, "d" * 64) is None
    live = _output(tmp_path / "live4", "d" * 64)
    (live / "report.json").write_text(json.dumps({**record, "plan": {"name": "tiny"}, "decision": "x"}))
    assert inputs.live_output(live, "d" * 64) is None
