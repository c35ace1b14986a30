"""PLN207 production-shapes."""
from __future__ import annotations

from planctl.rules.context import Violation
from planctl.rules.registry import rule


def symbolic_dims(spec) -> set[str]:
    return {d for i in spec.workload.inputs for d in i.shape if isinstance(d, str)}


@rule("PLN207", "production-shapes", "warning")
def check(ctx):
    """Production shapes describe the dims the inputs use, with representative values.

    What it checks
        Every entry of ``workload.production_shapes`` is a symbolic dim of some input (warning),
        and a dim whose range is not a single point lists the representative ``values`` seen in
        production (note). The document stage already requires a production shape for every
        symbolic dim (``PLN112``), ordered ``min <= opt <= max`` (``PLN110``) with values inside
        the range (``PLN113``); this rule runs after it and does not repeat those findings.

    Why
        Parity, tuning and static memory planning iterate over the production shapes; a shape for
        a dim that does not exist is a stale or misspelt entry (the real dim then has none), and a
        range without values leaves parity and tuning to guess which points matter.

    Example
        ``shape: [batch, seq]`` and ``production_shapes: {batch: ..., sequence: ...}``.

    Fix
        Rename or remove the entry; add ``values`` from the baseline telemetry.
    """
    dims = symbolic_dims(ctx.spec)
    for name, rng in ctx.spec.workload.production_shapes.items():
        pointer = f"/spec/workload/production_shapes/{name}"
        if name not in dims:
            yield Violation(pointer, f"production shape {name} is not a dim of any input",
                            key=f"{name}:unused", help="rename it to the input's dim or remove it")
        elif not rng.values and rng.min != rng.max:
            yield Violation(pointer, f"production shape {name} has a range but no representative "
                            "values", severity="note", key=f"{name}:values",
                            help="add values: the sizes production sends most")
