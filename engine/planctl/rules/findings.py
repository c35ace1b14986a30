"""Violations -> ``planctl.findings.Finding``: the rule's id and severity, the pointer's line and
column from the document's source index, and a fingerprint key."""
from __future__ import annotations

from planctl.documents.diagnostics import display_path
from planctl.findings import Finding, Severity
from planctl.rules.context import Violation

UNUSED_WAIVER = "PLN218"


def at(loaded, rule_id: str, severity, pointer: str, message: str, help: str | None = None,
       key: str = "") -> Finding:
    line, col, end_line, end_col = loaded.index.locate(pointer)
    return Finding(rule_id, Severity(severity), message, display_path(loaded.path), pointer,
                   line, col, end_line, end_col, help, extra={"key": key} if key else {})


def from_violation(rule, v: Violation, loaded) -> Finding:
    return at(loaded, rule.id, v.severity or rule.severity, v.pointer, v.message, v.help, v.key)


def unused_waiver(waiver, loaded) -> Finding:
    from planctl.rules.registry import REGISTRY

    return at(loaded, UNUSED_WAIVER, REGISTRY[UNUSED_WAIVER].severity, waiver.pointer,
              f"waiver for {waiver.rule} matched no finding", help="remove the annotation",
              key=waiver.key)
