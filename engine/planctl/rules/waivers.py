"""Waivers: ``metadata.annotations["planctl.dev/waive.PLN201"]: "reason; expires=YYYY-MM-DD"``.

The value is exactly a non-empty reason, optionally followed by ``; expires=YYYY-MM-DD``; anything
else is a malformed waiver (PLN219) that waives nothing.

A waiver needs a reason, may expire, and covers every finding of its rule in its own plan.
Waived findings stay in the report (``waived: true``) and are counted apart; they never fail a run.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
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


_EXPIRES = re.compile(r"\s*expires\s*=\s*(.*?)\s*")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_OPTION_ONLY = re.compile(r"[A-Za-z_][\w-]*\s*=\s*\S*")   # `expires=2027-03-31` alone: no reason


def parse(key: str, value: str) -> Waiver:
    """``"reason; expires=2027-01-31"`` (or ``"reason"``) -> Waiver. Anything else carries its
    ``problem`` (PLN219) and waives nothing: an empty reason, a value that is only an option
    (``"expires=2027-03-31"`` would otherwise be a reason with no expiry), another option, a
    second ``;``, or a date that is not ``YYYY-MM-DD``."""
    rule = key[len(PREFIX):].strip().upper()
    reason, sep, option = str(value).partition(";")
    reason = reason.strip()
    expires, problem = None, None
    if not reason:
        problem = "a waiver needs a reason: write `reason; expires=YYYY-MM-DD`"
    elif _OPTION_ONLY.fullmatch(reason):
        problem = f"`{reason}` is not a reason: write `reason; expires=YYYY-MM-DD`"
    if sep:
        expires, trouble = _expiry(option)
        problem = problem or trouble
    return Waiver(key, rule, reason, expires, problem)


def _expiry(option: str) -> tuple[dt.date | None, str | None]:
    """The date of the ``expires=YYYY-MM-DD`` that follows a waiver's ``;``, or why there is none."""
    if ";" in option:
        return None, "only one `; expires=YYYY-MM-DD` may follow the reason"
    match = _EXPIRES.fullmatch(option)
    if match is None:
        if not option.strip():
            return None, "nothing follows `;`: write `reason; expires=YYYY-MM-DD`"
        return None, f"unknown waiver option {option.strip()!r} (only expires=YYYY-MM-DD)"
    text = match.group(1)
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return dt.date.fromisoformat(text), None
    except ValueError:
        return None, f"expires={text!r} is not a YYYY-MM-DD date"


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
