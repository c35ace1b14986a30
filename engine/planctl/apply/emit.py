"""Atomic emit: everything is written to a staging folder beside the destination, then renamed.

An interrupted or failed apply leaves no half-written output: the staging folder is removed, and
the destination is either the previous complete output or the new one. The previous output is kept
as ``<target>.previous`` so ``planctl rollback`` can restore it.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


@contextlib.contextmanager
def staging(destination: Path):
    """Yield a fresh folder next to ``destination``; remove it unless :func:`publish` moved it."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{destination.name}.staging-", dir=destination.parent))
    try:
        yield folder
    finally:
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)


def publish(folder: Path, destination: Path) -> None:
    """Replace ``destination`` with ``folder``; the old one becomes ``<name>.previous``."""
    previous = destination.with_name(destination.name + ".previous")
    if destination.exists():
        if previous.exists():
            shutil.rmtree(previous)
        os.replace(destination, previous)
    os.replace(folder, destination)


def restore_previous(destination: Path) -> bool:
    """Swap ``destination`` and ``<name>.previous``; False when there is no previous output."""
    previous = destination.with_name(destination.name + ".previous")
    if not previous.exists():
        return False
    swap = destination.with_name(destination.name + ".swap")
    if destination.exists():
        os.replace(destination, swap)
    os.replace(previous, destination)
    if swap.exists():
        os.replace(swap, previous)
    return True
