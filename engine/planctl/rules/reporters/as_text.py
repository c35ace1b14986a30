"""Text: ``path:line:col: severity[RULE] message``, the source line with carets under the node,
``help:``; then the report's summary line (none for a clean ``validate``). Colour only on a terminal and never with ``NO_COLOR`` set."""
from __future__ import annotations

import os
import sys

from planctl.documents.diagnostics import render as render_one
from planctl.rules.reporters.common import severity

COLOURS = {"error": "\033[1;31m", "warning": "\033[1;33m", "note": "\033[1;36m"}
RESET = "\033[0m"


def use_colour(stream=None) -> bool:
    stream = stream or sys.stdout
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def one(finding, colour: bool) -> str:
    level = severity(finding)
    text = render_one(f"{finding.file}:{finding.line}:{finding.col}", level, finding.rule,
                      finding.message, file=finding.file, line=finding.line, col=finding.col,
                      hint=finding.help, end_line=finding.end_line, end_col=finding.end_col)
    if colour:
        head = f"{level}[{finding.rule}]"
        text = text.replace(head, f"{COLOURS[level]}{head}{RESET}", 1)
    return text


def render(report, colour: bool | None = None) -> str:
    colour = use_colour() if colour is None else colour
    blocks = [one(f, colour) for f in report.active]
    summary = report.summary()
    text = "\n\n".join(blocks + ([summary] if summary else []))
    return text + "\n" if text else ""
