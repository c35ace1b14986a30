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
    if _showable(text):
        gutter = f"{line} | "
        start = max((col or 1) - 1, 0)
        width = 1
        if end_line == line and end_col and end_col - 1 > start:
            width = min(end_col - 1, len(text)) - start
        shown, caret_at, caret_width = _window(text, start, max(width, 1))
        out.append(f"{gutter}{shown}")
        out.append(" " * (len(gutter) + caret_at) + "^" * caret_width)
    if hint:
        out.append(f"  help: {hint}")
    return "\n".join(out)


MAX_SHOWN = 120   # characters of a source line shown around the span (a 300-character name had a 300-character caret)
CONTEXT = 20      # characters kept before the span when the line is cut


def _showable(text: str | None) -> bool:
    """A source line to show: binary files (a NUL, a line longer than any document's, or more than a
    few invisible characters) show none."""
    if text is None or "\x00" in text or len(text) > 4000:
        return False
    hidden = sum(1 for ch in text if not ch.isprintable() and ch != "\t")
    return hidden <= max(2, len(text) // 20)


def _window(text: str, start: int, width: int) -> tuple[str, int, int]:
    """The line as shown (tabs as one space, invisible characters such as a zero-width space as
    ``\\u200b``, cut to about MAX_SHOWN characters around the span with ``...``) and the caret's
    column and width in it."""
    pieces = [" " if ch == "\t" else ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text]
    offsets = [0]
    for piece in pieces:
        offsets.append(offsets[-1] + len(piece))
    shown = "".join(pieces)
    begin = offsets[min(start, len(text))]
    end = offsets[min(start + width, len(text))] if start < len(text) else begin + 1
    first = max(begin - CONTEXT, 0) if len(shown) > MAX_SHOWN else 0
    last = min(len(shown), first + MAX_SHOWN)
    prefix = "..." if first else ""
    window = prefix + shown[first:last] + ("..." if last < len(shown) else "")
    caret_at = len(prefix) + begin - first
    return window, caret_at, max(min(end, last) - begin, 1)


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
