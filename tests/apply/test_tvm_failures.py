"""Issue 12 C: every exception TVM raises while importing, transforming or building becomes a
located PLN500 finding (stage, running pass, ONNX node where known, TVM's message, crash log).
A failure of the import or of TVM's own baseline build stops apply (exit 2: nothing verified to fall
back to); a failure of the plan's candidate is reported with the technique that causes it, and the
run rolls back to the verified baseline. Never exit 3.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from planctl.cli.main import main

sys.path.insert(0, str(Path(__file__).parent))
import bad_models as bm  # noqa: E402

pytestmark = pytest.mark.tvm
tvm = pytest.importorskip("tvm")
TECHNIQUES = [{"technique": "constant-folding"}, {"technique": "dead-code-elimination"}]


def boom(name: str):
    """A module pass named ``name`` that raises as TVM's C++ checks do."""
    @tvm.transform.module_pass(opt_level=0, name=name)
    def fail(mod, _ctx):
        raise tvm.error.InternalError(f"Check failed: (false) is false: {name} was told to fail")
    return fail


def inject_import(monkeypatch):
    from tvm.relax.frontend.onnx import onnx_frontend

    def converter(cls, opset):
        def convert(*_args, **_kw):
            raise ValueError("Relu: the converter was told to fail")
        return convert
    monkeypatch.setattr(onnx_frontend.Relu, "get_converter", classmethod(converter))


def inject_baseline(monkeypatch):   # a pass of tvm.compile's default pipeline (the candidate's too)
    monkeypatch.setattr(tvm.relax.transform, "KillAfterLastUse", lambda: boom("test.KillAfterLastUse"))


def inject_technique(monkeypatch):   # the pass of one plan technique
    from planctl.lowering import techniques

    broken = techniques.TechniqueImpl("dead-code-elimination", "graph", lambda *_: [boom("test.DCE")], "broken")
    monkeypatch.setitem(techniques.REGISTRY, "dead-code-elimination", broken)


def inject_legalize(monkeypatch):   # a pass of the candidate's legalization, whatever the plan enables
    monkeypatch.setattr(tvm.relax.transform, "AnnotateTIROpPattern", lambda: boom("test.AnnotateTIROpPattern"))


def inject_build(monkeypatch):   # a pass of the candidate's final lowering (relax.build)
    from planctl.lowering import backend

    real = backend.backend_pipeline

    class Backend:
        def __init__(self, target):
            self.real = real(target)

        def __getattr__(self, name):
            return getattr(self.real, name)

        def finalize_passes(self, target):
            return [*self.real.finalize_passes(target), boom("test.Finalize")]
    monkeypatch.setattr(backend, "backend_pipeline", Backend)


def inject_export(monkeypatch):   # exporting the candidate's library
    executable = tvm.relax.VMExecutable
    real = executable.export_library

    def export(self, path, *args, **kwargs):
        if "candidate" in str(path):
            raise tvm.error.InternalError("export was told to fail")
        return real(self, path, *args, **kwargs)
    monkeypatch.setattr(executable, "export_library", export)


# point -> (inject, exit code, stage, pass running, ONNX node, technique named as the cause)
POINTS = {
    "import": (inject_import, 2, "import", None, "'act' (Relu)", None),
    "baseline-build": (inject_baseline, 2, "baseline-build", "test.KillAfterLastUse", None, None),
    "technique-pass": (inject_technique, 1, "passes", "test.DCE", None, "dead-code-elimination"),
    "legalize-pass": (inject_legalize, 1, "passes", "test.AnnotateTIROpPattern", None, None),
    "build-pass": (inject_build, 1, "candidate-build", "test.Finalize", None, None),
    "export": (inject_export, 1, "candidate-build", None, None, None),
}


def mlp_repo(root: Path) -> Path:
    bm.mlp(root / "models" / "mlp.onnx")
    return bm.make_repo(root, bm.plan("mlp", "models/mlp.onnx", bm.sha256(root / "models" / "mlp.onnx"),
                                      [bm.floats("X", [4, 16])], ["Y"], optimizations=TECHNIQUES))


