"""The result of one ``check`` or ``validate`` run, whatever the output format: findings (waived
ones included) and what was read. The exit code is computed here once, so every reporter agrees;
the reporters (``planctl.rules.reporters``) render the same object for both commands."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from planctl.findings import Finding, Severity

EXIT_OK, EXIT_FINDINGS, EXIT_UNPARSABLE = 0, 1, 2


@dataclass
class Report:
    """``files`` is set for a ``validate`` run (the number of files read), which changes only the
    summary: check's counts plans and targets, validate's counts files."""

    root: Path
    findings: list[Finding] = field(default_factory=list)
    plans: int = 0
    targets: int = 0
    unparsable: bool = False
    fail_level: str = "error"
    files: int | None = None

    @property
    def active(self) -> list[Finding]:
        return [f for f in self.findings if not f.waived]

    @property
    def waived(self) -> list[Finding]:
        return [f for f in self.findings if f.waived]

    def counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in (Severity.ERROR, Severity.WARNING, Severity.NOTE)}
        for finding in self.active:
            counts[Severity(finding.severity).value] += 1
        counts["waived"] = len(self.waived)
        return counts

    def exit_code(self) -> int:
        """2 when a document was unparsable, 1 when an unwaived finding is at or above
        ``fail_level``, else 0."""
        if self.unparsable:
            return EXIT_UNPARSABLE
        floor = Severity(self.fail_level).rank
        failing = any(Severity(f.severity).rank >= floor for f in self.active)
        return EXIT_FINDINGS if failing else EXIT_OK

    def summary(self) -> str:
        """One line; a clean validate says so, as check-jsonschema and ruff do (pre-commit shows a
        passing hook's output only with --verbose)."""
        c = self.counts()
        if self.files is not None:
            n = len(self.active)
            noun = "file" if self.files == 1 else "files"
            return f"{n} finding{'s' * (n != 1)} in {self.files} {noun}" if n else f"{self.files} {noun} valid"
        checked = f"checked {self.plans} plan{'s' * (self.plans != 1)}, " \
                  f"{self.targets} target{'s' * (self.targets != 1)}"
        parts = [f"{c[k]} {k}{'s' * (c[k] != 1)}" for k in ("error", "warning", "note")]
        return f"{checked}: {', '.join(parts)} ({c['waived']} waived)"

    def summary_dict(self) -> dict:
        """The JSON ``summary`` (docs/output-format.md)."""
        c = self.counts()
        counts = {"findings": len(self.active), "errors": c["error"], "warnings": c["warning"],
                  "notes": c["note"]}
        if self.files is not None:
            return {"files": self.files, **counts, "exit_code": self.exit_code()}
        return {"plans": self.plans, "targets": self.targets, **counts, "waived": c["waived"],
                "fail_level": self.fail_level, "exit_code": self.exit_code()}
