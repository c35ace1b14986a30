"""Issue 12 A: apply never applies a plan that `planctl check` rejects, and a float16 build that
returns NaN on rows of large magnitude inside the declared domain is caught by the domain corners.

The plan: mixed-precision (float16) on x86-64-avx2, which has no float16 (PLN206) and no review or
quality set (PLN203). The model: X f32[1,4,64] -> MatMul(W ~ N(0, 0.1^2)) -> LayerNormalization.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from planctl.cli.main import main

sys.path.insert(0, str(Path(__file__).parent))
import bad_models as bm  # noqa: E402

FP16 = {"technique": "mixed-precision", "precision": {"weights": "float16", "activations": "float16", "kv_cache": "none"}}
WAIVERS = {"planctl.dev/waive.PLN206": "issue 12 A: the float16 build is judged by parity here",
           "planctl.dev/waive.PLN203": "issue 12 A: parity only, no quality set in this test"}


def fp16_plan(root: Path, waived: bool = False) -> Path:
    bm.matmul_layernorm(root / "models" / "ln.onnx")
    doc = bm.plan("fp16-layernorm", "models/ln.onnx", bm.sha256(root / "models" / "ln.onnx"),
                  [bm.floats("X", [1, 4, 64], -3.0e4, 3.0e4)], ["Y"], optimizations=[FP16])
    doc["spec"]["bottleneck"]["layer"] = "kernel"
    doc["spec"]["envelope"]["parity"]["default"] = {"rtol": 1.0e-2, "atol": 1.0e-2}
    if waived:
        doc["metadata"]["annotations"] = WAIVERS
    return bm.make_repo(root, doc)


def line_of(plan_file: Path, text: str) -> int:
    return next(i for i, line in enumerate(plan_file.read_text().splitlines(), start=1) if text in line)


def test_a_plan_check_rejects_is_not_applied(tmp_path, capsys):
    plan_file = fp16_plan(tmp_path)
    assert main(["check", str(plan_file), "--root", str(tmp_path)]) == 1
    checked = capsys.readouterr().out
    assert main(bm.apply_args(tmp_path, plan_file)) == 1
    err = capsys.readouterr().err
    # the same findings, at the same lines, then why apply stopped; nothing was built or written
    activations = line_of(plan_file, "activations: float16")
    assert f"plan.yaml:{activations}:" in err and "error[PLN206]" in err and "error[PLN203]" in err
    assert "error[PLN200] apply stopped before any build" in err and "Traceback" not in err
    for rule in ("PLN206", "PLN203"):
        assert rule in checked
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()



def test_apply_offers_a_waiver_only_for_rules_that_accept_one(tmp_path, capsys):
    """A text file as the model (PLN224): no waiver accepts it, and the hint does not offer one."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.onnx").write_text("not a model\n")
    doc = bm.plan("text-model", "models/m.onnx", bm.sha256(tmp_path / "models" / "m.onnx"),
                  [bm.floats("X", [1, 4], -1.0, 1.0)], ["Y"])
    assert main(bm.apply_args(tmp_path, bm.make_repo(tmp_path, doc))) == 1
    err = capsys.readouterr().err
    assert "error[PLN224]" in err and "error[PLN200]" in err
    assert "(no waiver accepts PLN224)" in err
    assert "waive each" not in err

def test_check_runs_before_an_up_to_date_skip(tmp_path, capsys, monkeypatch):
    """A live output made from the same inputs is no excuse: the rules (and waiver expiry) run first."""
    from planctl.apply import inputs

    plan_file = fp16_plan(tmp_path)
    monkeypatch.setattr(inputs, "live_output", lambda *_: {"decision": {"verdict": "promote"}, "created": "x"})
    assert main(bm.apply_args(tmp_path, plan_file)) == 1
    assert "error[PLN200]" in capsys.readouterr().err


def test_an_expired_waiver_stops_apply(tmp_path, capsys):
    plan_file = fp16_plan(tmp_path, waived=True)
    text = plan_file.read_text().replace("judged by parity here", "judged by parity here; expires=2020-01-01")
    plan_file.write_text(text)
    assert main(bm.apply_args(tmp_path, plan_file)) == 1
    assert "error[PLN206]" in capsys.readouterr().err


