"""Importing TVM once, with the thread count and the pinned versions checked.

TVM reads ``TVM_NUM_THREADS`` when its runtime starts, so it is set before the first import
(docs/tvm-0.27.md §3). A missing ``planctl[tvm]`` extra is a clear error, not a traceback.
"""
from __future__ import annotations

import os
from importlib import metadata

from planctl.errors import MissingExtraError

PINNED = {"apache-tvm": "0.27.0.post1", "apache-tvm-ffi": "0.1.14.post0"}


def import_tvm(num_threads: int | None = None):
    """Return the ``tvm`` module, importing it with ``TVM_NUM_THREADS`` set.

    Raises MissingExtraError when apache-tvm is not installed.
    """
    if num_threads:
        os.environ.setdefault("TVM_NUM_THREADS", str(num_threads))
    try:
        import tvm  # noqa: PLC0415 - lazy on purpose: validate/check never pay for it
    except ImportError as exc:
        raise MissingExtraError(f"Apache TVM is not importable: {exc}",
                                hint="install the extra: pip install 'planctl[tvm]'") from exc
    return tvm


def versions() -> dict[str, str]:
    """Installed versions of the packages a build depends on (for reports and cache keys)."""
    found = {}
    for name in ("apache-tvm", "apache-tvm-ffi", "onnx", "onnxruntime", "numpy", "torch"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def version_drift() -> list[str]:
    """Human-readable mismatches against the pins (0.1.15.post2 of tvm-ffi segfaults in tuning)."""
    have = versions()
    return [f"{name} {have.get(name, 'missing')} (pinned {want})"
            for name, want in PINNED.items() if have.get(name) != want]
