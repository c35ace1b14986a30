"""Issue 12 B: a rollback never deploys a build known to be wrong, and the runtime's fallback
switch never runs an unverified build.

The model: X f32[1,1,3,3] -> Resize(scales 2.5, half_pixel), which TVM 0.27 imports wrong: the
baseline build (what a rollback deploys) fails parity as the candidate does, so the verdict is
``reject`` and nothing new is deployed.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from planctl.cli.main import main
from planctl.errors import PlanctlError

sys.path.insert(0, str(Path(__file__).parent))
import bad_models as bm  # noqa: E402

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")
SWITCH = "PLANCTL_DISABLE_UPSAMPLE"


def upsample_repo(root: Path, mode: str = "nearest", scale: float = 2.5) -> Path:
    model = root / "models" / "resize.onnx"
    bm.resize(model, mode, scale)
    return bm.make_repo(root, bm.plan("upsample", "models/resize.onnx", bm.sha256(model),
                                      [bm.floats("X", [1, 1, 3, 3])], ["Y"]))


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_a_wrong_import_is_rejected_and_nothing_is_deployed(tmp_path, capsys, monkeypatch, mode):
    from planctl.runtime import load

    plan_file = upsample_repo(tmp_path, mode)
    assert main(bm.apply_args(tmp_path, plan_file)) == 1
    err = capsys.readouterr().err
    assert "error[PLN011] reject: no verified build may serve this plan" in err and "parity" in err
    live, rejected = tmp_path / "out" / "upsample" / "x86-64-avx2", tmp_path / "out" / "upsample" / "x86-64-avx2.rejected"
    assert not live.exists()
    record = json.loads((rejected / "report.json").read_text())
    assert record["decision"]["verdict"] == "reject"
    assert any("the baseline build (the fallback) fails parity" in r for r in record["decision"]["reasons"])
    assert record["bisect"]["note"].startswith("the envelope is violated with no technique at all")
    fallback_parity = record["builds"][0]["fallback_parity"]
    assert not fallback_parity["passed"] and Path(fallback_parity["counterexample"]).is_file()
    capsys.readouterr()
    assert main(fallback_parity["replay"].split()[1:]) == 1   # the replay command reruns the baseline
    assert "reproduced" in capsys.readouterr().out
    assert {k: record["fallback"][k] for k in ("switch", "library", "verified")} == {
        "switch": SWITCH, "library": None, "verified": False}
    assert set(record["fallback"]["buckets"].values()) == {None}   # no bucket has a verified fallback
    manifest = json.loads((rejected / "manifest.json").read_text())
    assert manifest["artifact"] is None and manifest["fallback"] is None
    with pytest.raises(PlanctlError, match="verdict reject"):
        load(rejected)
    monkeypatch.setenv(SWITCH, "1")
    with pytest.raises(PlanctlError, match="no verified fallback build"):
        load(rejected)


def test_a_reject_leaves_the_promoted_output_live(tmp_path, capsys):
    import numpy as np

    from planctl.runtime import load

    plan_file = upsample_repo(tmp_path, scale=2.0)   # TVM imports this one right
    assert main(bm.apply_args(tmp_path, plan_file)) == 0
    live = tmp_path / "out" / "upsample" / "x86-64-avx2"
    promoted = (live / "manifest.json").read_text()
    bm.resize(tmp_path / "models" / "resize.onnx", "nearest", 2.5)   # the model changes to one TVM gets wrong
    text = plan_file.read_text()
    old = text.split("sha256: ")[1].split()[0]
    plan_file.write_text(text.replace(old, bm.sha256(tmp_path / "models" / "resize.onnx")))
    assert main(bm.apply_args(tmp_path, plan_file)) == 1
    assert "error[PLN011]" in capsys.readouterr().err
    assert (live / "manifest.json").read_text() == promoted   # untouched
    run = load(live)
    assert run.which == "candidate" and run(X=np.zeros((1, 1, 3, 3), np.float32))[0].shape == (1, 1, 6, 6)
    assert json.loads((live.with_name("x86-64-avx2.rejected") / "manifest.json").read_text())["verdict"] == "reject"


def test_the_fallback_switch_never_runs_an_unverified_baseline(tmp_path, capsys, monkeypatch):
    """A candidate that passes while the baseline does not: promoted, but the switch is refused."""
    import numpy as np

    from planctl.apply.stages import verify
    from planctl.runtime import load
    from planctl.verify.parity import ParityResult

    plan_file = upsample_repo(tmp_path, scale=2.0)
    wrong = ParityResult(False, {}, 1, {}, reason="Y: 12 of 36 elements outside tolerance (max abs error 1)")
    monkeypatch.setattr(verify, "_fallback_parity", lambda *_, **__: wrong)
    assert main(bm.apply_args(tmp_path, plan_file)) == 0
    live = tmp_path / "out" / "upsample" / "x86-64-avx2"
    record = json.loads((live / "report.json").read_text())
    assert record["decision"]["verdict"] == "promote" and not record["fallback"]["verified"]
    assert any("the fallback switch has no verified build" in r for r in record["decision"]["reasons"])
    manifest = json.loads((live / "manifest.json").read_text())
    assert manifest["fallback"] is None and (live / manifest["baseline"]).is_file()
    x = np.zeros((1, 1, 3, 3), np.float32)
    assert load(live)(X=x)[0].shape == (1, 1, 6, 6)
    monkeypatch.setenv(SWITCH, "1")
    with pytest.raises(PlanctlError, match="no verified fallback build .*12 of 36 elements"):
        load(live)
    # an output written before fallbacks were verified has no `fallback`: the switch is refused too
    del manifest["fallback"], manifest["fallback_reason"]
    (live / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PlanctlError, match="before planctl verified fallback builds"):
        load(live)


def test_a_library_changed_after_apply_is_refused_at_load(tmp_path, capsys):
    """The runtime compares each library's sha256 with the manifest's before it loads it: another
    build copied over the promoted one (or a copy cut short) is refused, not run."""
    import numpy as np

    from planctl.runtime import load

    plan_file = upsample_repo(tmp_path, scale=2.0)
    assert main(bm.apply_args(tmp_path, plan_file)) == 0
    live = tmp_path / "out" / "upsample" / "x86-64-avx2"
    manifest = json.loads((live / "manifest.json").read_text())
    assert manifest["sha256"][manifest["artifact"]]
    with open(live / manifest["artifact"], "ab") as library:   # still a loadable ELF file, but not the one verified
        library.write(b"\0" * 16)
    with pytest.raises(PlanctlError, match="the file changed after apply wrote it"):
        load(live)
    x = np.zeros((1, 1, 3, 3), np.float32)
    assert load(live, verify=False)(X=x)[0].shape == (1, 1, 6, 6)   # the caller's choice, said out loud
    del manifest["sha256"][manifest["artifact"]]   # a manifest edited to name a library apply never summed
    (live / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PlanctlError, match="records no sha256 for it, as it does for the others"):
        load(live)
