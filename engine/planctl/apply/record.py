"""The run record every stage writes into; the report is rendered from it alone."""
from __future__ import annotations

import contextlib
import time
from datetime import datetime, timezone

from planctl.report.record import REPORT_VERSION


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
