"""The numerics of a plan's ``quantization`` technique, in numpy (no TVM): what the int8 kernels
compute, and what the sensitivity search simulates with onnxruntime.

Weights (``precision.weights: int8``), per output channel, per group of ``group_size`` input
channels, or per tensor:

- symmetric: ``scale = max|w| / 127``, ``q = clip(round(w / scale), -127, 127)``, ``w ~ scale * q``;
- asymmetric: ``lo = min(w, 0)``, ``hi = max(w, 0)``, ``scale = (hi - lo) / 255``,
  ``zero = -128 - round(lo / scale)``, ``q = clip(round(w / scale) + zero, -128, 127)``,
  ``w ~ scale * (q - zero)``.

Activations (``precision.activations``), quantized where the matmul reads them:

- ``uint8``: asymmetric, with a zero point: ``lo = min(x, 0)``, ``hi = max(x, 0)``,
  ``scale = (hi - lo) / (L - 1)``, ``zero = round(-lo / scale)``, ``q = clip(round(x / scale) + zero, 0, L - 1)``;
- ``int8``: symmetric: ``scale = max|x| / (L / 2 - 1)``, ``zero = L / 2``, ``q`` as above (an int8
  value plus ``L / 2``, which is how the ``u8 x s8`` instructions take it);
- a float dtype: weight-only (the kernel dequantizes the int8 weights in registers);

with ``L`` = 256 levels (VNNI) or 128 (``vpmaddubsw`` paths, planctl.lowering.int8_kernels). The
range is per token (each row of the matmul's input, measured at run time) with
``activation_scales: dynamic-per-token``; with ``static-per-tensor`` it is one range per tensor,
measured on the technique's ``calibration`` dataset before the build
(``minmax``: the extremes seen; ``percentile``: the 0.01th and 99.99th percentiles, clipping the
outliers beyond them). Rounding is to nearest, ties to even (``numpy.rint``, ONNX ``Round``,
``vrndscaleps``). The int8 x int8 products accumulate in int32 exactly; the dequantization
``scale_x * scale_w * (acc - zero_x * sum_k q_w - zero_w * sum_k q_x + K * zero_x * zero_w)`` is
float32.

Sources: Jacob et al., "Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference" (CVPR 2018) for the affine scheme and the zero-point algebra;
Dettmers et al., "LLM.int8()" (2022) and Yao et al., "ZeroQuant" (2022) for per-token activation
scales with per-channel weight scales.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")
TINY = 1e-12  # smallest scale: an all-zero row or tensor quantizes to zeros, not NaN
PERCENTILE = 99.99


@dataclass(frozen=True)
class QuantScheme:
    """One technique's numerics on one kernel path.

    ``weight_symmetric``; ``granularity``: per-channel | per-group | per-tensor; ``group_size``
    (per-group); ``activations``: ``uint8`` | ``int8`` | ``float`` (weight-only); ``levels``: 256 or
    128; ``static``: one calibrated range per tensor (else per token at run time);
    ``calibration_method``: minmax | percentile (static only)."""

    weight_symmetric: bool = True
    granularity: str = "per-channel"
    group_size: Optional[int] = None
    activations: str = "uint8"
    levels: int = 256
    static: bool = False
    calibration_method: Optional[str] = None

    @classmethod
    def of(cls, technique, levels: int = 256) -> "QuantScheme":
        """From a plan's ``Quantization`` model (planctl.documents.models.plan)."""
        act = technique.precision.activations
        calibration = technique.calibration
        static = act not in FLOAT_DTYPES and technique.activation_scales == "static-per-tensor"
        return cls(weight_symmetric=technique.scheme == "symmetric", granularity=technique.granularity,
                   group_size=technique.group_size if technique.granularity == "per-group" else None,
                   activations="float" if act in FLOAT_DTYPES else act, levels=levels, static=static,
                   calibration_method=calibration.method if static and calibration is not None else None)

    @property
    def weight_only(self) -> bool:
        return self.activations == "float"

    def groups(self, k: int) -> int:
        """Number of scale groups along the reduction dim of size ``k``."""
        return k // self.group_size if self.granularity == "per-group" else 1

    # ------------------------------------------------------------------ descriptions (evidence)
    def weight_format(self) -> str:
        return f"int8 {'symmetric' if self.weight_symmetric else 'asymmetric (zero point)'}"

    def weight_granularity(self) -> str:
        if self.granularity == "per-group":
            return f"per output channel and group of {self.group_size} input channels"
        return {"per-channel": "per output channel", "per-tensor": "one scale per tensor"}[self.granularity]

    def activation_format(self) -> str:
        if self.weight_only:
            return "float32 (weight-only: int8 weights dequantized in the kernel)"
        bits = 8 if self.levels == 256 else 7
        kind = "uint8 asymmetric (zero point)" if self.activations == "uint8" else "int8 symmetric"
        return f"{kind}, {bits}-bit range ({self.levels} levels)"

    def activation_granularity(self) -> str:
        if self.weight_only:
            return "none"
        return "per tensor, static (calibrated)" if self.static else "per token, dynamic (measured at run time)"


