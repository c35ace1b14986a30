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
    not go on where check fails (apply, tune, plan). Raises LegalityError listing each unwaived
    error, located at its line, as check prints it, with check's exit code (1, or 2 when the plan
    cannot be parsed)."""
    from planctl.codes import exit_code_for
    from planctl.rules.engine import Options, check

    report = check([plan_file], Options(root=root))
    errors = [f for f in report.active if Severity(f.severity) == Severity.ERROR]
    if errors:
        rules = sorted({f.rule for f in errors})
        refused = LegalityError(
            f"{command} stopped before any build: planctl check reports {len(errors)} "
            f"error{'s' if len(errors) > 1 else ''} for this plan "
            f"({', '.join(rules)})", findings=errors, file=str(plan_file),
            hint=f"{_how_to_clear(rules, len(errors))}; `planctl check {Path(plan_file)}` shows the same findings")
        refused.exit_code = exit_code_for(rules)
        raise refused
    return report


def _how_to_clear(rules: list[str], count: int) -> str:
    """Fix them; a waiver is offered only where one of the rules accepts it (PLN219 refuses the rest)."""
    from planctl.rules.registry import lookup

    them = "it" if count == 1 else "them"
    waivable = [r for r in rules if (found := lookup(r)) is not None and found.waivable and not found.unwaivable]
    if not waivable:
        return f"fix {them} (no waiver accepts {', '.join(rules)})"
    if len(waivable) == len(rules):
        return f"fix {them}, or waive each with a reason in metadata.annotations"
    verb = "accepts" if len(waivable) == 1 else "accept"
    return f"fix {them}; of these rules only {', '.join(waivable)} {verb} a waiver (with a reason, in metadata.annotations)"
