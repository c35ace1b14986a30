"""load_plan / load_target / load_document / find_target: the API apply and check use."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from planctl.documents.load import (Loaded, find_target, load_document, load_plan, load_target,
                                    validate_file)
from planctl.documents.models import OptimizationPlan, Target
from planctl.errors import DocumentError, MissingReferenceError

HERE = Path(__file__).parent
VALID, INVALID = HERE / "valid", HERE / "invalid"


def test_load_plan_returns_model_data_index_and_digest():
    path = VALID / "minilm-embed.yaml"
    loaded = load_plan(path)
    assert isinstance(loaded, Loaded) and isinstance(loaded.model, OptimizationPlan)
    assert loaded.path == path
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.data["spec"]["targets"] == ["x86-64-avx2"]
    assert loaded.index.locate("/spec/targets/0")[0] == len(path.read_text().splitlines())


def test_load_document_dispatches_on_kind():
    assert isinstance(load_document(VALID / "x86-64-avx2.yaml").model, Target)
    assert load_document(VALID / "lock.yaml").model.kind == "Lock"


def test_load_target_rejects_a_plan_with_position():
    with pytest.raises(DocumentError) as info:
        load_target(VALID / "minilm-embed.yaml")
    err = info.value
    assert (err.code, err.line, err.exit_code) == ("PLN104", 3, 1)
    assert err.file == str(VALID / "minilm-embed.yaml") and err.pointer == "/kind"


def test_first_error_carries_file_line_col_and_hint():
    with pytest.raises(DocumentError) as info:
        load_plan(INVALID / "bad-technique.yaml")
    err = info.value
    assert err.code == "PLN104" and err.col == 18
    assert "constant-folding" in err.hint
    assert err.location().startswith(str(INVALID / "bad-technique.yaml") + f":{err.line}:")


def test_unparsable_input_raises_with_exit_2():
    with pytest.raises(DocumentError) as info:
        load_plan(INVALID / "tab-indented.yaml")
    assert (info.value.code, info.value.exit_code) == ("PLN100", 2)


def test_duplicate_key_is_an_error_even_when_both_values_are_valid():
    assert [f.rule for f in validate_file(INVALID / "duplicate-key.yaml")] == ["PLN105"]
    with pytest.raises(DocumentError):
        load_plan(INVALID / "duplicate-key.yaml")


def test_validate_file_reports_every_finding_in_file_order():
    findings = validate_file(INVALID / "shape-value-outside.yaml") + validate_file(
        INVALID / "undeclared-dim.yaml")
    assert [f.rule for f in findings] == ["PLN113", "PLN112"]
    assert all(f.severity.value == "error" and f.file for f in findings)


def test_find_target(tmp_path):
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets" / "cpu.yaml").write_text("x: 1\n")
    assert find_target("cpu", tmp_path) == tmp_path / "targets" / "cpu.yaml"
    with pytest.raises(MissingReferenceError):
        find_target("gpu", tmp_path)


def test_check_file_gives_findings_or_the_document():
    from planctl.documents.load import check_file

    findings, loaded = check_file(VALID / "plan-full.yaml", "OptimizationPlan")
    assert findings == [] and loaded.model.metadata.name == "bert-int8"
    findings, loaded = check_file(INVALID / "negative-rtol.yaml")
    assert [f.rule for f in findings] == ["PLN104"] and loaded is None
