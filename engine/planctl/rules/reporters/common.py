"""Helpers the reporters share: repository-relative paths and stable fingerprints."""
from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

from planctl.findings import Finding


def relpath(file: str, root: Path) -> str:
    """``file`` relative to the repository root, with ``/`` separators (SARIF, GitHub)."""
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
