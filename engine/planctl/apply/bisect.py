"""Bisection of an envelope violation to the techniques that cause it.

When the candidate violates parity or task quality, the plan's enabled techniques are rebuilt in
subsets to find the smallest set that still breaks the envelope (delta debugging, Zeller's ddmin
specialised to a short list): halve while one half fails alone, else drop techniques one at a time
while the rest still fails. The culprits found are removed and the remainder probed again, until
what is left passes: that is ``passing_plan``, the techniques a revised plan can keep.

A probe rebuilds the candidate with a subset (a kernel the candidate had tuned gets the same
schedule again, matched by structure; nothing is searched) and re-checks only what was violated, on fixed inputs: the parity
counterexample hypothesis shrank plus a few seeded examples, and the quality examples that scored
worst. Every probe is one candidate build, so the search stays small (a handful of builds for the
usual 3-6 techniques) and its outcomes are cached by subset.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

Probe = Callable[[tuple], bool]   # subset of techniques -> True when it violates the envelope


@dataclass
class Bisection:
    """``culprits``: techniques whose removal makes the envelope hold (each set 1-minimal);
    ``passing_plan``: the plan's techniques without them; ``probes``: subsets built, in order."""

    culprits: list[str] = field(default_factory=list)
    passing_plan: list[str] = field(default_factory=list)
    probes: list[dict] = field(default_factory=list)
    note: str | None = None

    def to_dict(self) -> dict:
        return {"culprits": self.culprits, "passing_plan": self.passing_plan, "probes": self.probes,
                "note": self.note}


class _Cached:
    def __init__(self, probe: Probe, name: Callable):
        self.probe, self.name, self.seen, self.log = probe, name, {}, []

    def __call__(self, subset: Sequence) -> bool:
        key = tuple(self.name(t) for t in subset)
        if key not in self.seen:
            self.seen[key] = bool(self.probe(tuple(subset)))
            self.log.append({"techniques": list(key), "violates": self.seen[key]})
        return self.seen[key]


def minimal_failing(items: Sequence, fails: Callable[[Sequence], bool]) -> list:
    """A 1-minimal sub-list of ``items`` (order kept) for which ``fails`` holds; ``fails(items)``
    must hold. Halves first (one culprit costs about 2·log2(n) probes), then removes one at a time
    (interacting culprits)."""
    items = list(items)
    while len(items) > 1:
        half = len(items) // 2
        first, second = items[:half], items[half:]
        if fails(first):
            items = first
        elif fails(second):
            items = second
        else:
            break
    i = 0
    while len(items) > 1 and i < len(items):
        rest = items[:i] + items[i + 1:]
        if fails(rest):
            items = rest
        else:
            i += 1
    return items


def bisect_techniques(techniques: Sequence, probe: Probe, name: Callable = lambda t: t.technique,
                      violation: str = "the envelope is violated") -> Bisection:
    """Find the culprits among ``techniques`` (the plan's enabled ones, in order) with ``probe``;
    ``violation`` says what the probe finds, for the notes (``the candidate does not build``)."""
    fails = _Cached(probe, name)
    names = [name(t) for t in techniques]
    result = Bisection()
    if not fails(techniques):
        result.passing_plan = names
        result.note = "the violation did not reproduce on the probe inputs; no culprit named"
    elif fails(()):
        result.note = (f"{violation} with no technique at all: the cause is the import or "
                       "TVM's default lowering, not the plan")
    else:
        remaining = list(techniques)
        while remaining and fails(remaining):
            # the empty set passes, so each round finds at least one culprit and the loop ends
            culprits = minimal_failing(remaining, fails)
            result.culprits += [name(t) for t in culprits]
            remaining = [t for t in remaining if all(t is not c for c in culprits)]
        result.passing_plan = [name(t) for t in remaining]
    result.probes = fails.log
    return result


# ------------------------------------------------------------------------------ probing with TVM
def _key(func) -> str:
    import tvm_ffi

    return str(tvm_ffi.structural_hash(func.without_attr("global_symbol")))


