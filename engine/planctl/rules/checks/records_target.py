"""PLN225 records-target."""
from __future__ import annotations

from planctl.rules.checks.missing_reference import canonical_target, inside, record_targets, references
from planctl.rules.context import Violation
from planctl.rules.registry import rule


@rule("PLN225", "records-target", "warning")
def check(ctx):
    """Committed tuning records hold records for each of the plan's targets.

    What it checks
        For each autotuning ``records`` (a ``.jsonl`` file or a folder of them) that holds whole
        records, and each target in ``spec.targets``: some record's validity key has that target
        document's ``spec.tvm`` dict, the key apply looks records up by. TVM's JSONDatabase
        format carries no key and is not checked.

    Why
        Records of another target, or of this target before its ``spec.tvm`` was edited (an
        ``mattr`` added, an ``mcpu`` changed), serve none of its tasks: apply searches every task
        of every bucket within the budget, minutes to an hour, and ships a slower build than the
        records promised. Apply only notes "records of N other key(s) not used" in its report.

    Example
        ``records: examples/minilm/records/minilm-embed`` holding only ``x86-64-avx2.jsonl``,
        with ``targets: [x86-64-avx2, x86-64-avx512]``.

    Fix
        Tune the target and commit its records (``planctl tune PLAN --target NAME
        --write-records``), or, for a target whose ``spec.tvm`` changed, tune it again: records of
        the old dict do not apply to the new one.
    """
    for pointer, value, what in references(ctx.spec):
        path = ctx.root / value
        if what != "tuning records" or not path.exists() or not inside(path, ctx.root):
            continue   # PLN215's and PLN220's
        held = record_targets(path)
        if not held:
            continue
        for name, target in ctx.known_targets():
            if canonical_target(target.spec.tvm) not in held:
                yield Violation(pointer, f"tuning records {value} hold no record for target {name} "
                                         f"({_what_they_hold(held, name)}): apply would search every task for {name}",
                                key=f"{pointer}:{name}",
                                help=f"`planctl tune PLAN --target {name} --write-records` writes them; records "
                                     f"of another spec.tvm never serve a target")


def _what_they_hold(held: dict[str, str], name: str) -> str:
    earlier = [tvm for tvm, tuned_as in held.items() if tuned_as == name]
    if earlier:   # the target document was edited after tuning
        return f"they hold records of its spec.tvm as it was, {earlier[0]}, not as it is now"
    return f"they hold records of {', '.join(sorted({n or 'unnamed' for n in held.values()}))}"