@pytest.mark.parametrize("point", list(POINTS))
def test_a_tvm_failure_is_a_located_finding(tmp_path, capsys, monkeypatch, point):
    inject, code, stage, pass_name, node, technique = POINTS[point]
    plan_file = mlp_repo(tmp_path)
    inject(monkeypatch)
    assert main(bm.apply_args(tmp_path, plan_file)) == code
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err
    if code == 2:   # nothing verified to fall back to: a located error, nothing written
        # at the plan's workload.model.onnx line, the model named as the plan names it
        line = next(i for i, text in enumerate(plan_file.read_text().splitlines(), 1) if "onnx: models/mlp.onnx" in text)
        assert err.startswith(f"{plan_file}:{line}:") and str(tmp_path / "models") not in err.split("help:")[0]
        assert f"error[PLN500] TVM failed in stage {stage} [static] of models/mlp.onnx" in err
        assert (f"pass {pass_name}" in err) if pass_name else "pass " not in err.split("help:")[0]
        assert (f"ONNX node {node}" in err) if node else "ONNX node" not in err
        log = Path(err.split("crash log: ")[1].split()[0])
        assert log.is_file() and "Traceback" in log.read_text() and "told to fail" in log.read_text()
        assert not (tmp_path / "out").exists()   # no lock file either
        return
    out_dir = tmp_path / "out" / "mlp" / "x86-64-avx2"
    record = json.loads((out_dir / "report.json").read_text())
    [failure] = record["failures"]
    assert (failure["code"], failure["stage"], failure["pass_name"], failure["technique"]) == \
        ("PLN500", stage, pass_name, technique)
    assert "told to fail" in failure["detail"] and Path(failure["log"]).parent == out_dir
    assert Path(failure["log"]).is_file()
    decision = record["decision"]
    assert decision["verdict"] == "rollback" and decision["reasons"][0].startswith("PLN500 TVM failed")
    assert record["fallback"]["verified"] and record["builds"][0]["libraries"]["candidate"] is None
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["artifact"] == manifest["fallback"] == manifest["baseline"] and manifest["candidate"] is None
    assert "TVM failures (PLN500)" in (out_dir / "report.md").read_text()


def test_an_operator_without_a_converter_is_located_at_the_plans_model_line(tmp_path, capsys):
    bm.celu(tmp_path / "models" / "celu.onnx")
    plan_file = bm.make_repo(tmp_path, bm.plan("celu", "models/celu.onnx", bm.sha256(tmp_path / "models" / "celu.onnx"),
                                               [bm.floats("X", [4, 16])], ["Y"], optimizations=TECHNIQUES))
    assert main(bm.apply_args(tmp_path, plan_file)) == 2
    err = capsys.readouterr().err
    line = next(i for i, text in enumerate(plan_file.read_text().splitlines(), 1) if "onnx: models/celu.onnx" in text)
    assert err.startswith(f"{plan_file}:{line}:") and "Traceback" not in err
    assert "error[PLN500] models/celu.onnx: TVM's ONNX frontend cannot import 1 node(s): 'act' (Celu" in err
    assert str(tmp_path / "models") not in err and not (tmp_path / "out").exists()


def take_last_repo(root: Path, techniques: list[dict]) -> Path:
    bm.take_last(root / "models" / "take_last.onnx")
    inputs = [bm.floats("X", [2, 8]),
              {"name": "S", "dtype": "int64", "shape": [1], "domain": {"kind": "integer-range", "min": -3, "max": -1}}]
    return bm.make_repo(root, bm.plan("take-last", "models/take_last.onnx", bm.sha256(root / "models" / "take_last.onnx"),
                                      inputs, ["Y"], optimizations=techniques))


