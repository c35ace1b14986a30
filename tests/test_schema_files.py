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


KEYWORDS = {  # JSON Schema 2020-12 keywords the generated schemas may use (+ OpenAPI's annotation)
    "$schema", "$id", "$defs", "$ref", "title", "description", "default", "type", "properties",
    "required", "additionalProperties", "items", "enum", "const", "anyOf", "oneOf", "minimum",
    "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern",
    "minItems", "maxItems", "minProperties", "propertyNames", "format", "discriminator"}


def _subschemas(node, at="#"):
    """Every sub-schema of a schema document, with where it is."""
    yield at, node
    for key in ("properties", "$defs"):
        for name, sub in node.get(key, {}).items():
            yield from _subschemas(sub, f"{at}/{key}/{name}")
    for key in ("items", "additionalProperties", "propertyNames"):
        if isinstance(node.get(key), dict):
            yield from _subschemas(node[key], f"{at}/{key}")
    for key in ("anyOf", "oneOf"):
        for i, sub in enumerate(node.get(key, [])):
            yield from _subschemas(sub, f"{at}/{key}/{i}")


@pytest.mark.parametrize("kind", sorted(schema.FILES))
def test_schemas_use_only_json_schema_keywords(kind):
    """A constraint pydantic cannot translate lands in the schema as a raw key (`gt`) that every
    validator ignores: the published schema would then be laxer than the model."""
    for at, node in _subschemas(schema.schema_for(kind)):
        assert set(node) <= KEYWORDS, (at, set(node) - KEYWORDS)


@pytest.mark.parametrize("kind", sorted(schema.FILES))
def test_every_number_field_is_bounded_to_finite_values(kind):
    """issue 13: JSON Schema validators reject `.inf` only through bounds; every `number` has them."""
    for at, node in _subschemas(schema.schema_for(kind)):
        if node.get("type") == "number":
            assert {"minimum", "exclusiveMinimum"} & set(node), at
            assert {"maximum", "exclusiveMaximum"} & set(node), at
