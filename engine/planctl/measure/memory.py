"""Peak resident memory of this process.

``getrusage(RUSAGE_SELF).ru_maxrss`` is the high-water mark of the resident set since the process
started (it never goes down), in kibibytes on Linux and bytes on macOS (getrusage(2) man pages).
TVM has no API for peak memory (docs/tvm-0.27.md §8), so measure it in a fresh process that
only loads the artifact and runs it, or the import and compile will dominate.
"""
from __future__ import annotations

import resource
import sys


def peak_rss_mb() -> float:
    """Peak RSS of the calling process in MiB (2**20 bytes).

    On Linux ``VmHWM`` from ``/proc/self/status`` (proc(5)): ``ru_maxrss`` survives ``fork`` and
    ``exec``, so a measurement child started by a 1 GB apply process would report the parent's peak.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024
