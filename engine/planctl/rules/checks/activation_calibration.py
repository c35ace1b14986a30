"""PLN204 activation-calibration."""
from __future__ import annotations

from planctl.rules.context import Violation
from planctl.rules.registry import rule

INTEGER = ("int8", "uint8", "int4", "uint4", "int16", "int32")


@rule("PLN204", "activation-calibration", "error")
def check(ctx):
    """Integer activation quantization declares its calibration.

    What it checks
        A ``quantization`` technique whose ``precision.activations`` is an integer type has a
        ``calibration`` (dataset, samples, method). Precision itself is named separately for
        weights, activations and KV cache by the schema (all three are required fields, so a
        plan that names only a bit width is a document finding before this rule runs).

    Why
        Activation scales come from calibration data; without it the ranges are guesses and the
        result is not reproducible. Nominal bit width alone is not a format.

    Example
        ``precision: {weights: int8, activations: int8, kv_cache: none}`` and no ``calibration``.

    Fix
        Add ``calibration: {dataset, samples, method}``, or keep activations in floating point
        (weight-only quantization).
    """
    for pointer, technique, _ in ctx.techniques():
        if technique.technique != "quantization":
            continue
        acts = technique.precision.activations
        if acts in INTEGER and technique.calibration is None:
            yield Violation(pointer + "/precision/activations",
                            f"activations are quantized to {acts} but no calibration is declared",
                            help="add calibration: {dataset, samples, method}")
