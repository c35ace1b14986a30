"""Importing TVM once, with the thread count and the pinned versions checked.

TVM reads ``TVM_NUM_THREADS`` when a thread's pool starts (its first parallel kernel), so it is set
before the first import (docs/tvm-0.27.md §3, §16). Unset, TVM would run ``hardware_concurrency() /
2`` threads: one on a 2-vCPU VM, half the host's speed. A missing ``planctl[tvm]`` extra is a clear
error, not a traceback.
"""
from __future__ import annotations

import contextlib
import os
import sys

from planctl.errors import MissingExtraError

PINNED = {"apache-tvm": "0.27.0.post1", "apache-tvm-ffi": "0.1.14.post0"}


THREAD_VARS = ("TVM_NUM_THREADS", "OMP_NUM_THREADS")   # what TVM's MaxConcurrency() reads, in order


def import_tvm(num_threads: int | None = None):
    """Return the ``tvm`` module, importing it with ``TVM_NUM_THREADS`` set.

    ``num_threads``: the thread count when the user set neither ``TVM_NUM_THREADS`` nor
    ``OMP_NUM_THREADS`` (a value they set always wins); None: one per physical core
    (planctl.host.physical_cores). Raises MissingExtraError when apache-tvm is not installed.
    """
    if not any(os.environ.get(name) for name in THREAD_VARS):
        from planctl.host import physical_cores

        os.environ["TVM_NUM_THREADS"] = str(num_threads or physical_cores())
    try:
        with _torch_hidden():
            import tvm  # noqa: PLC0415 - lazy on purpose: validate/check never pay for it
    except ImportError as exc:
        raise MissingExtraError(f"Apache TVM is not importable: {exc}",
                                hint="install the extra: pip install 'planctl[tvm]'") from exc
    return tvm


@contextlib.contextmanager
def _torch_hidden():
    """Hide an installed but not yet imported torch while TVM imports.

    tvm-ffi 0.1.14 imports torch whenever it is installed (a Windows symbol-conflict workaround,
    tvm_ffi/__init__.py) and loads a torch DLPack addon: 2.7 s of every ``import tvm`` here, paid by
    apply, by each measurement process and by the tuning worker, though planctl never hands torch
    tensors to TVM. ``sys.modules["torch"] = None`` makes that ``import torch`` fail; the entry is
    removed afterwards, so a later ``import torch`` works as usual. A process that imported torch
    first keeps it (``bench/minilm_gpu.py`` does).
    """
    if "torch" in sys.modules:
        yield
        return
    sys.modules["torch"] = None
    try:
        yield
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]


def versions() -> dict[str, str]:
    """Installed versions of the packages a build depends on (planctl.versions.BUILD; absent ones
    left out), for reports and the inputs digest."""
    from planctl.versions import installed

    return {name: found for name, found in installed().items() if found is not None}


def version_drift() -> list[str]:
    """Human-readable mismatches against the pins (0.1.15.post2 of tvm-ffi segfaults in tuning)."""
    have = versions()
    return [f"{name} {have.get(name, 'missing')} (pinned {want})"
            for name, want in PINNED.items() if have.get(name) != want]
