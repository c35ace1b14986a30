"""The run record every stage writes into; the report is rendered from it alone."""
from __future__ import annotations

import contextlib
import os
import platform
import time
from datetime import datetime, timezone

REPORT_VERSION = 1


def new_record() -> dict:
    return {"report_version": REPORT_VERSION, "created": datetime.now(timezone.utc).isoformat(),
            "stages": [], "passes": [], "parity": [], "notes": []}


@contextlib.contextmanager
def stage(record: dict, name: str, progress=None):
    """Time a stage into ``record['stages']`` and tell ``progress`` (a callable) it started."""
    if progress:
        progress(name)
    started = time.perf_counter()
    try:
        yield
    finally:
        record["stages"].append({"name": name, "seconds": round(time.perf_counter() - started, 3)})


def environment(versions: dict[str, str]) -> dict:
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpu": _cpu_model(), "cores": os.cpu_count(), "packages": versions,
            "env": {k: os.environ.get(k) for k in ("TVM_NUM_THREADS", "OMP_NUM_THREADS",
                                                   "GLIBC_TUNABLES", "OPENBLAS_CORETYPE")}}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
