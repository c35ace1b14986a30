"""``validate``'s output: text (one diagnostic block per finding) or the versioned JSON shape
documented in docs/output-format.md. The exit code never depends on the format."""
from __future__ import annotations

import json

from planctl.documents.codes import exit_code_for
from planctl.findings import Finding

JSON_VERSION = 1


def summary(findings: list[Finding], files: int) -> dict:
    """``{"files", "findings", "errors", "warnings", "notes", "exit_code"}``."""
    counts = {"error": 0, "warning": 0, "note": 0}
    for finding in findings:
        counts[getattr(finding.severity, "value", finding.severity)] += 1
    return {"files": files, "findings": len(findings), "errors": counts["error"],
            "warnings": counts["warning"], "notes": counts["note"],
            "exit_code": exit_code_for({f.rule for f in findings})}


def finding_json(finding: Finding) -> dict:
    return {
        "rule": finding.rule,
        "severity": getattr(finding.severity, "value", finding.severity),
        "message": finding.message,
        "file": finding.file,
        "pointer": finding.pointer,
        "start": {"line": finding.line, "col": finding.col},
        "end": {"line": finding.end_line or finding.line, "col": finding.end_col or finding.col},
        "help": finding.help,
    }


def to_json(findings: list[Finding], files: int) -> str:
    doc = {"version": JSON_VERSION, "findings": [finding_json(f) for f in findings],
           "summary": summary(findings, files)}
    return json.dumps(doc, indent=2, ensure_ascii=False)


def to_text(findings: list[Finding], files: int) -> str:
    from planctl.documents.diagnostics import render_finding

    blocks = [render_finding(f) for f in findings]
    count = len(findings)
    noun = "file" if files == 1 else "files"
    if count:
        blocks.append(f"{count} finding{'s' if count != 1 else ''} in {files} {noun}")
    return "\n\n".join(blocks)
