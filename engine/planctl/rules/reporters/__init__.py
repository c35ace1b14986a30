"""Reporters by name (an explicit table, as pre-commit does for languages): each is a function
``render(report) -> str`` that prints to stdout. They all read the same ``Report``, so the exit
code never depends on the output format. ``check`` and ``validate`` both look them up here."""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Callable, Iterator

# name -> module of this package that defines ``render``
MODULES = {"text": "as_text", "json": "as_json", "sarif": "as_sarif", "github": "as_github"}


class _Reporters(Mapping):
    """``REPORTERS[name]`` is that reporter's ``render``; its module is imported on first lookup, so
    ``validate``'s default text output never pays for SARIF's rule catalogue."""

    def __getitem__(self, name: str) -> Callable:
        return importlib.import_module(f"{__name__}.{MODULES[name]}").render

    def __iter__(self) -> Iterator[str]:
        return iter(MODULES)

    def __len__(self) -> int:
        return len(MODULES)


REPORTERS: Mapping[str, Callable] = _Reporters()
