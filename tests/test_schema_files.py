"""schemas/ is generated from the models (documents and the run record) and must not be stale; the
schema agrees with the models."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from planctl.cli.main import main
from planctl.documents import schema
from planctl.report import schema as report_schema

REPO = Path(__file__).resolve().parents[1]
VALID = REPO / "tests" / "documents" / "valid"
KIND_OF = {"plan": "OptimizationPlan", "target": "Target", "lock": "Lock"}


def test_schemas_are_not_stale():
    stale = schema.stale(REPO / "schemas") + report_schema.stale(REPO / "schemas")
    assert stale == [], "run `planctl schema dump` and commit schemas/"


def test_ids_are_versioned():
    for name in [*schema.FILES.values(), report_schema.FILE]:
        doc = json.loads((REPO / "schemas" / name).read_text())
        assert doc["$id"] == f"https://planctl.dev/schemas/v1alpha1/{name}"
        jsonschema.Draft202012Validator.check_schema(doc)


def test_dump_check_and_show(tmp_path, capsys):
    assert main(["schema", "dump", str(tmp_path)]) == 0
    assert main(["schema", "dump", "--check", str(tmp_path)]) == 0
    for name in ("plan.schema.json", "report.schema.json"):
        (tmp_path / name).write_text("{}\n")
        assert main(["schema", "dump", "--check", str(tmp_path)]) == 1
        assert main(["schema", "dump", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["schema", "show", "target"]) == 0
    assert json.loads(capsys.readouterr().out)["$id"].endswith("/target.schema.json")
    assert main(["schema", "show", "report"]) == 0
    assert json.loads(capsys.readouterr().out)["$id"].endswith("/report.schema.json")


@pytest.mark.parametrize("path", sorted(VALID.iterdir()), ids=lambda p: p.name)
def test_valid_documents_pass_the_json_schema(path):
    data = YAML(typ="safe").load(path)
    data = json.loads(json.dumps(data, default=str))  # YAML timestamps -> strings, as planctl reads them
    jsonschema.validate(data, schema.schema_for(data["kind"]))
