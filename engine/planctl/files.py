"""Files written whole or not at all, and file digests (no planctl imports: every stage uses it).

A reader never sees half a file: the text goes to a temporary file in the same directory (the same
filesystem, so the rename is atomic, rename(2)), which then replaces the destination; on any
failure the temporary file is removed and the destination is left as it was.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Replace ``path`` with ``data`` atomically (parent directories are created); returns the path.
    The file gets the mode it had, or a new file's (0666 less the umask), not mkstemp's 0600: records
    and reports are committed and shared.

    Raises OSError when the directory cannot be written; the destination is then untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)   # the only way to read it; set back at once
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_text(path: Path | str, text: str, encoding: str = "utf-8") -> Path:
    """:func:`atomic_write_bytes` of ``text`` encoded with ``encoding``."""
    return atomic_write_bytes(path, text.encode(encoding))


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of the file at ``path``, read in 1 MiB chunks. Raises OSError when unreadable."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/"


def lfs_pointer_problem(path: Path | str) -> str | None:
    """``"a Git LFS pointer, not the file itself"`` when ``path`` is a regular file that holds a
    Git LFS pointer (``version https://git-lfs.github.com/spec/v1`` / ``oid sha256:...`` /
    ``size ...``: what a checkout without ``git lfs pull`` leaves behind); else None (also for a
    directory or a file that cannot be read: those are reported by whoever reads it)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(LFS_POINTER_PREFIX))
    except OSError:
        return None
    if head != LFS_POINTER_PREFIX:
        return None
    size = Path(path).stat().st_size
    return f"a Git LFS pointer ({size} bytes), not the file itself: run git lfs pull"
