"""Findings as data: what ``validate`` and ``check`` report, whatever the output format."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Severity(str, Enum):
    """Finding severity, ordered note < warning < error (SARIF ``level`` uses the same words)."""

    NOTE = "note"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"note": 0, "warning": 1, "error": 2}[self.value]


@dataclass(frozen=True)
class Finding:
    """One problem in one document.

    ``pointer`` is an RFC 6901 JSON pointer into the document; ``line``/``col`` are 1-based and come
    from the YAML source index (``end_line``/``end_col`` too, when known). ``help`` is the hint line.
    """

    rule: str
    severity: Severity
    message: str
    file: str
    pointer: str = ""
    line: int = 1
    col: int = 1
    end_line: int | None = None
    end_col: int | None = None
    help: str | None = None
    waived: bool = False
    waiver_reason: str | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def sort_key(self):
        return (self.file, self.line, self.col, self.rule)
