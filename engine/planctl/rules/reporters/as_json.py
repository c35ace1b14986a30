"""JSON, version 1 (docs/output-format.md): ``version``, ``findings``, ``summary``; each finding
with its location, ``help``, ``waived``, ``waiver_reason`` and ``fingerprint``."""
from __future__ import annotations

import json

from planctl.rules.reporters.common import fingerprint, severity

JSON_VERSION = 1


def finding_dict(f, root) -> dict:
    return {
        "rule": f.rule,
        "severity": severity(f),
        "message": f.message,
        "file": f.file,
        "pointer": f.pointer,
        "start": {"line": f.line, "col": f.col},
        "end": {"line": f.end_line or f.line, "col": f.end_col or f.col},
        "help": f.help,
        "waived": f.waived,
        "waiver_reason": f.waiver_reason,
        "fingerprint": fingerprint(f, root),
    }


def render(report) -> str:
    findings = [finding_dict(f, report.root) for f in report.findings]
    doc = {"version": JSON_VERSION, "findings": findings, "summary": report.summary_dict()}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
