"""PLN217 waiver-expired, PLN218 waiver-unused, PLN219 waiver-invalid."""
from __future__ import annotations

from planctl.rules import waivers
from planctl.rules.context import Violation
from planctl.rules.registry import REGISTRY, rule


@rule("PLN217", "waiver-expired", "error", waivable=False)
def expired(ctx):
    """A waiver's expiry date has passed.

    What it checks
        Each ``planctl.dev/waive.PLN###`` annotation with ``expires=YYYY-MM-DD`` is still valid
        today (the expiry day itself is included). An expired waiver waives nothing: the findings
        it covered are reported again, and the waiver itself is this finding.

    Why
        A waiver is a time-boxed decision; past its date nobody has re-decided it.

    Example
        ``planctl.dev/waive.PLN210: "telemetry refresh in Q3; expires=2026-09-30"`` in October.

    Fix
        Fix what the waiver covered and remove it, or re-decide and move the date.
    """
    for waiver in waivers.waivers_of(ctx.plan):
        if waiver.problem is None and waiver.expires and ctx.today > waiver.expires:
            yield Violation(waiver.pointer, f"waiver for {waiver.rule} expired on {waiver.expires}",
                            key=waiver.key, help="fix the finding, or re-decide and move the date")


@rule("PLN218", "waiver-unused", "warning", waivable=False)
def unused(ctx):
    """A waiver matched no finding.

    What it checks
        After all selected rules ran, each active waiver covered at least one finding of its
        rule in its plan. (Computed by the engine after the other rules, so this function yields
        nothing itself; a waiver for a rule that was not selected is not reported.)

    Why
        A stale waiver silently pre-approves the next regression of the same rule.

    Example
        ``planctl.dev/waive.PLN209: "big model"`` after the budget was lowered into the limits.

    Fix
        Remove the annotation.
    """
    return iter(())


@rule("PLN219", "waiver-invalid", "error", waivable=False)
def invalid(ctx):
    """A waiver is malformed: no reason, a bad date, an unknown option or rule.

    What it checks
        Each ``planctl.dev/waive.<rule>`` annotation names a registered, waivable rule (not one
        whose finding leaves apply nothing to build: PLN215 missing file, PLN216 model digest,
        PLN220 a path outside the repository, PLN224 not an ONNX model) and its
        value is exactly ``"reason"`` or ``"reason; expires=YYYY-MM-DD"`` with a non-empty
        reason. Anything else is this finding, and the waiver waives nothing: a value that is
        only ``"expires=2027-03-31"`` (no reason), another option, a second ``;``, a date in
        another format. A key meant as a waiver that planctl does not read is this finding too:
        one under ``metadata.labels``, or a near miss of the prefix (``planctl.dev/waiver.PLN201``).
        ``--no-waivers`` ignores waivers, and then this rule too.

    Why
        A waiver without a reason records no decision; one for a rule that does not exist
        waives nothing and hides a typo. Read leniently, ``"expires=2027-03-31"`` would be a
        reason with no expiry: a waiver meant to lapse that never does.

    Example
        ``planctl.dev/waive.PLN201: ""``, ``planctl.dev/waive.PLN202: "expires=2027-03-31"`` or
        ``planctl.dev/waive.PLN29: "legacy"``.

    Fix
        Write why the finding is accepted, and use the rule's id (``planctl rule --all``).
    """
    for waiver in waivers.waivers_of(ctx.plan):
        problem = waiver.problem
        if problem is None and waiver.rule.startswith("PLN1"):
            problem = f"{waiver.rule} is a document finding: fix the document"
        elif problem is None and waiver.rule not in REGISTRY:
            problem = f"no rule {waiver.rule} to waive"
        elif problem is None and not REGISTRY[waiver.rule].waivable:
            problem = f"{waiver.rule} cannot be waived"
        elif problem is None and REGISTRY[waiver.rule].unwaivable:
            problem = f"{waiver.rule} cannot be waived: {REGISTRY[waiver.rule].unwaivable}"
        if problem:
            yield Violation(waiver.pointer, f"invalid waiver: {problem}", key=waiver.key)
    yield from _misplaced_waivers(ctx.plan.metadata)


def _misplaced_waivers(metadata):
    """Keys meant as waivers that waive nothing: under ``labels``, or a near miss of the prefix
    (``planctl.dev/waiver.PLN201``, ``planctl/waive.PLN201``). Silently ignored, they leave a team
    believing a finding is waived."""
    places = (("labels", metadata.labels or {}), ("annotations", metadata.annotations or {}))
    for place, mapping in places:
        for key in mapping:
            if "waive" not in key.lower() or (place == "annotations" and key.startswith(waivers.PREFIX)):
                continue
            rule = key.rsplit(".", 1)[-1].upper() if "." in key else "<RULE>"
            where = "metadata.labels, which planctl does not read for waivers" if place == "labels" else \
                "a key planctl does not read"
            pointer = f"/metadata/{place}/" + key.replace("~", "~0").replace("/", "~1")
            yield Violation(pointer, f"invalid waiver: {key!r} waives nothing: it is {where}; a waiver is "
                                     f"metadata.annotations[\"{waivers.PREFIX}{rule}\"]", key=key)
