"""Rerun a saved parity counterexample (``planctl verify replay <file>.npz``)."""
from __future__ import annotations

from pathlib import Path

from planctl.errors import VerificationError
from planctl.verify.compare import compare_output
from planctl.verify.counterexample import Counterexample, load_counterexample, replay_command
from planctl.verify.parity import Model, OutputParity, ParityResult, as_output_list, output_names


def replay_counterexample(npz_path: Path | str, candidate: Model,
                          reference: Model | None = None) -> ParityResult:
    """Rerun ``candidate`` (and ``reference``, or the recorded reference outputs when None) on the saved
    inputs and compare them under the saved tolerances. Returns a one-example ``ParityResult``; it has
    ``passed=True`` when the failure no longer reproduces (e.g. after a fix).
    Raises ``VerificationError`` for an unreadable file or a failing reference."""
    cx = load_counterexample(npz_path)
    try:
        ref = as_output_list(reference(cx.inputs)) if reference is not None else cx.reference
    except Exception as exc:
        raise VerificationError(f"the parity reference failed on the replayed example: {exc}") from exc
    names = output_names(cx.meta["outputs"], len(ref))
    try:
        cand = as_output_list(candidate(cx.inputs))
    except Exception as exc:
        return _replayed(cx, npz_path, {}, f"candidate raised {type(exc).__name__}: {exc}")
    outputs, reasons = {}, []
    for name, c, r in zip(names, cand, ref):
        rtol, atol = cx.meta["tolerances"].get(name, (0.0, 0.0))
        cmp = compare_output(name, c, r, rtol, atol)
        outputs[name] = OutputParity(cmp.max_abs, cmp.max_rel, rtol, atol, cmp.passed, cmp.nonfinite)
        reasons += [cmp.reason] if cmp.reason else []
    if len(cand) != len(ref):
        reasons.append(f"candidate returned {len(cand)} outputs, reference {len(ref)}")
    return _replayed(cx, npz_path, outputs, "; ".join(reasons) or None)


def _replayed(cx: Counterexample, npz_path: Path | str, outputs: dict, reason: str | None) -> ParityResult:
    return ParityResult(reason is None, dict(cx.meta["shape_env"]), 1, outputs, str(npz_path),
                        replay_command(npz_path), reason, int(cx.meta.get("seed", 0)))
