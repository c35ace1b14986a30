"""Rendering of errors and findings as ``path:line:col: severity[RULE] message`` + source line + caret
+ ``help:`` (rustc/ruff style). Pure text; no TVM, no numpy."""
from __future__ import annotations

from pathlib import Path

from planctl.errors import PlanctlError


def source_line(path: str | None, line: int | None) -> str | None:
    """Return line ``line`` (1-based) of ``path``, or None when it cannot be read as text."""
    if not path or not line:
        return None
    try:
        with open(path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if number == line:
                    return raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if number > line:
                    break
    except OSError:
        return None
    return None


def render(location: str, severity: str, code: str, message: str, *, file: str | None = None,
           line: int | None = None, col: int | None = None, hint: str | None = None) -> str:
    head = f"{location}: " if location else ""
    out = [f"{head}{severity}[{code}] {message}"]
    text = source_line(file, line)
    if text is not None and len(text) <= 400:
        gutter = f"{line} | "
        out.append(f"{gutter}{text.expandtabs(1)}")
        out.append(" " * (len(gutter) + max((col or 1) - 1, 0)) + "^")
    if hint:
        out.append(f"  help: {hint}")
    return "\n".join(out)


def render_error(err: PlanctlError) -> str:
    return render(err.location(), "error", err.code, err.message, file=err.file, line=err.line,
                  col=err.col, hint=err.hint)


def display_path(path: str | Path) -> str:
    """A path relative to the current directory when it is below it (as users typed it)."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)
