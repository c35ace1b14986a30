"""validate → apply on a tiny ONNX model with a tiny tuning budget, and apply's bad-input errors."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from planctl.cli.main import main

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")


def apply(repo: Path, *extra: str) -> int:
    return main(["apply", str(repo / "plans" / "tiny.yaml"), "--target", "x86-64-avx2",
                 "--root", str(repo), "--out", str(repo / "out"), "--cache", str(repo / "cache"),
                 "--repeats", "30", *extra])


def test_validate_then_apply_promotes_and_reuses_records(tiny_repo: Path, capsys):
    assert main(["validate", str(tiny_repo / "plans" / "tiny.yaml")]) == 0
    capsys.readouterr()
    assert apply(tiny_repo) == 0
    said = capsys.readouterr()
    # what the search will do is said before it runs; library chatter goes to the run's log
    assert ("planctl apply: tuning at batch=32: 1 tasks: 0 served by the cache, 0 by the committed records, "
            "0 by other devices' records in the cache, 1 left to search") in said.err
    assert "search: at most 4 trials (2 per task), wall-clock ceiling 300 s" in said.err
    # off a terminal without -v: a line as each bucket's long steps start, not each stage
    assert "planctl apply: candidate-build[batch-32] (-v shows every stage)" in said.err
    assert "planctl apply: verify[batch-32]" in said.err and "planctl apply: measure[batch-32]" in said.err
    assert "planctl apply: passes[" not in said.err and "verify-padding[" not in said.err
    log = tiny_repo / "cache" / "logs" / "apply-tiny-x86-64-avx2.log"
    assert f"log: {log}" in said.out and log.is_file()
    out_dir = tiny_repo / "out" / "tiny-mlp" / "x86-64-avx2"
    record = json.loads((out_dir / "report.json").read_text())
    assert record["decision"]["verdict"] == "promote"
    assert record["parity"][0]["passed"]
    assert (out_dir / "report.md").is_file()
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert (out_dir / manifest["artifact"]).is_file()
    first = record["builds"][0]["tuning"]
    assert first["trials_spent"] > 0
    assert list((out_dir / "records" / "batch-32").glob("database_*.json"))
    assert not list((tiny_repo / "out" / "tiny-mlp").glob(".*staging*"))

    assert apply(tiny_repo, "--force") == 0  # same plan, same target: the cache serves every task
    second = json.loads((out_dir / "report.json").read_text())["builds"][0]["tuning"]
    assert second["trials_spent"] == 0 and second["reused"]
    assert (tiny_repo / "out" / "tiny-mlp" / "x86-64-avx2.previous").is_dir()


def test_runtime_honours_fallback_switch(tiny_repo: Path, monkeypatch):
    import numpy as np

    from planctl.runtime import load

    assert apply(tiny_repo) == 0
    out_dir = tiny_repo / "out" / "tiny-mlp" / "x86-64-avx2"
    x = np.ones((32, 128), dtype="float32")
    fast = load(out_dir)
    assert fast.which == "candidate"
    monkeypatch.setenv("PLANCTL_DISABLE_TINY_MLP", "1")
    slow = load(out_dir)
    assert slow.which == "baseline"
    np.testing.assert_allclose(fast(x=x)[0], slow(x=x)[0], rtol=1e-4, atol=1e-5)


def test_runtime_refuses_inputs_outside_the_contract(tiny_repo: Path):
    import numpy as np

    from planctl.runtime import load

    assert apply(tiny_repo) == 0
    run = load(tiny_repo / "out" / "tiny-mlp" / "x86-64-avx2")
    with pytest.raises(ValueError, match="outside the plan's domain"):
        run(x=np.full((32, 128), 5.0, dtype="float32"))
    with pytest.raises(ValueError, match="built for float32"):
        run(x=np.zeros((4, 128), dtype="float32"))
    with pytest.raises(ValueError, match="missing input"):
        run()


def test_rollback_keeps_the_promoted_output_live(tiny_repo: Path, monkeypatch, capsys):
    from planctl.lowering import techniques

    assert apply(tiny_repo) == 0

    def fp16(_t, _target):  # parity breaks: fp16 matmul inputs against a 1e-4 tolerance
        from tvm import relax
        return [relax.transform.ToMixedPrecision(out_dtype="float32")]

    broken = techniques.TechniqueImpl("dead-code-elimination", "graph", fp16, "broken on purpose")
    monkeypatch.setitem(techniques.REGISTRY, "dead-code-elimination", broken)
    assert apply(tiny_repo, "--force") == 1
    live_dir = tiny_repo / "out" / "tiny-mlp" / "x86-64-avx2"
    rejected_dir = tiny_repo / "out" / "tiny-mlp" / "x86-64-avx2.rejected"
    assert json.loads((live_dir / "manifest.json").read_text())["verdict"] == "promote"
    assert json.loads((rejected_dir / "manifest.json").read_text())["verdict"] == "rollback"
    # the rejected run's evidence points into its own folder, not at the live output
    parity = json.loads((rejected_dir / "report.json").read_text())["parity"][0]
    counterexample = Path(parity["counterexample"])
    assert not parity["passed"] and counterexample.parent == rejected_dir and counterexample.is_file()
    assert parity["replay"] == f"planctl verify replay {counterexample}"
    assert str(counterexample) in (rejected_dir / "report.md").read_text()
    capsys.readouterr()
    assert main(["verify", "replay", str(counterexample)]) == 1   # it still reproduces there
    assert "reproduced" in capsys.readouterr().out


def _no_output(repo: Path) -> bool:
    """Nothing under out/ but apply's lock files: no library, no empty out/<plan>/ folder."""
    out = repo / "out"
    return not out.exists() or all(p.name.endswith(".lock") for p in out.iterdir())


