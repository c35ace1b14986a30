"""Issue 12 F: an envelope means what it says. A tolerance of ``.inf`` (or ``1e999``, which YAML
reads as infinity) would let a model TVM computes wrong be promoted with "parity held": it is
refused before anything is built, at its line; and a report never prints a tolerance as null."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from planctl.cli.main import main

sys.path.insert(0, str(Path(__file__).parent))
import bad_models as bm  # noqa: E402


def wrong_model_repo(root: Path, atol: str, where: str) -> tuple[Path, int]:
    """The Resize model TVM imports wrong, with ``atol`` (YAML text) as the default tolerance or
    as output Y's; the plan and the line of that atol."""
    bm.resize(root / "models" / "resize.onnx", "nearest", 2.5)
    doc = bm.plan("upsample", "models/resize.onnx", bm.sha256(root / "models" / "resize.onnx"),
                  [bm.floats("X", [1, 1, 3, 3], -8.0, 8.0)], ["Y"])
    if where == "output":
        doc["spec"]["envelope"]["parity"]["outputs"] = {"Y": {"rtol": 1.0e-4, "atol": 12345.0}}
    else:
        doc["spec"]["envelope"]["parity"]["default"]["atol"] = 12345.0
    plan_file = bm.make_repo(root, doc)
    text = plan_file.read_text().replace("atol: 12345.0", f"atol: {atol}")
    plan_file.write_text(text)
    return plan_file, next(i for i, line in enumerate(text.splitlines(), 1) if f"atol: {atol}" in line)


@pytest.mark.parametrize("where", ["default", "output"])
@pytest.mark.parametrize("atol", [".inf", "1e999", ".Inf"])
def test_an_infinite_tolerance_is_refused_at_its_line(tmp_path, capsys, atol, where):
    plan_file, line = wrong_model_repo(tmp_path, atol, where)
    assert main(bm.apply_args(tmp_path, plan_file)) == 1   # validate's finding PLN121, check's exit code
    err = capsys.readouterr().err
    assert f"plan.yaml:{line}:" in err and "atol" in err and "Traceback" not in err, err
    assert not (tmp_path / "out" / "upsample").exists()


@pytest.mark.tvm
def test_a_report_prints_every_tolerance_as_a_number(tmp_path):
    pytest.importorskip("tvm")
    bm.mlp(tmp_path / "models" / "mlp.onnx")
    doc = bm.plan("mlp", "models/mlp.onnx", bm.sha256(tmp_path / "models" / "mlp.onnx"), [bm.floats("X", [4, 16])],
                  ["Y"])
    doc["spec"]["envelope"]["parity"]["outputs"] = {"Y": {"rtol": 2.0e-4, "atol": 3.0e-5}}
    assert main(bm.apply_args(tmp_path, bm.make_repo(tmp_path, doc))) == 0
    out_dir = tmp_path / "out" / "mlp" / "x86-64-avx2"
    record = json.loads((out_dir / "report.json").read_text())
    for key in ("parity",):
        for result in record[key]:
            assert result["outputs"]["Y"]["rtol"] == 2.0e-4 and result["outputs"]["Y"]["atol"] == 3.0e-5
    fallback = record["builds"][0]["fallback_parity"]["outputs"]["Y"]
    assert (fallback["rtol"], fallback["atol"]) == (2.0e-4, 3.0e-5)
    row = next(line for line in (out_dir / "report.md").read_text().splitlines() if line.startswith("| static | Y"))
    assert "| 0.0002 | 3e-05 |" in row and "null" not in row and "—" not in row.split("|")[6:8]
