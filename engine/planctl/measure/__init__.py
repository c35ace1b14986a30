"""planctl.measure: latency distributions, speedup with a bootstrap interval, peak memory.

Contenders are plain callables; no TVM import here.
"""
from planctl.measure.compare import bootstrap_ratio_ci, speedup
from planctl.measure.latency import measure_latency
from planctl.measure.memory import peak_rss_mb
from planctl.measure.stats import LatencyStats

__all__ = ["LatencyStats", "bootstrap_ratio_ci", "measure_latency", "peak_rss_mb", "speedup"]
