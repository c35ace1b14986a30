"""Reading the documents ``check`` works on, through the documents stage (``planctl.documents``):
its findings (PLN1xx) become check findings, and only documents without document errors reach the
legality rules."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planctl.codes import UNPARSABLE
from planctl.documents import layout
from planctl.documents import load as _load
from planctl.documents.diagnostics import display_path
from planctl.errors import DocumentError
from planctl.findings import Finding

KIND_LINE = re.compile(r"^kind:\s*['\"]?(\w+)", re.MULTILINE)


@dataclass
class Document:
    """One file as ``check`` sees it: document findings, the loaded model when there is no
    document error, and whether the file was unparsable (exit 2)."""

    path: Path
    findings: list[Finding] = field(default_factory=list)
    loaded: Any = None

    @property
    def unparsable(self) -> bool:
        return any(f.rule in UNPARSABLE for f in self.findings)

    @property
    def kind(self) -> str | None:
        """The model's kind; for a file that did not load, its top-level ``kind:`` line if any
        (only to count plans and targets apart)."""
        if self.loaded is not None:
            return type(self.loaded.model).__name__
        try:
            found = KIND_LINE.search(self.path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return None
        return found.group(1) if found else None


def read(path: Path) -> Document:
    """Load ``path`` once: every document finding, and the loaded document when there are none
    (a file in ``plans/`` or ``targets/`` must be of that folder's kind)."""
    findings, loaded = _load.check_file(path)
    shown = display_path(path)
    return Document(Path(path), [dataclasses.replace(f, file=shown) for f in findings], loaded)


def target_path(name: str, root: Path) -> Path | None:
    return layout.target_path(name, root)


def repo_plans(root: Path) -> list[Path]:
    """Every plan of the repository (``plans/*.yaml`` and ``*.yml``: :mod:`layout`)."""
    return layout.plan_files(root)


def load_quietly(paths: list[Path]) -> dict[Path, Any]:
    """Plans the run was not asked about, for cross-file rules: invalid ones are skipped (their
    own check reports them)."""
    out = {}
    for path in paths:
        try:
            loaded = _load.load_plan(path)
        except DocumentError:
            continue
        out[Path(path).resolve()] = loaded
    return out
