"""Property-based parity of a candidate build against a reference, per production shape.

``check_parity`` draws workload inputs with hypothesis (``strategies.inputs_strategy``), runs both
callables, and compares every output under the envelope's tolerance (``compare.compare_output``).
On the first violation hypothesis shrinks the inputs to a minimal failing example, which is written
to ``out_dir/counterexample-<shape>.npz`` (inputs and both outputs) with a replay command. When the
random draws all pass, the corners of every input's domain (``corners.corner_examples``: min,
max, near both, rows of equal values, rows of large magnitude) are checked too, always.

Callables: ``fn(inputs: dict[str, np.ndarray]) -> list[np.ndarray]`` (outputs in order; a single
array or a tuple is accepted too). A reference that raises makes the check itself fail
(``VerificationError``); a candidate that raises is a parity violation and is shrunk like one.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Flaky

from planctl.errors import VerificationError
from planctl.verify.compare import Comparison, compare_output
from planctl.verify.counterexample import replay_command, save_counterexample, shape_tag
from planctl.verify.corners import corner_examples
from planctl.verify.strategies import inputs_strategy, plan_spec_of

Inputs = dict[str, np.ndarray]
Model = Callable[[Inputs], Sequence[np.ndarray]]


@dataclass(frozen=True)
class OutputParity:
    """Per-output evidence over every example evaluated (generation and shrinking).

    ``max_abs``/``max_rel``: see ``planctl.verify.compare``; ``nonfinite``: elements that were
    non-finite on one side only, summed over examples; ``passed``: no violation in any example.
    """

    max_abs: float
    max_rel: float
    rtol: float
    atol: float
    passed: bool
    nonfinite: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"max_abs": _finite(self.max_abs), "max_rel": _finite(self.max_rel), "rtol": self.rtol,
                "atol": self.atol, "passed": self.passed, "nonfinite": self.nonfinite}


@dataclass(frozen=True)
class ParityResult:
    """The parity verdict for one production shape.

    ``examples``: examples evaluated up to and including the first failure (all of them when it
    passed); ``shrink_calls``: further evaluations hypothesis spent shrinking; ``counterexample``: the
    ``.npz`` path of the shrunk failing example; ``replay``: a command that reruns it; ``reason``: why
    it failed (None when it passed); ``corners``: domain-corner examples among ``examples``.
    """

    passed: bool
    shape_env: dict[str, int]
    examples: int
    outputs: dict[str, OutputParity]
    counterexample: str | None = None
    replay: str | None = None
    reason: str | None = None
    seed: int = 0
    shrink_calls: int = 0
    corners: int = 0
    note: str | None = None
    call_ms: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (non-finite floats become None); ``call_ms`` (the candidate's call times)
        stays out."""
        return {"passed": self.passed, "shape_env": dict(self.shape_env), "examples": self.examples,
                "outputs": {k: v.to_dict() for k, v in self.outputs.items()},
                "counterexample": self.counterexample, "replay": self.replay, "reason": self.reason,
                "seed": self.seed, "shrink_calls": self.shrink_calls, "corners": self.corners, "note": self.note}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


class _Violation(AssertionError):
    """Raised inside the hypothesis property so that hypothesis shrinks the example."""