def test_constant_folding_that_breaks_a_data_dependent_slice_rolls_back_naming_it(tmp_path, capsys):
    """The issue's case: Slice(X, starts=S) with S a runtime input; FoldConstant leaves a module whose
    build raises (no definition of shape_func). Raw TVM's build is right and is deployed."""
    plan_file = take_last_repo(tmp_path, [{"technique": "constant-folding"}])
    assert main(bm.apply_args(tmp_path, plan_file)) == 1
    out_dir = tmp_path / "out" / "take-last" / "x86-64-avx2"
    record = json.loads((out_dir / "report.json").read_text())
    [failure] = record["failures"]
    assert failure["stage"] == "candidate-build" and failure["technique"] == "constant-folding"
    assert failure["pass_name"] and "shape_func" in failure["detail"]
    assert record["bisect"]["violated"] == ["build"] and record["bisect"]["culprits"] == ["constant-folding"]
    # the fallback is verified at every value S takes: the corners -3, -1 and the values between
    fallback = record["builds"][0]["fallback_parity"]
    assert fallback["passed"] and fallback["corners"] >= 3
    assert record["decision"]["verdict"] == "rollback" and record["fallback"]["verified"]
    assert "technique constant-folding is the cause" in capsys.readouterr().out


def test_a_data_dependent_output_shape_is_verified_at_each_value_and_promoted(tmp_path):
    import numpy as np

    from planctl.runtime import load

    plan_file = take_last_repo(tmp_path, [{"technique": "dead-code-elimination"}])
    assert main(bm.apply_args(tmp_path, plan_file)) == 0
    out_dir = tmp_path / "out" / "take-last" / "x86-64-avx2"
    parity = json.loads((out_dir / "report.json").read_text())["parity"][0]
    assert parity["passed"] and parity["corners"] >= 3
    run = load(out_dir)
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(2, 8)
    for s in (-3, -2, -1):
        np.testing.assert_array_equal(run(X=x, S=np.array([s], np.int64))[0], x[:, s:])


