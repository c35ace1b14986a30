"""Roofline placement of the measured workload: achieved FLOP/s against the target's peaks.

``placement`` is computed from plain numbers (the workload's FLOPs and compulsory bytes from
``planctl.lowering.flops``, a latency statistic, the Target's ``spec.roofline``), so apply stores
it in the record and the report only renders it. The attainable rate at the workload's arithmetic
intensity ``I`` (FLOP/byte) is ``min(peak, I * bandwidth)``; below the ridge point
(``peak / bandwidth``) the workload is memory-bound, above it compute-bound.
"""
from __future__ import annotations

import io
import math
from typing import Any

STATISTIC = "p50"


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def placement(flops: dict | None, latency: dict | None, roofline: dict | None, *,
              latency_baseline: dict | None = None, dtype: str = "float32",
              statistic: str = STATISTIC) -> dict | None:
    """The roofline section of the record, or None when FLOPs, latency or peaks are missing.

    ``flops``: ``workload_flops()`` output (``flops``, ``bytes``); ``latency``: the candidate's
    LatencyStats dict (ms); ``roofline``: ``Target.spec.roofline`` as a dict (``peak_flops`` per
    dtype in FLOP/s, ``memory_bandwidth`` in bytes/s, ``source``); the peak of ``dtype`` is used,
    else the largest one listed."""
    if not flops or not roofline or not latency or not _finite(flops.get("flops")):
        return None
    seconds = (latency.get(statistic) or 0) / 1e3
    peaks = roofline.get("peak_flops") or {}
    if not _finite(seconds) or not peaks:
        return None
    used = dtype if dtype in peaks else max(peaks, key=peaks.get)
    peak, bandwidth = float(peaks[used]), roofline.get("memory_bandwidth")
    achieved = flops["flops"] / seconds
    intensity = flops.get("intensity")
    attainable = min(peak, intensity * bandwidth) if _finite(intensity) and _finite(bandwidth) else peak
    out = {"flops": flops["flops"], "bytes": flops.get("bytes"), "intensity": intensity,
           "statistic": statistic, "seconds": seconds, "dtype": used,
           "achieved_gflops": achieved / 1e9, "peak_gflops": peak / 1e9,
           "memory_bandwidth_gbs": bandwidth / 1e9 if _finite(bandwidth) else None,
           "ridge_intensity": peak / bandwidth if _finite(bandwidth) else None,
           "attainable_gflops": attainable / 1e9, "percent_of_peak": achieved / peak * 100,
           "percent_of_attainable": achieved / attainable * 100,
           "bound": (("memory" if intensity < peak / bandwidth else "compute")
                     if _finite(intensity) and _finite(bandwidth) else None),
           "source": roofline.get("source")}
    base = (latency_baseline or {}).get(statistic)
    if _finite(base):
        out["baseline_achieved_gflops"] = flops["flops"] / (base / 1e3) / 1e9
    return out


def roofline_plot_png(roof: dict | None) -> bytes | None:
    """PNG of the roofline (log-log GFLOP/s against FLOP/byte) with the candidate (and baseline)
    placed at the workload's intensity; None without the numbers a plot needs."""
    if not roof or not _finite(roof.get("intensity")) or not _finite(roof.get("memory_bandwidth_gbs")):
        return None
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    peak, bw, x0 = roof["peak_gflops"], roof["memory_bandwidth_gbs"], roof["intensity"]
    ridge = peak / bw
    xs = np.logspace(math.log10(min(x0, ridge) / 20), math.log10(max(x0, ridge) * 20), 200)
    fig = Figure(figsize=(7, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(xs, np.minimum(peak, xs * bw), color="#333", label=f"roofline ({roof.get('dtype')} peak, bandwidth)")
    ax.axvline(x0, color="#999", linestyle=":", linewidth=1)
    points = [("candidate", roof.get("achieved_gflops"), "#176f2c", "o"),
              ("baseline", roof.get("baseline_achieved_gflops"), "#a61b1b", "s")]
    for name, y, color, marker in points:
        if _finite(y):
            ax.plot([x0], [y], marker=marker, color=color, linestyle="none", markersize=8,
                    label=f"{name}: {y:.3g} GFLOP/s ({y / peak:.1%} of peak)")
    ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (FLOP/byte)", ylabel="GFLOP/s",
           title=f"roofline ({roof.get('statistic', STATISTIC)} latency)")
    ys = [y for _, y, _, _ in points if _finite(y)]
    if ys:
        ax.set_ylim(bottom=min(min(ys), float(np.min(np.minimum(peak, xs * bw)))) / 3, top=peak * 3)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8, ncol=1, frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
