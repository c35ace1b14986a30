"""One apply (or tune) of a plan for a target at a time per output root, leaving no file behind.

The lock is flock(2) on a file beside the output, as filelock takes it, except that the file is
removed before the lock is released: a refused or failed apply must leave nothing new under the
output folder, and filelock keeps its file on Unix (so that waiters share one inode). Removing it
opens a race, a peer that opened the file before the unlink winning flock on an inode no path names
any more, so the lock counts as taken only when the path still names the locked file.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from planctl.errors import PlanctlError

try:
    import fcntl
except ImportError:  # Windows, where filelock's own lock removes its file on release
    fcntl = None

_ATTEMPTS = 5  # each retry means a peer released in between: more than a few is a busy folder


@contextlib.contextmanager
def exclusive(folder: Path, name: str, busy: str, hint: str) -> Iterator[None]:
    """Hold the lock ``folder/name`` for the block; raise PlanctlError(``busy``) when another process
    holds it. The file is gone afterwards, and so is ``folder`` when this created it and it is empty."""
    created = not folder.exists()
    try:
        with _locked(folder / name) as taken:
            if not taken:
                raise PlanctlError(busy, hint=hint)
            yield
    finally:
        if created:
            with contextlib.suppress(OSError):  # not empty: another run's lock or output is there
                folder.rmdir()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[bool]:
    if fcntl is None:
        yield from _filelock(path)
        return
    fd = _acquire(path)
    if fd is None:
        yield False
        return
    try:
        yield True
    finally:
        path.unlink(missing_ok=True)  # still held: a peer that opens the path now makes a new file
        os.close(fd)


def _acquire(path: Path) -> int | None:
    """The descriptor of ``path`` locked by this process, or None when another process holds it."""
    for _ in range(_ATTEMPTS):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # a peer removed the empty folder it had created: make it again
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        if _names(path, fd):
            return fd
        os.close(fd)  # the holder unlinked it before releasing: lock the path's new file instead
    return None


def _names(path: Path, fd: int) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


def _filelock(path: Path) -> Iterator[bool]:
    from filelock import FileLock, Timeout

    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