def test_a_failure_at_one_shape_bucket_rolls_that_bucket_back_alone(tmp_path, monkeypatch):
    """Batch 1 builds; batch 2 raises in a technique's pass: the failure is located at its bucket,
    which rolls back alone to its verified baseline (verdict partial); batch 1 stays promoted."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from planctl.lowering import techniques

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["X", "W"], ["Y"], name="matmul")], "dyn",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["b", 16])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["b", 16])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    (tmp_path / "models").mkdir()
    onnx.save(model, str(tmp_path / "models" / "dyn.onnx"))
    doc = bm.plan("dyn", "models/dyn.onnx", bm.sha256(tmp_path / "models" / "dyn.onnx"), [bm.floats("X", ["batch", 16])],
                  ["Y"], optimizations=TECHNIQUES)
    doc["spec"]["workload"]["production_shapes"] = {"batch": {"min": 1, "opt": 1, "max": 2, "values": [1, 2]}}
    plan_file = bm.make_repo(tmp_path, doc)

    @tvm.transform.module_pass(opt_level=0, name="test.FailsAtBatch2")
    def fails_at_batch_2(mod, _ctx):
        if int(mod["main"].params[0].ty.shape[0]) == 2:
            raise tvm.error.InternalError("Check failed: batch 2 was told to fail")
        return mod
    broken = techniques.TechniqueImpl("dead-code-elimination", "graph", lambda *_: [fails_at_batch_2], "broken")
    monkeypatch.setitem(techniques.REGISTRY, "dead-code-elimination", broken)
    assert main(bm.apply_args(tmp_path, plan_file)) == 1
    out_dir = tmp_path / "out" / "dyn" / "x86-64-avx2"
    record = json.loads((out_dir / "report.json").read_text())
    [failure] = record["failures"]
    assert failure["shape"] == "batch-2" and failure["technique"] == "dead-code-elimination"
    assert [p["passed"] for p in record["parity"]] == [True, False]
    assert all(p["passed"] for p in (b["fallback_parity"] for b in record["builds"]))
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert record["decision"]["verdict"] == "partial"
    assert [(e["tag"], e["verdict"], e["serves"]) for e in manifest["buckets"]] == [
        ("batch-1", "promote", "candidate"), ("batch-2", "rollback", "baseline")]
    assert manifest["buckets"][1]["artifact"] == manifest["buckets"][1]["baseline"]


def test_a_failure_applying_the_tuned_schedules_is_located_and_rolls_back(tmp_path, monkeypatch):
    """The tuning stage's TVM pass (MetaScheduleApplyDatabase) raises: stage ``tuning``; the
    search itself is replaced by an empty report so the test needs no tuning run."""
    from planctl.apply.stages import tuning
    from planctl.tuning.search import TuningReport

    bm.mlp(tmp_path / "models" / "mlp.onnx")
    doc = bm.plan("mlp", "models/mlp.onnx", bm.sha256(tmp_path / "models" / "mlp.onnx"), [bm.floats("X", [4, 16])],
                  ["Y"], optimizations=[*TECHNIQUES, {"technique": "autotuning",
                                                      "budget": {"trials": 2, "wall_clock_s": 60, "trials_per_task": 1}}])
    doc["spec"]["bottleneck"]["layer"] = "kernel"
    plan_file = bm.make_repo(tmp_path, doc)
    monkeypatch.setattr(tuning, "_search", lambda ctx, *_: TuningReport(cache_dir=str(ctx.cache.store.path)))
    monkeypatch.setattr(tvm.relax.transform, "MetaScheduleApplyDatabase",
                        lambda **_: boom("test.MetaScheduleApplyDatabase"))
    assert main(bm.apply_args(tmp_path, plan_file)) == 1
    record = json.loads((tmp_path / "out" / "mlp" / "x86-64-avx2" / "report.json").read_text())
    [failure] = record["failures"]
    assert (failure["stage"], failure["pass_name"]) == ("tuning", "test.MetaScheduleApplyDatabase")
    assert record["decision"]["verdict"] == "rollback" and record["fallback"]["verified"]


def test_an_unreachable_rpc_farm_stops_apply_before_any_build(tmp_path, capsys):
    """A new user's target measured on a farm that was down: apply built every bucket, then timed out
    measuring and reported a rollback with TVM's "timeout 600". It now stops at once, naming the tracker."""
    import re
    import socket

    bm.celu(tmp_path / "models" / "celu.onnx")
    plan_file = bm.make_repo(tmp_path, bm.plan("celu", "models/celu.onnx", bm.sha256(tmp_path / "models" / "celu.onnx"),
                                               [bm.floats("X", [4, 16])], ["Y"]))
    with socket.socket() as probe:   # a loopback port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = tmp_path / "targets" / "x86-64-avx2.yaml"
    target.write_text(re.sub(r"measurement:\n    kind: local\n(    #.*\n)*    caches: cold\n",
                             f"measurement:\n    kind: rpc\n    tracker: 127.0.0.1:{port}\n    device_key: lab\n",
                             target.read_text()))
    assert "kind: rpc" in target.read_text()
    assert main(bm.apply_args(tmp_path, plan_file)) == 2
    err = capsys.readouterr().err
    assert f"error[PLN600] cannot reach the RPC tracker at 127.0.0.1:{port}" in err and "Traceback" not in err
    line = target.read_text().splitlines().index(f"    tracker: 127.0.0.1:{port}") + 1
    assert f"{target}:{line}:14: error[PLN600]" in err   # at the tracker's value: the line to fix
    assert "python -m tvm.exec.rpc_server --tracker" in err and not (tmp_path / "out").exists()


def test_a_failed_import_leaves_no_library_warning_on_the_terminal(tmp_path, capfd, monkeypatch):
    """TVM's half-built BlockBuilder warned "destroyed with remaining blocks" on the terminal, after
    planctl's error, when the exception holding it was dropped: it now dies inside the run's log."""
    plan_file = mlp_repo(tmp_path)
    inject_import(monkeypatch)
    (tmp_path / "cache").mkdir()   # the run keeps its log there
    assert main(bm.apply_args(tmp_path, plan_file)) == 2
    err = capfd.readouterr().err
    assert "error[PLN500] TVM failed in stage import" in err and "BlockBuilder" not in err
