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
    """Yield a fresh folder next to ``destination``; remove it unless :func:`publish` moved it.
    Staging folders of earlier runs are removed first: the caller holds the destination's lock
    (planctl.apply.pipeline), so they belong to runs that died where no ``finally`` runs (an illegal
    instruction, SIGKILL, the OOM killer) and would hold a build's .so files for ever."""
    created = not destination.parent.exists()
    destination.parent.mkdir(parents=True, exist_ok=True)
    for stale in destination.parent.glob(f".{destination.name}.staging-*"):
        shutil.rmtree(stale, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{destination.name}.staging-", dir=destination.parent))
    try:
        yield folder
    finally:
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        if created and not any(destination.parent.iterdir()):
            destination.parent.rmdir()  # a failed first apply leaves no empty out/<plan>/


def publish(folder: Path, destination: Path) -> None:
    """Replace ``destination`` with ``folder``; the old one becomes ``<name>.previous``.

    The folder is made readable like any build output (mkdtemp and the report writer create
    0700/0600 entries, which CI artifact uploads and services under another user cannot read).
    """
    _readable(folder)
    previous = destination.with_name(destination.name + ".previous")
    if destination.exists():
        if previous.exists():
            shutil.rmtree(previous)
        os.replace(destination, previous)
    os.replace(folder, destination)


def _readable(folder: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask | (0o111 & path.stat().st_mode))


def promoted(destination: Path) -> bool:
    """Whether ``destination`` holds a promoted output (its manifest's verdict is ``promote``)."""
    import json

    try:
        return json.loads((destination / "manifest.json").read_text()).get("verdict") == "promote"
    except (OSError, ValueError):
        return False


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