@dataclass
class _Tracker:
    """Mutable state of one ``check_parity`` run: aggregates per output, the last failing example."""

    candidate: Model
    reference: Model
    names: list[str]
    tolerances: Callable[[str], tuple[float, float]]
    calls: int = 0
    corners: int = 0
    max_seconds: float | None = None   # the candidate's calls stop once the next would pass it
    call_ms: list = field(default_factory=list)
    skipped: int = 0                   # draws left unevaluated by the time budget
    first_failure_at: int | None = None
    reference_error: BaseException | None = None
    failure: dict[str, Any] | None = None
    stats: dict[str, list] = field(default_factory=dict)   # name -> [max_abs, max_rel, passed, nonfinite]
    reference_nonfinite: int = 0       # examples on which the reference itself returned NaN or Inf

    def over_budget(self) -> bool:
        """Whether one more candidate call would pass ``max_seconds`` (never before the first call)."""
        if self.max_seconds is None or not self.call_ms:
            return False
        spent = sum(self.call_ms) / 1e3
        return spent + spent / len(self.call_ms) > self.max_seconds

    def __call__(self, inputs: Inputs) -> None:
        if self.reference_error is not None:
            return   # the check is void; let hypothesis finish without evaluating anything more
        if self.failure is None and self.over_budget():
            self.skipped += 1   # the time budget is spent: hypothesis draws on, nothing is evaluated
            return
        self.calls += 1
        try:
            ref = as_output_list(self.reference(inputs))
        except Exception as exc:   # any reference failure voids the check (reported as VerificationError)
            self.reference_error = exc
            return
        names = output_names(self.names, len(ref))
        if any(r.dtype.kind in "fc" and not np.isfinite(r).all() for r in ref):
            self.reference_nonfinite += 1   # agreeing on NaN proves little: the report says so
        start = time.perf_counter_ns()
        try:
            cand = as_output_list(self.candidate(inputs))
        except Exception as exc:   # a crashing candidate is a violation: shrink it like one
            self._fail(inputs, ref, [], names, f"candidate raised {type(exc).__name__}: {exc}")
        finally:
            self.call_ms.append(getattr(self.candidate, "last_call_ms", None)
                                or (time.perf_counter_ns() - start) / 1e6)
        if len(cand) != len(ref):
            self._fail(inputs, ref, cand, names,
                       f"candidate returned {len(cand)} outputs, reference {len(ref)}")
        reasons = [c.reason for c in self._compare(names, cand, ref) if not c.passed]
        if reasons:
            self._fail(inputs, ref, cand, names, "; ".join(reasons))

    def _compare(self, names: list[str], cand: list[np.ndarray], ref: list[np.ndarray]) -> list[Comparison]:
        out = []
        for name, c, r in zip(names, cand, ref):
            rtol, atol = self.tolerances(name)
            cmp = compare_output(name, c, r, rtol, atol)
            s = self.stats.setdefault(name, [0.0, 0.0, True, 0])
            s[0], s[1] = max(s[0], cmp.max_abs), max(s[1], cmp.max_rel)
            s[2], s[3] = s[2] and cmp.passed, s[3] + cmp.nonfinite
            out.append(cmp)
        return out

    def _fail(self, inputs: Inputs, ref: list, cand: list, names: list[str], reason: str) -> None:
        if self.first_failure_at is None:
            self.first_failure_at = self.calls
        for name in names[len(cand):]:   # outputs the candidate did not produce have failed
            self.stats.setdefault(name, [0.0, 0.0, True, 0])[2] = False
        # hypothesis replays the minimal example last, so the last recorded failure is the shrunk one.
        self.failure = {"inputs": inputs, "reference": ref, "candidate": cand, "names": names, "reason": reason}
        raise _Violation(reason)


def as_output_list(outputs: Any) -> list[np.ndarray]:
    if isinstance(outputs, np.ndarray) or not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return [np.array(o, copy=True) for o in outputs]   # copy: a runtime may reuse its output buffers


def output_names(declared: Sequence[str], count: int) -> list[str]:
    """Declared names for the first outputs, ``output_<i>`` for any beyond them."""
    return [declared[i] if i < len(declared) else f"output_{i}" for i in range(count)]


def tolerance_lookup(plan_spec: Any) -> Callable[[str], tuple[float, float]]:
    """``name -> (rtol, atol)``: ``envelope.parity.outputs[name]`` else ``envelope.parity.default``."""
    parity = plan_spec_of(plan_spec).envelope.parity

    def lookup(name: str) -> tuple[float, float]:
        tol = parity.outputs.get(name, parity.default)
        return float(tol.rtol), float(tol.atol)
    return lookup


def parity_settings(examples: int) -> settings:
    """Hypothesis settings for parity: no deadline (a call can take seconds), no example database
    (runs are reproduced by ``seed``), no ``explain`` phase (extra model calls, no benefit here)."""
    return settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                    phases=(Phase.explicit, Phase.generate, Phase.shrink), report_multiple_bugs=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example],
                    verbosity=Verbosity.quiet, print_blob=False)


