"""planctl.documents.edit: keep_float written into a plan for review, the rest of the file kept."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from planctl.documents.edit import set_keep_float
from planctl.documents.load import load_plan
from planctl.errors import DocumentError

REPO = Path(__file__).resolve().parents[2]
PLAN = REPO / "plans" / "minilm-embed-int8.yaml"


def quantization_index(path: Path) -> int:
    return next(i for i, t in enumerate(load_plan(path).model.spec.optimizations) if t.technique == "quantization")


def test_keep_float_is_added_and_nothing_else_changes(tmp_path: Path):
    plan = tmp_path / "plan.yaml"
    shutil.copy(PLAN, plan)
    before = plan.read_text().splitlines()
    index = quantization_index(plan)
    written = set_keep_float(plan, index, ["node_MatMul_250", "node_MatMul_215"])
    after = plan.read_text().splitlines()
    added = [line for line in after if line not in before]
    assert [line.strip() for line in added] == ["keep_float: [node_MatMul_250, node_MatMul_215]"]
    assert len(after) == len(before) + 1 - sum(1 for line in before if line not in after)
    assert load_plan(plan).model.spec.optimizations[index].keep_float == written
    assert set_keep_float(plan, index, ["node_MatMul_215", "node_MatMul_92"]) == [
        "node_MatMul_250", "node_MatMul_215", "node_MatMul_92"]          # merged, no duplicates


def test_a_technique_that_is_not_quantization_is_refused_and_the_file_untouched(tmp_path: Path):
    plan = tmp_path / "plan.yaml"
    shutil.copy(PLAN, plan)
    text = plan.read_text()
    with pytest.raises(DocumentError, match="not a quantization"):
        set_keep_float(plan, 0, ["node_MatMul_250"])
    assert plan.read_text() == text
