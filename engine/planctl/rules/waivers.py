"""Waivers: ``metadata.annotations["planctl.dev/waive.PLN201"]: "reason; expires=YYYY-MM-DD"``.

A waiver needs a reason, may expire, and covers every finding of its rule in its own plan.
Waived findings stay in the report (``waived: true``) and are counted apart; they never fail a run.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from planctl.findings import Finding

PREFIX = "planctl.dev/waive."


@dataclass(frozen=True)
class Waiver:
    """One parsed waiver; ``problem`` is set when it is malformed (and then applies to nothing)."""

    key: str
    rule: str
    reason: str
    expires: dt.date | None
    problem: str | None = None

    @property
    def pointer(self) -> str:
        return "/metadata/annotations/" + self.key.replace("~", "~0").replace("/", "~1")

    def active(self, today: dt.date) -> bool:
        return self.problem is None and (self.expires is None or today <= self.expires)


def parse(key: str, value: str) -> Waiver:
    """``"reason; expires=2027-01-31"`` -> Waiver (a malformed one carries its ``problem``)."""
    rule = key[len(PREFIX):].strip().upper()
    reason, *options = [part.strip() for part in str(value).split(";")]
    expires, problem = None, None if reason else "a waiver needs a reason"
    for option in options:
        name, _, text = option.partition("=")
        if name.strip() != "expires":
            problem = problem or f"unknown waiver option {option!r} (only expires=YYYY-MM-DD)"
            continue
        try:
            expires = dt.date.fromisoformat(text.strip())
        except ValueError:
            problem = problem or f"expires={text.strip()!r} is not a YYYY-MM-DD date"
    return Waiver(key, rule, reason, expires, problem)


def waivers_of(plan) -> list[Waiver]:
    annotations = plan.metadata.annotations
    return [parse(k, v) for k, v in annotations.items() if k.startswith(PREFIX)]


def apply(findings: list[Finding], waivers: list[Waiver], today: dt.date,
          waivable: set[str]) -> tuple[list[Finding], list[Waiver]]:
    """Mark the findings the active waivers cover; return them and the active waivers that
    matched nothing."""
    active = {w.rule: w for w in waivers if w.active(today) and w.rule in waivable}
    used: set[str] = set()
    out = []
    for finding in findings:
        waiver = active.get(finding.rule)
        if waiver is None:
            out.append(finding)
            continue
        used.add(waiver.rule)
        out.append(dataclasses.replace(finding, waived=True, waiver_reason=waiver.reason))
    return out, [w for w in active.values() if w.rule not in used]
