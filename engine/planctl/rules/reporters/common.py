"""Helpers the reporters share: the path every format shows (relative to the working directory,
as users type it) and stable fingerprints (repository-relative, so they never depend on the
directory ``check`` ran in)."""
from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

from planctl.findings import Finding


def shown(file: str) -> str:
    """``file`` as every format shows it: relative to the working directory when it is below it
    (else absolute), with ``/`` separators."""
    from planctl.documents.diagnostics import display_path

    return Path(display_path(file)).as_posix()


def relpath(file: str, root: Path) -> str:
    """``file`` relative to the repository root, with ``/`` separators (fingerprints)."""
    path = Path(file)
    try:
        return PurePosixPath(path.resolve().relative_to(Path(root).resolve())).as_posix()
    except ValueError:
        return path.as_posix()


def fingerprint(finding: Finding, root: Path) -> str:
    """Stable across edits that move lines: rule, file, JSON pointer and the rule's key, never
    the line number or the message (which may carry figures such as an age in days)."""
    parts = (finding.rule, relpath(finding.file, root), finding.pointer,
             finding.extra.get("key", ""))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def severity(finding: Finding) -> str:
    return getattr(finding.severity, "value", finding.severity)