def test_missing_model_file(tiny_repo: Path, capsys):
    """A missing model is check's finding (PLN215): apply runs check's rules first and exits 1, as check does."""
    (tiny_repo / "models" / "tiny.onnx").unlink()
    assert apply(tiny_repo) == 1
    err = capsys.readouterr().err
    assert "tiny.yaml" in err and "PLN215" in err and "does not exist" in err and _no_output(tiny_repo)


def test_a_model_symlinked_out_of_the_repository_is_refused_at_its_line(tiny_repo: Path, capsys):
    model = tiny_repo / "models" / "tiny.onnx"
    outside = tiny_repo.parent / f"{tiny_repo.name}-outside.onnx"
    model.replace(outside)
    model.symlink_to(outside)
    line = (tiny_repo / "plans" / "tiny.yaml").read_text().splitlines().index("      onnx: models/tiny.onnx") + 1
    assert apply(tiny_repo) == 1   # check's PLN220, as planctl check reports it
    err = capsys.readouterr().err
    assert f"tiny.yaml:{line}:" in err and "PLN220" in err and "a symlink" in err
    assert _no_output(tiny_repo)


def test_wrong_sha256(tiny_repo: Path, capsys):
    plan = tiny_repo / "plans" / "tiny.yaml"
    text = plan.read_text()
    sha = text.split("sha256: ")[1].split()[0]
    plan.write_text(text.replace(sha, "a" * 64))
    assert apply(tiny_repo) == 1   # check's PLN216
    err = capsys.readouterr().err
    assert "sha256" in err and "PLN216" in err and "tiny.yaml:" in err and _no_output(tiny_repo)


def test_unknown_target(tiny_repo: Path, capsys):
    code = main(["apply", str(tiny_repo / "plans" / "tiny.yaml"), "--target", "riscv-v",
                 "--root", str(tiny_repo), "--out", str(tiny_repo / "out")])
    assert code == 2
    assert "riscv-v" in capsys.readouterr().err and _no_output(tiny_repo)


def test_malformed_yaml(tiny_repo: Path, capsys):
    plan = tiny_repo / "plans" / "tiny.yaml"
    plan.write_text(plan.read_text().replace("kind: compute", "kind: [compute"))
    assert apply(tiny_repo) == 2
    err = capsys.readouterr().err
    assert "tiny.yaml:" in err and "Traceback" not in err and _no_output(tiny_repo)


def test_a_schema_finding_stops_apply_with_checks_exit_code(tiny_repo: Path, capsys):
    """An unknown key is a finding, not unparsable input: apply and check both exit 1 (PLN101), and
    underline the same span."""
    plan = tiny_repo / "plans" / "tiny.yaml"
    plan.write_text(plan.read_text().replace("    kind: compute\n", "    kind: compute\n    colour: red\n"))
    assert apply(tiny_repo) == 1
    err = capsys.readouterr().err
    assert "PLN101" in err and "colour" in err and "Traceback" not in err and _no_output(tiny_repo)
    assert "24 |     colour: red\n" + " " * len("24 |     ") + "^" * len("colour: red") + "\n" in err
    assert main(["check", "--root", str(tiny_repo), str(plan)]) == 1
    assert "^" * len("colour: red") + "\n" in capsys.readouterr().out


