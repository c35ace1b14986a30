"""SARIF 2.1.0 (validated in tests against the OASIS schema): the rules come from the code catalogue,
results carry ``partialFingerprints`` and waivers become in-source ``suppressions``. Locations are
relative ``uri``s with ``uriBaseId`` ``%SRCROOT%``, which ``originalUriBaseIds`` maps to the working
directory (the paths the other formats print); a file outside it gets an absolute ``file:`` uri."""
from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from planctl import __version__, codes
from planctl.rules.registry import load_rules
from planctl.rules.reporters.common import fingerprint, severity, shown

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
BASE_ID = "%SRCROOT%"
LEVELS = {"error": "error", "warning": "warning", "note": "note"}


def rule_dict(entry) -> dict:
    return {"id": entry.id, "name": entry.name,
            "shortDescription": {"text": entry.summary or entry.name},
            "fullDescription": {"text": entry.doc or entry.summary or entry.name},
            "help": {"text": f"planctl rule {entry.id}", "markdown": entry.doc or entry.name},
            "defaultConfiguration": {"level": LEVELS[entry.severity]}}


def region(f) -> dict:
    out = {"startLine": max(f.line, 1), "startColumn": max(f.col, 1)}
    if f.end_line and f.end_line >= out["startLine"]:
        out["endLine"] = f.end_line
        if f.end_col and (f.end_line > f.line or f.end_col > out["startColumn"]):
            out["endColumn"] = f.end_col
    return out


def artifact(file: str) -> dict:
    path = shown(file)
    if PurePosixPath(path).is_absolute():
        return {"uri": Path(path).as_uri()}
    return {"uri": quote(path), "uriBaseId": BASE_ID}


def result(f, root: Path, index: dict[str, int]) -> dict:
    location = {"physicalLocation": {"artifactLocation": artifact(f.file), "region": region(f)}}
    if f.pointer:
        location["logicalLocations"] = [{"fullyQualifiedName": f.pointer, "kind": "element"}]
    text = f.message + (f"\nhelp: {f.help}" if f.help else "")
    out = {"ruleId": f.rule, "level": LEVELS[severity(f)], "message": {"text": text},
           "locations": [location], "partialFingerprints": {"planctl/v1": fingerprint(f, root)}}
    if f.rule in index:
        out["ruleIndex"] = index[f.rule]
    if f.waived:
        out["suppressions"] = [{"kind": "inSource", "justification": f.waiver_reason or ""}]
    return out


def render(report) -> str:
    load_rules()
    entries = codes.entries()
    index = {e.id: i for i, e in enumerate(entries)}
    run = {"tool": {"driver": {"name": "planctl", "version": __version__,
                               "rules": [rule_dict(e) for e in entries]}},
           "originalUriBaseIds": {BASE_ID: {"uri": Path.cwd().resolve().as_uri().rstrip("/") + "/"}},
           "columnKind": "unicodeCodePoints",
           "results": [result(f, report.root, index) for f in report.findings]}
    return json.dumps({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2) + "\n"
