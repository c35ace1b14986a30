"""PLN204 activation-calibration."""
from __future__ import annotations

from planctl.rules.capabilities import dtype_bits
from planctl.rules.context import Violation
from planctl.rules.registry import rule

CALIBRATION_BELOW_BITS = 16  # float16 and bfloat16 keep fp32's exponent range closely enough


@rule("PLN204", "activation-calibration", "error")
def check(ctx):
    """Activations in a format below 16 bits declare their calibration.

    What it checks
        A technique whose ``precision.activations`` is narrower than 16 bits (``int8``,
        ``uint8``, ``int4``, ``float8_e4m3fn``, ``float8_e5m2``...) has a ``calibration``
        (dataset, samples, method), unless its scales are ``dynamic-per-token`` (measured on
        each row at run time). Only ``quantization`` can carry one, so ``mixed-precision``
        to an 8-bit float activation format is always this finding. Precision itself is named
        separately for weights, activations and KV cache by the schema (all three are required
        fields, so a plan that names only a bit width is a document finding before this rule
        runs).

    Why
        An activation format below 16 bits, integer or float8, covers the activations' range
        only through scales, and scales come from calibration data; without it the ranges are
        guesses and the result is not reproducible. Nominal bit width alone is not a format.

    Example
        ``precision: {weights: int8, activations: int8, kv_cache: none}``, or ``activations:
        float8_e4m3fn``, and no ``calibration``.

    Fix
        Add ``calibration: {dataset, samples, method}`` to a ``quantization`` technique, measure
        the ranges at run time (``activation_scales: dynamic-per-token``), or keep activations at
        16 bits or more (weight-only quantization).
    """
    for pointer, technique, _ in ctx.techniques():
        precision = getattr(technique, "precision", None)
        if precision is None or dtype_bits(precision.activations) >= CALIBRATION_BELOW_BITS:
            continue
        if getattr(technique, "calibration", None) is not None:
            continue
        if getattr(technique, "activation_scales", None) == "dynamic-per-token":
            continue  # ranges measured on every row at run time: nothing to calibrate
        acts = precision.activations
        if technique.technique == "quantization":
            help = "add calibration: {dataset, samples, method}, or activation_scales: dynamic-per-token"
        else:
            help = (f"{technique.technique} has no calibration: use the quantization technique "
                    "with calibration: {dataset, samples, method}, or keep activations at 16 bits")
        yield Violation(pointer + "/precision/activations",
                        f"activations are quantized to {acts} but no calibration is declared "
                        f"({dtype_bits(acts)}-bit activations need scales from data)", help=help)