def check_parity(candidate: Model, reference: Model, plan_spec: Any, shape_env: Mapping[str, int],
                 out_dir: Path, *, examples: int | None = None, seed: int = 0, max_seconds: float | None = None,
                 corners: str = "all") -> ParityResult:
    """Property-test ``candidate`` against ``reference`` on inputs of one production shape.

    ``plan_spec``: a ``PlanSpec`` (or ``OptimizationPlan``); ``shape_env`` pins its symbolic dims;
    ``examples`` overrides ``envelope.parity.examples`` (random draws; the domain corners come on
    top of them); ``seed`` makes generation reproducible. ``max_seconds``: a budget for the
    candidate's calls (an untuned fallback takes seconds per call): no further call is made once
    the next one would pass it, but at least one random example always runs, and shrinking a
    failure is never cut short; ``corners``: ``all`` (every domain corner, whatever the budget),
    ``budget`` (those the budget leaves room for) or ``none``. The result's ``call_ms`` holds the
    candidate's call times (a callable's ``last_call_ms``, when it has one, else the wall time).
    Output names: ``spec.workload.outputs``, else the reference's ``output_names``, else ``output_<i>``.
    Returns a ``ParityResult``; on failure writes ``out_dir/counterexample-<shape_tag>.npz``.
    Raises ``VerificationError`` when the reference fails or the inputs cannot be generated.
    """
    spec = plan_spec_of(plan_spec)
    shape_env = dict(shape_env)
    n = examples if examples is not None else spec.envelope.parity.examples
    declared = list(spec.workload.outputs) or list(getattr(reference, "output_names", []) or [])
    tracker = _Tracker(candidate, reference, declared, tolerance_lookup(spec), max_seconds=max_seconds)
    prop = hypothesis_seed(seed)(parity_settings(n)(given(inputs_strategy(spec, shape_env))(tracker.__call__)))
    flaky = None
    try:
        prop()
    except _Violation:
        pass
    except Flaky as exc:   # failed once, then not on replay: a nondeterministic candidate is a failure too
        flaky = f"flaky: {exc}"
    if tracker.failure is None and tracker.reference_error is None and corners != "none":
        _check_corners(tracker, corner_examples(spec, shape_env), budgeted=corners == "budget")
    if tracker.reference_error is not None:
        error = tracker.reference_error
        raise VerificationError(f"the parity reference failed: {error}",
                                hint="check that the plan's inputs match the model's") from error
    return _result(tracker, shape_env, Path(out_dir), seed, n, flaky)


def _check_corners(tracker: _Tracker, corners: list[Inputs], budgeted: bool = False) -> None:
    """Run the domain corners after the random draws passed; stop at the first violation (a corner
    is already simple: it is recorded as the counterexample without shrinking), and with
    ``budgeted`` once the time budget is spent."""
    budget, tracker.max_seconds = tracker.max_seconds, (tracker.max_seconds if budgeted else None)
    try:
        _run_corners(tracker, corners)
    finally:
        tracker.max_seconds = budget


def _run_corners(tracker: _Tracker, corners: list[Inputs]) -> None:
    for inputs in corners:
        if tracker.over_budget():
            return
        tracker.corners += 1
        try:
            tracker(inputs)
        except _Violation:
            return
        if tracker.reference_error is not None:
            return


def _result(tracker: _Tracker, shape_env: dict[str, int], out_dir: Path, seed: int, n: int,
            flaky: str | None) -> ParityResult:
    outputs = {name: OutputParity(s[0], s[1], *tracker.tolerances(name), passed=s[2], nonfinite=s[3])
               for name, s in tracker.stats.items()}
    times = tuple(tracker.call_ms)
    if tracker.failure is None:
        notes = [x for x in (_budget_note(tracker, n), _nonfinite_note(tracker)) if x]
        return ParityResult(True, shape_env, tracker.calls, outputs, seed=seed, corners=tracker.corners,
                            note="; ".join(notes) or None, call_ms=times)
    path = save_counterexample(out_dir / f"counterexample-{shape_tag(shape_env)}.npz", tracker.failure,
                               shape_env, {k: tracker.tolerances(k) for k in tracker.failure["names"]}, seed)
    first = tracker.first_failure_at or tracker.calls
    reason = tracker.failure["reason"] + (f" ({flaky})" if flaky else "")
    return ParityResult(False, shape_env, first, outputs, str(path), replay_command(path), reason, seed,
                        shrink_calls=tracker.calls - first, corners=tracker.corners, call_ms=times)


def _nonfinite_note(tracker: _Tracker) -> str | None:
    """Parity "held" where both sides return NaN says nothing about correctness: say how often the
    reference itself was non-finite (the declared input domain reaches values the model is not
    defined on, or a weight is NaN)."""
    if not tracker.reference_nonfinite:
        return None
    return (f"the reference (onnxruntime) returned NaN or Inf on {tracker.reference_nonfinite} of {tracker.calls} "
            f"examples: parity there only shows both sides agree on non-finite values; narrow the input domain "
            f"or fix the model")


def _budget_note(tracker: _Tracker, n: int) -> str | None:
    """Why fewer examples ran than asked, when the time budget stopped them."""
    if tracker.max_seconds is None or (not tracker.skipped and tracker.calls - tracker.corners >= n):
        return None
    random = tracker.calls - tracker.corners
    per_call = sum(tracker.call_ms) / len(tracker.call_ms) / 1e3 if tracker.call_ms else 0.0
    return (f"{random} of {n} random examples and {tracker.corners} domain corners within the {tracker.max_seconds:g} s "
            f"budget (a call takes {per_call:.3g} s)")
