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
           line: int | None = None, col: int | None = None, hint: str | None = None,
           end_line: int | None = None, end_col: int | None = None) -> str:
    """``location: severity[code] message``, the source line with a caret (underlining up to
    ``end_col`` when the span ends on the same line), then ``  help: hint``."""
    head = f"{location}: " if location else ""
    out = [f"{head}{severity}[{code}] {message}"]
    text = source_line(file, line)
    if _printable(text):
        gutter = f"{line} | "
        start = max((col or 1) - 1, 0)
        width = 1
        if end_line == line and end_col and end_col - 1 > start:
            width = min(end_col - 1, len(text)) - start
        out.append(f"{gutter}{text.expandtabs(1)}")
        out.append(" " * (len(gutter) + start) + "^" * max(width, 1))
    if hint:
        out.append(f"  help: {hint}")
    return "\n".join(out)


def _printable(text: str | None) -> bool:
    """Short text without control characters (tabs allowed): binary files show no source line."""
    return text is not None and len(text) <= 400 and text.replace("\t", " ").isprintable()


def render_error(err: PlanctlError) -> str:
    return render(err.location(), "error", err.code, err.message, file=err.file, line=err.line,
                  col=err.col, hint=err.hint, end_line=err.end_line, end_col=err.end_col)


def display_path(path: str | Path) -> str:
    """A path relative to the current directory when it is below it (as users typed it)."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)
