"""Legality: ``planctl check``'s rule engine on the plan and its target documents, with the same
waivers, before anything is lowered. The findings are recorded in the report; apply does not stop
on them yet (the place where it will: :func:`run` returns before lowering starts)."""
from __future__ import annotations

from planctl.apply.context import RunContext
from planctl.findings import Severity
from planctl.report.record import Legality, LegalityFinding


def run(ctx: RunContext) -> Legality:
    """The findings of every legality rule on the plan (rules PLN2xx; no TVM)."""
    from planctl.rules.engine import Options, check

    with ctx.clock("legality"):
        report = check([ctx.options.plan_file], Options(root=ctx.options.root))
    findings = [LegalityFinding(rule=f.rule, severity=Severity(f.severity).value, message=f.message, file=f.file,
                                line=f.line, col=f.col, waived=f.waived) for f in report.findings]
    errors = sum(1 for f in findings if f.severity == "error" and not f.waived)
    return Legality(findings=findings, errors=errors)