@pytest.mark.tvm
def test_waived_float16_plan_is_rolled_back_by_a_corner_row(tmp_path, capsys):
    pytest.importorskip("tvm")
    plan_file = fp16_plan(tmp_path, waived=True)
    assert main(bm.apply_args(tmp_path, plan_file)) == 1
    out_dir = tmp_path / "out" / "fp16-layernorm" / "x86-64-avx2"
    record = json.loads((out_dir / "report.json").read_text())
    parity = record["parity"][0]
    # random draws inside [-3e4, 3e4] pass; a corner (rows of large magnitude) gives NaN where
    # onnxruntime is finite, a violation whatever the tolerance says
    assert not parity["passed"] and parity["corners"] >= 1 and "non-finite" in parity["reason"]
    assert parity["outputs"]["Y"]["nonfinite"] > 0
    assert {f["rule"] for f in record["legality"]["findings"] if f["waived"]} == {"PLN203", "PLN206"}
    assert record["decision"]["verdict"] == "rollback" and record["bisect"]["culprits"] == ["mixed-precision"]
    # what is deployed is the baseline, and it passed the same parity check (corners included)
    assert record["fallback"]["verified"] and record["builds"][0]["fallback_parity"]["passed"]
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["artifact"] == manifest["baseline"] == manifest["fallback"]


def test_plan_refuses_what_check_rejects_with_checks_findings(tmp_path, capsys):
    """``planctl plan`` would otherwise print (and save, with -o) a plan that apply then refuses."""
    plan_file = fp16_plan(tmp_path)
    saved = tmp_path / "saved.lock.yaml"
    assert main(["plan", str(plan_file), "--target", "x86-64-avx2", "--root", str(tmp_path),
                 "--cache", str(tmp_path / "cache"), "-o", str(saved)]) == 1
    err = capsys.readouterr().err
    assert "error[PLN206]" in err and "error[PLN200] plan stopped before any build" in err and "Traceback" not in err
    assert not saved.exists()


def test_a_target_the_plan_does_not_name_is_a_usage_error(tmp_path, capsys):
    """Not PLN100 (unparsable YAML): its own code, at the plan's targets list, naming them."""
    repo = Path(__file__).resolve().parents[2]
    plan_file = repo / "plans" / "minilm-embed.yaml"
    for command in ("tune", "plan"):
        assert main([command, str(plan_file), "--target", "nosuch", "--root", str(repo),
                     "--cache", str(tmp_path / "cache")]) == 2
        err = capsys.readouterr().err
        targets = line_of(plan_file, "targets: [")
        assert f"minilm-embed.yaml:{targets}:" in err and "Traceback" not in err
        assert "error[PLN003] target 'nosuch' is not one of the plan's targets (x86-64-avx2, x86-64-avx512)" in err
        assert "help: use --target with one of x86-64-avx2, x86-64-avx512 (`planctl targets`" in err
    # a typo: the hint names the closest target, not the plan's first
    assert main(["apply", str(plan_file), "--target", "x86-64-avx51", "--root", str(repo),
                 "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]) == 2
    assert "help: did you mean --target x86-64-avx512?" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("broken, code, rule", [("unknown-key", 1, "PLN101"), ("unparsable", 2, "PLN100")])
def test_a_plan_that_fails_validate_ends_with_the_gates_line_and_keeps_validates_exit_code(tmp_path, capsys,
                                                                                           broken, code, rule):
    """Every validate finding at its line, then PLN200's line as for check's rules; exit 1, or 2
    for a file that cannot be parsed (as validate and check exit); nothing written."""
    plan_file = fp16_plan(tmp_path, waived=True)
    text = plan_file.read_text()
    plan_file.write_text(text.replace("  workload:", "  workloadz: 1\n  workload:", 1) if broken == "unknown-key"
                         else text + "metadata: {name: x\n")
    assert main(["check", str(plan_file), "--root", str(tmp_path)]) == code
    capsys.readouterr()
    for command in ("apply", "tune"):
        args = bm.apply_args(tmp_path, plan_file)[:-2] if command == "apply" else \
            [command, str(plan_file), "--target", "x86-64-avx2", "--root", str(tmp_path), "--cache", str(tmp_path / "cache")]
        assert main(args) == code
        err = capsys.readouterr().err.rstrip()
        assert f"error[{rule}]" in err and "Traceback" not in err
        last = err.splitlines()[-2:]
        assert f"error[PLN200] {command} stopped before any build: planctl check reports 1 error for this plan ({rule})" \
            in last[0] and last[1].startswith("  help: fix it")
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()
