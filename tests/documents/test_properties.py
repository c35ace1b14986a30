"""Property: whatever the input, validate never crashes and every finding points inside the file.

Inputs come from the JSON Schema (so most are near-valid documents that reach pydantic and the
semantic checks) and from text mutations of the valid corpus (so many are broken YAML).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planctl.codes import exit_code_for
from planctl.documents.load import validate_file
from planctl.rules.report import Report
from planctl.rules.reporters import REPORTERS
from planctl.documents.schema import schema_for

VALID = sorted((Path(__file__).parent / "valid").iterdir())
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def from_schema(root: dict, node: dict, depth: int = 0) -> st.SearchStrategy:
    """A small hand-written JSON Schema -> hypothesis strategy (the subset pydantic emits)."""
    if "$ref" in node:
        return from_schema(root, root["$defs"][node["$ref"].split("/")[-1]], depth)
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    branches = node.get("oneOf") or node.get("anyOf")
    if branches:
        return st.one_of([from_schema(root, b, depth) for b in branches])
    kind = node.get("type")
    if depth > 8 or kind == "null":
        return st.none()
    if kind == "object":
        return _object(root, node, depth)
    if kind == "array":
        return st.lists(from_schema(root, node.get("items", {}), depth + 1), max_size=3)
    if kind == "string":
        if "pattern" in node:
            return st.from_regex(node["pattern"], fullmatch=True).map(lambda s: s[:64])
        return st.text(max_size=12)
    if kind == "integer":
        return st.integers(-3, 40)
    if kind == "number":
        return st.floats(-10, 10, allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    return st.none()


def _object(root: dict, node: dict, depth: int) -> st.SearchStrategy:
    props = node.get("properties", {})
    if not props:
        extra = node.get("additionalProperties")
        return st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
                               from_schema(root, extra if isinstance(extra, dict) else {}, depth + 1),
                               max_size=2)
    required = set(node.get("required", []))
    return st.fixed_dictionaries(
        {k: from_schema(root, v, depth + 1) for k, v in props.items() if k in required},
        optional={k: from_schema(root, v, depth + 1) for k, v in props.items() if k not in required})


PLAN_SCHEMA = schema_for("OptimizationPlan")
documents = st.one_of(from_schema(PLAN_SCHEMA, PLAN_SCHEMA),
                      from_schema(schema_for("Target"), schema_for("Target")))

NOISE = st.text(alphabet=":-[]{}#&*!|>'\"\t ,?%@`\n\\abc019~", max_size=8)


@st.composite
def mutated(draw) -> str:
    """A valid corpus file with 1-3 line-level mutations (delete, duplicate, splice noise, dedent)."""
    lines = draw(st.sampled_from(VALID)).read_text().splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "noise", "dedent", "indent"]))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "noise":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(NOISE) + lines[i][at:]
        elif op == "dedent":
            lines[i] = lines[i][2:]
        else:
            lines[i] = "  " + lines[i]
    return "\n".join(lines) + "\n"


def _check(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plan.yaml"
        path.write_text(text, encoding="utf-8")
        findings = validate_file(path)
        report = Report(Path(tmp), findings, files=1)
        for render in REPORTERS.values():  # rendering must not crash either
            render(report)
    last_line = max(1, text.count("\n") + 1)
    for finding in findings:
        assert 1 <= finding.line <= last_line, finding
        assert finding.col >= 1 and finding.rule.startswith("PLN1")
    assert exit_code_for({f.rule for f in findings}) in (0, 1, 2)


@SETTINGS
@given(documents)
def test_schema_generated_documents_never_crash(doc):
    _check(json.dumps(doc, indent=2))


@SETTINGS
@given(mutated())
def test_mutated_plans_never_crash(text):
    _check(text)
