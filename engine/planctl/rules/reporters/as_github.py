"""GitHub Actions workflow commands:
``::error file=plans/x.yaml,line=14,col=13,title=PLN201::message`` (waived findings omitted); the
file is relative to the working directory, as in every other format."""
from __future__ import annotations

from planctl.rules.reporters.common import severity, shown

COMMANDS = {"error": "error", "warning": "warning", "note": "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def one(f, root) -> str:
    props = [f"file={_prop(shown(f.file))}", f"line={f.line}", f"col={f.col}"]
    if f.end_line:
        props.append(f"endLine={f.end_line}")
    if f.end_col and f.end_line == f.line:  # GitHub ignores endColumn across lines
        props.append(f"endColumn={f.end_col}")
    props.append(f"title={_prop(f.rule)}")
    message = f.message + (f"\nhelp: {f.help}" if f.help else "")
    return f"::{COMMANDS[severity(f)]} {','.join(props)}::{_data(message)}"


def render(report) -> str:
    return "".join(one(f, report.root) + "\n" for f in report.active)