def schedule_table(lowered_mod, scheduled_mod) -> dict:
    """``{structural hash of an unscheduled PrimFunc: its scheduled version}`` for every kernel the
    tuning database scheduled (MetaScheduleApplyDatabase keeps each function's GlobalVar)."""
    from tvm import tirx

    table = {}
    for gv, func in scheduled_mod.functions.items():
        if isinstance(func, tirx.PrimFunc) and func.attrs is not None and "tirx.is_scheduled" in func.attrs:
            try:
                table[_key(lowered_mod[gv])] = func
            except (KeyError, ValueError, AttributeError):
                continue
    return table


def apply_schedules(mod, table: dict):
    """``mod`` with each PrimFunc that has an entry in ``table`` replaced by its scheduled version."""
    from tvm import tirx

    for gv, func in list(mod.functions.items()):
        if isinstance(func, tirx.PrimFunc) and (done := table.get(_key(func))) is not None:
            mod[gv] = done.with_attr("global_symbol", gv.name_hint)
    return mod


def envelope_probe(*, plan_spec, target, imported, shape_env: dict, reference, parity: dict | None,
                   quality_result=None, quality_spec=None, root=None, plan_file: str = "",
                   schedules: dict | None = None, device: str = "cpu", examples: int = 3, quality_examples: int = 8,
                   quality_reference=None, quality_stand_in=None) -> Probe:
    """A probe that builds the candidate with a subset of techniques and re-checks what failed.

    ``parity``: the failed ParityResult dict (its counterexample is replayed), or None when parity
    held; ``quality_result``: the failed QualityResult (its worst examples are re-scored), or None;
    ``schedules``: :func:`schedule_table` of the candidate (applied when the subset has autotuning);
    ``device``: the target's device kind (``cuda`` runs on the GPU, anything else on the CPU);
    ``quality_reference`` / ``quality_stand_in``: what quality is judged against (default: the
    parity ``reference``; planctl.verify.quality.evaluate_quality).
    """
    from planctl.errors import VerificationError
    from planctl.lowering import build
    from planctl.documents.techniques import autotuning
    from planctl.lowering.techniques import disabled_passes
    from planctl.lowering.vm import vm_callable
    from planctl.verify.compare import compare_output
    from planctl.verify.counterexample import load_counterexample
    from planctl.verify.parity import output_names, tolerance_lookup
    from planctl.verify.quality import evaluate_quality
    from planctl.verify.strategies import example_inputs

    fixed = []
    if parity is not None:
        if parity.get("counterexample"):
            fixed.append(load_counterexample(parity["counterexample"]).inputs)
        fixed += [example_inputs(plan_spec, shape_env, seed=s) for s in range(examples)]
    refs = [reference(x) for x in fixed]
    tolerance = tolerance_lookup(plan_spec)
    declared = list(plan_spec.workload.outputs)
    worst = quality_result.worst_indices(quality_examples) if quality_result is not None else []
    off = disabled_passes(plan_spec)

    def probe(subset: tuple) -> bool:
        # a subset that does not build, or a build that crashes on an input, violates the envelope
        # (so a passing_plan is always one that was built and checked)
        try:
            mod = build.lower_candidate(imported.mod, target, list(subset)).mod
            if schedules and autotuning(subset) is not None:
                mod = apply_schedules(mod, schedules)
            executable = build.build_candidate(mod, target, list(subset), disabled_passes=off)
            run = vm_callable(executable, imported.input_names, device)
        except Exception:  # noqa: BLE001 - TVMError, LoweringError: this subset is not a passing plan
            return True
        try:
            for inputs, ref in zip(fixed, refs):
                cand = run(inputs)
                if len(cand) != len(ref) or not all(
                        compare_output(nm, c, r, *tolerance(nm)).passed
                        for nm, c, r in zip(output_names(declared, len(ref)), cand, ref)):
                    return True
            if quality_result is not None:
                return not evaluate_quality(run, quality_reference or reference, quality_spec, plan_spec, shape_env,
                                            root, plan_file=plan_file, indices=worst,
                                            stand_in=quality_stand_in).passed
        except VerificationError:
            raise
        except Exception:  # noqa: BLE001 - TVMError and friends from the candidate
            return True
        return False

    return probe
