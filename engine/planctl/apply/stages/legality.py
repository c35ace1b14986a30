"""Legality: ``planctl check``'s rule engine on the plan and its target documents, with the same
waivers and configuration, before anything is lowered (and before an unchanged run is skipped as
up to date: a waiver that expired since must stop it too). Unwaived errors stop apply, as they
fail check; warnings and notes are recorded in the report."""
from __future__ import annotations

from pathlib import Path

from planctl.apply.context import ApplyOptions, StageClock
from planctl.errors import LegalityError
from planctl.findings import Severity
from planctl.report.record import Legality, LegalityFinding


def run(options: ApplyOptions, clock: StageClock) -> Legality:
    """The findings of every legality rule on the plan (rules PLN2xx; no TVM). Raises
    LegalityError (exit 1) listing each unwaived error, located at its line, as check prints it."""
    with clock("legality"):
        report = gate(options.plan_file, options.root, options.command)
    findings = [LegalityFinding(rule=f.rule, severity=Severity(f.severity).value, message=f.message, file=f.file,
                                line=f.line, col=f.col, waived=f.waived) for f in report.findings]
    return Legality(findings=findings, errors=0)


def gate(plan_file: Path, root: Path, command: str):
    """``planctl check``'s report on ``plan_file`` (planctl.rules.engine), for a command that must
    not go on where check fails (apply, tune, plan). Raises LegalityError (exit 1) listing each
    unwaived error, located at its line, as check prints it."""
    from planctl.rules.engine import Options, check

    report = check([plan_file], Options(root=root))
    errors = [f for f in report.active if Severity(f.severity) == Severity.ERROR]
    if errors:
        rules = ", ".join(sorted({f.rule for f in errors}))
        raise LegalityError(
            f"{command} stopped before any build: planctl check reports {len(errors)} error(s) for this plan ({rules})",
            findings=errors, file=str(plan_file),
            hint=f"fix them, or waive each with a reason in metadata.annotations; "
                 f"`planctl check {Path(plan_file)}` shows the same findings")
    return report
