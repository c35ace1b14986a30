"""Reporters: SARIF validates against the SARIF 2.1.0 schema, fingerprints are stable, GitHub
annotations and text diagnostics have their documented shapes, NO_COLOR is honoured."""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import jsonschema
import pytest

sys.path.insert(0, str(Path(__file__).parent / "rules"))
from check_harness import make_repo, run_check  # noqa: E402

from planctl.rules.reporters import REPORTERS, as_text  # noqa: E402

SARIF_SCHEMA = Path(__file__).parent / "rules" / "sarif" / "sarif-2.1.0-rtm.5.json"


@pytest.fixture
def report(tmp_path, monkeypatch):
    """Findings of all three severities, and one waived (checked from the repository root)."""
    monkeypatch.chdir(tmp_path)
    make_repo(tmp_path, {
        "metadata": {"annotations": {"planctl.dev/waive.PLN210": "refresh booked, ML-9"}},
        "spec": {"workload": {"production_shapes": {
                     "batch": {"values": []}, "seq": {"min": 1, "opt": 1, "max": 1}},
                     "baseline_telemetry": {"date": "2025-01-01"}},
                 "optimizations": [{"technique": "operator-fusion"}]}})
    return run_check(tmp_path)


def test_report_has_every_severity_and_a_waiver(report):
    assert report.counts() == {"error": 1, "warning": 1, "note": 1, "waived": 1}


def test_sarif_validates_against_the_schema(report):
    doc = json.loads(REPORTERS["sarif"](report))
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.Draft4Validator(schema).validate(doc)
    run = doc["runs"][0]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert "PLN201" in ids and "PLN101" in ids
    for result in run["results"]:
        assert ids[result["ruleIndex"]] == result["ruleId"]
        assert result["partialFingerprints"]["planctl/v1"]
        assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
            "plans/base.yaml"
    waived = [r for r in run["results"] if "suppressions" in r]
    assert [r["ruleId"] for r in waived] == ["PLN210"]
    assert waived[0]["suppressions"][0]["justification"] == "refresh booked, ML-9"


@pytest.mark.parametrize("where", ["root", "above", "below"])
def test_every_format_shows_the_same_path(tmp_path, monkeypatch, where):
    """json, github, sarif and text all show the file relative to the working directory."""
    root = tmp_path / "repo"
    make_repo(root, {"spec": {"optimizations": [{"technique": "operator-fusion"}]}})
    cwd = {"root": root, "above": tmp_path, "below": root / "plans"}[where]
    monkeypatch.chdir(cwd)
    report = run_check(root.relative_to(tmp_path) if where == "above" else root, select=["PLN201"])
    want = {"root": "plans/base.yaml", "above": "repo/plans/base.yaml",
            "below": "base.yaml"}[where]
    [finding] = json.loads(REPORTERS["json"](report))["findings"]
    assert finding["file"] == want
    assert REPORTERS["github"](report).startswith(f"::error file={want},line=")
    assert as_text.render(report, colour=False).startswith(f"{want}:")
    doc = json.loads(REPORTERS["sarif"](report))
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(doc)
    run = doc["runs"][0]
    location = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": want, "uriBaseId": "%SRCROOT%"}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == cwd.resolve().as_uri() + "/"


def test_fingerprints_survive_moved_lines(tmp_path):
    plan = make_repo(tmp_path, {"spec": {"optimizations": [{"technique": "operator-fusion"}]}})
    before = json.loads(REPORTERS["json"](run_check(tmp_path, select=["PLN201"])))
    plan.write_text("# a comment\n# another\n" + plan.read_text())
    after = json.loads(REPORTERS["json"](run_check(tmp_path, select=["PLN201"])))
    [b], [a] = before["findings"], after["findings"]
    assert a["start"]["line"] == b["start"]["line"] + 2
    assert a["fingerprint"] == b["fingerprint"]


def test_github_annotations(report):
    lines = REPORTERS["github"](report).splitlines()
    assert len(lines) == 3  # the waived finding is not annotated
    error = next(line for line in lines if line.startswith("::error "))
    assert error.startswith("::error file=plans/base.yaml,line=")
    assert ",title=PLN201::operator-fusion does not address a compute bottleneck" in error
    assert "%0Ahelp: " in error and "\n" not in error
    assert any(line.startswith("::notice ") for line in lines)


def test_text_has_source_line_caret_help_and_summary(report):
    text = as_text.render(report, colour=False)
    assert "error[PLN201] operator-fusion does not address a compute bottleneck" in text
    assert "| technique: operator-fusion" in text or "technique: operator-fusion" in text
    assert "^" in text and "help: remove it" in text
    assert text.rstrip().endswith("1 error, 1 warning, 1 note (1 waived)")
    assert "\033[" not in text


class FakeTty(io.StringIO):
    def isatty(self):
        return True


def test_colour_only_on_a_terminal_without_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert as_text.use_colour(FakeTty()) and not as_text.use_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not as_text.use_colour(FakeTty())


def test_json_counts_waived_apart(report):
    doc = json.loads(REPORTERS["json"](report))
    assert doc["summary"]["findings"] == 3 and doc["summary"]["waived"] == 1
    assert doc["summary"]["exit_code"] == 1
    assert sum(f["waived"] for f in doc["findings"]) == 1