# ------------------------------------------------------------------------------- weights
@dataclass(frozen=True)
class QuantizedWeight:
    """``q``: int8 [K, N]; ``scale``: float32 [G, N]; ``zero``: int32 [G, N] (zeros when symmetric);
    ``G`` = 1 unless per-group."""

    q: np.ndarray
    scale: np.ndarray
    zero: np.ndarray

    def dequantize(self) -> np.ndarray:
        k, n = self.q.shape
        groups = self.scale.shape[0]
        q = self.q.astype(np.float32).reshape(groups, k // groups, n)
        return ((q - self.zero[:, None, :]) * self.scale[:, None, :]).reshape(k, n).astype(np.float32)

    def column_sums(self) -> np.ndarray:
        """``sum_k q`` per group and output channel: int32 [G, N]."""
        k, n = self.q.shape
        groups = self.scale.shape[0]
        return self.q.astype(np.int32).reshape(groups, k // groups, n).sum(axis=1).astype(np.int32)


def quantize_weight(w: np.ndarray, scheme: QuantScheme) -> QuantizedWeight:
    """Quantize a float weight ``w`` [K, N] (K input channels, N output channels)."""
    k, n = w.shape
    groups = scheme.groups(k)
    blocks = w.astype(np.float32).reshape(groups, k // groups, n)
    if scheme.granularity == "per-tensor":
        lo, hi = np.full((1, 1, n), blocks.min(), np.float32), np.full((1, 1, n), blocks.max(), np.float32)
    else:
        lo, hi = blocks.min(axis=1, keepdims=True), blocks.max(axis=1, keepdims=True)
    if scheme.weight_symmetric:
        scale = np.maximum(np.maximum(np.abs(lo), np.abs(hi)) / 127.0, TINY).astype(np.float32)
        zero = np.zeros_like(scale, dtype=np.int32)
        q = np.clip(np.rint(blocks / scale), -127, 127)
    else:
        lo, hi = np.minimum(lo, 0), np.maximum(hi, 0)
        scale = np.maximum((hi - lo) / 255.0, TINY).astype(np.float32)
        zero = (-128 - np.rint(lo / scale)).astype(np.int32)
        q = np.clip(np.rint(blocks / scale) + zero, -128, 127)
    return QuantizedWeight(q.reshape(k, n).astype(np.int8), scale[:, 0, :], zero[:, 0, :])


# ------------------------------------------------------------------------------- activations
def activation_params(lo, hi, scheme: QuantScheme):
    """``(scale, zero)`` for a range ``[lo, hi]`` (arrays or scalars; per token or per tensor)."""
    levels = scheme.levels
    lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
    if scheme.activations == "int8":
        scale = np.maximum(np.maximum(-lo, hi) / (levels // 2 - 1), TINY)
        return scale.astype(np.float32), np.full_like(scale, levels // 2, dtype=np.float32)
    scale = np.maximum((hi - lo) / (levels - 1), TINY).astype(np.float32)
    return scale, np.rint(-lo / scale).astype(np.float32)


def quantize_activation(x: np.ndarray, scale, zero, scheme: QuantScheme) -> np.ndarray:
    """``q`` (uint8, same shape as ``x``) for per-token (``scale``/``zero`` shaped [..., 1]) or
    per-tensor (scalars) parameters."""
    return np.clip(np.rint(x / scale) + zero, 0, scheme.levels - 1).astype(np.uint8)


def calibrated_range(samples: np.ndarray, method: str) -> tuple[float, float]:
    """The per-tensor range of the activations ``samples`` (any shape): ``minmax`` or ``percentile``
    (:data:`PERCENTILE`)."""
    if method == "percentile":
        return float(np.percentile(samples, 100 - PERCENTILE)), float(np.percentile(samples, PERCENTILE))
    return float(samples.min()), float(samples.max())