def test_operator_tvm_cannot_import(tiny_repo: Path, capsys, make_tiny_model):
    sha = make_tiny_model(tiny_repo / "models" / "tiny.onnx", op="MyCustomOp", domain="com.example")
    plan = tiny_repo / "plans" / "tiny.yaml"
    text = plan.read_text()
    plan.write_text(text.replace(text.split("sha256: ")[1].split()[0], sha))
    assert apply(tiny_repo) == 2
    err = capsys.readouterr().err
    assert "MyCustomOp" in err and "'act'" in err and "opset" in err
    assert "Traceback" not in err and _no_output(tiny_repo)


def test_verify_replay_reruns_a_saved_counterexample(tiny_repo: Path, capsys):
    import numpy as np

    from planctl.verify.counterexample import save_counterexample

    assert apply(tiny_repo) == 0
    out_dir = tiny_repo / "out" / "tiny-mlp" / "x86-64-avx2"
    x = np.full((32, 128), 0.5, dtype="float32")
    from planctl.runtime import load

    good = load(out_dir)(x=x)[0]
    tolerances = {"y": (1e-4, 1e-5)}
    fixed = save_counterexample(out_dir / "fixed.npz", {"inputs": {"x": x}, "reference": [good],
                                "candidate": [good], "names": ["y"], "reason": "test"}, {"batch": 32}, tolerances, 0)
    broken = save_counterexample(out_dir / "broken.npz", {"inputs": {"x": x}, "reference": [good + 1.0],
                                 "candidate": [good], "names": ["y"], "reason": "test"}, {"batch": 32}, tolerances, 0)
    assert main(["verify", "replay", str(fixed)]) == 0
    assert "no longer reproduces" in capsys.readouterr().out
    assert main(["verify", "replay", str(broken)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_missing_records_file_is_reported_at_its_line_before_any_build(tiny_repo: Path, capsys):
    plan = tiny_repo / "plans" / "tiny.yaml"
    text = plan.read_text().replace("    - technique: autotuning\n",
                                    "    - technique: autotuning\n      records: records/none.jsonl\n")
    plan.write_text(text)
    line = text.splitlines().index("      records: records/none.jsonl") + 1
    assert apply(tiny_repo) == 1   # check's PLN215
    err = capsys.readouterr().err
    assert f"tiny.yaml:{line}:" in err and "PLN215" in err and "records/none.jsonl" in err and _no_output(tiny_repo)


def test_a_host_without_the_targets_isa_is_refused_before_any_build(tiny_repo: Path, capsys, tmp_path, monkeypatch):
    """The target's LLVM mcpu (haswell: AVX2, FMA) against a CPU that has neither: a located error
    (the target document's mcpu line), exit 2, nothing built or written."""
    fingerprint = tmp_path / "old-cpu.json"
    fingerprint.write_text(json.dumps({"cpu": {"model": "Old CPU", "machine": "x86_64",
                                               "flags": ["sse", "sse2", "pni", "ssse3", "sse4_1", "sse4_2", "popcnt"]}}))
    monkeypatch.setenv("PLANCTL_HOST_FINGERPRINT", str(fingerprint))
    assert apply(tiny_repo) == 2
    err = capsys.readouterr().err
    assert "x86-64-avx2.yaml:" in err and "error[PLN310]" in err
    assert "Old CPU (x86_64) lacks" in err and "avx2" in err and "fma" in err
    assert "planctl targets" in err
    assert not (tiny_repo / "out" / "tiny-mlp").exists()


def test_tune_command_logs_library_output_and_says_what_a_refine_bought(tiny_repo: Path, capsys):
    """``planctl tune``: per bucket what serves each task, TVM's chatter in its own log (as apply's),
    progress lines named after the command, and ``--refine``'s best time before and after."""
    tune = ["-v", "tune", str(tiny_repo / "plans" / "tiny.yaml"), "--target", "x86-64-avx2",
            "--root", str(tiny_repo), "--cache", str(tiny_repo / "cache")]
    assert main(tune) == 0
    said = capsys.readouterr()
    assert "batch-32: 1/1 tasks with a valid record" in said.out
    log = tiny_repo / "cache" / "logs" / "tune-tiny-x86-64-avx2.log"
    assert f"log: {log}" in said.out and log.is_file()
    assert "planctl tune: tuning at batch=32" in said.err and "planctl apply:" not in said.err

    assert main([*tune, "--refine", "*"]) == 0
    out = capsys.readouterr().out
    refined = [line for line in out.splitlines() if line.startswith("  refined ")]
    assert len(refined) == 1 and " ms" in refined[0]   # "<before> -> <after> ms (...)" or "no faster record"
    assert "  note: searched again though served (--refine), from their records: " in out   # the search's notes

    assert main([*tune, "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["log"] == str(log)

    # a pattern that names no task is refused before any bucket is searched, with the task names
    assert main([*tune, "--refine", "*", "--refine", "fused_matmull*"]) == 2
    said = capsys.readouterr()
    assert "--refine 'fused_matmull*' matched no task of any bucket" in said.err and "tasks here:" in said.err
    assert "refined" not in said.out and "searched again" not in said.err

    # a bucket prefix that names none of the plan's buckets is refused from the plan alone, before lowering
    assert main([*tune, "--refine", "batch-23:*"]) == 2
    said = capsys.readouterr()
    assert "--refine 'batch-23:*': the bucket prefix matches none of the plan's buckets" in said.err
    assert "the buckets are batch-32" in said.err and "planctl tune: import" not in said.err


def test_tune_says_it_lowers_before_refusing_a_refine_that_names_no_task(tiny_repo: Path, capsys):
    """The task names come from the lowered buckets (tens of seconds on MiniLM): one line says so
    first, without -v and off a terminal, and the refusal stays as it was."""
    tune = ["tune", str(tiny_repo / "plans" / "tiny.yaml"), "--target", "x86-64-avx2", "--root", str(tiny_repo),
            "--cache", str(tiny_repo / "cache"), "--refine", "typo*"]
    assert main(tune) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "planctl tune: lowering 1 bucket to find the tasks --refine 'typo*' names, before any search"
    assert any("--refine 'typo*' matched no task of any bucket" in line for line in lines[1:])


def test_verify_replay_runs_the_counterexamples_own_bucket():
    """A multi-bucket output: the counterexample of 8 x 16 runs 8 x 16's candidate, not the manifest's
    first bucket's (which refused its shape and reported a false reproduction)."""
    from planctl.cli.verify import library_for

    manifest = {"candidate": "candidate-batch-1_seq-64.so", "baseline": "baseline-dynamic.so", "buckets": [
        {"shape_env": {"batch": 1, "seq": 64}, "candidate": "candidate-batch-1_seq-64.so", "baseline": "b.so"},
        {"shape_env": {"batch": 8, "seq": 16}, "candidate": "candidate-batch-8_seq-16.so", "baseline": "b.so"}]}
    assert library_for(manifest, {"batch": 8, "seq": 16}, fallback=False) == "candidate-batch-8_seq-16.so"
    assert library_for(manifest, {"batch": 8, "seq": 16}, fallback=True) == "b.so"
    assert library_for({"candidate": "candidate.so"}, {"batch": 32}, fallback=False) == "candidate.so"


def test_verify_replay_with_a_library_needs_no_manifest(tiny_repo: Path, tmp_path: Path, capsys):
    import shutil

    import numpy as np

    from planctl.verify.counterexample import save_counterexample

    assert apply(tiny_repo) == 0
    out_dir = tiny_repo / "out" / "tiny-mlp" / "x86-64-avx2"
    x = np.full((32, 128), 0.5, dtype="float32")
    from planctl.runtime import load

    good = load(out_dir)(x=x)[0]
    alone = save_counterexample(tmp_path / "alone.npz", {"inputs": {"x": x}, "reference": [good],
                                "candidate": [good], "names": ["y"], "reason": "test"}, {"batch": 32},
                                {"y": (1e-4, 1e-5)}, 0)
    library = tmp_path / "candidate.so"
    shutil.copy(out_dir / json.loads((out_dir / "manifest.json").read_text())["candidate"], library)
    assert main(["verify", "replay", str(alone), "--library", str(library)]) == 0
    assert "no longer reproduces" in capsys.readouterr().out
