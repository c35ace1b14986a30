"""planctl.measure: latency distributions, speedup with a bootstrap interval, peak memory, and
``benchmark``: apply's side-by-side measurement, one fresh process per contender (a forkserver).

Contenders are plain callables; only ``benchmark``'s measurement processes import TVM.
"""
from planctl.measure.compare import bootstrap_ratio_ci, speedup
from planctl.measure.latency import measure_latency
from planctl.measure.memory import peak_rss_mb
from planctl.measure.stats import LatencyStats

__all__ = ["LatencyStats", "bootstrap_ratio_ci", "measure_latency", "peak_rss_mb", "speedup"]
