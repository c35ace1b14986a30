"""Reporters by name (an explicit dict, as pre-commit does for languages): each is a function
``render(report) -> str`` that prints to stdout. They all read the same ``Report``, so the exit
code never depends on the output format."""
from __future__ import annotations

from planctl.rules.reporters import as_github, as_json, as_sarif, as_text

REPORTERS = {
    "text": as_text.render,
    "json": as_json.render,
    "sarif": as_sarif.render,
    "github": as_github.render,
}
