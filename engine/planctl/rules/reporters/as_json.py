"""JSON: the shape ``planctl validate --output json`` prints (``version``, ``findings``,
``summary``), each finding extended with ``waived``, ``waiver_reason`` and ``fingerprint``."""
from __future__ import annotations

import json

from planctl.documents.output import JSON_VERSION, finding_json
from planctl.rules.reporters.common import fingerprint


def finding_dict(f, root) -> dict:
    return {**finding_json(f), "waived": f.waived, "waiver_reason": f.waiver_reason,
            "fingerprint": fingerprint(f, root)}


def render(report) -> str:
    counts = report.counts()
    summary = {"plans": report.plans, "targets": report.targets,
               "findings": len(report.active), "errors": counts["error"],
               "warnings": counts["warning"], "notes": counts["note"], "waived": counts["waived"],
               "fail_level": report.fail_level, "exit_code": report.exit_code()}
    findings = [finding_dict(f, report.root) for f in report.findings]
    doc = {"version": JSON_VERSION, "findings": findings, "summary": summary}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
