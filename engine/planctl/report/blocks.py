"""The building blocks of the report's sections, independent of its format: tables and titled
sections of plain strings, and the number formats every section uses (planctl.report.sections
assembles the sections; planctl.report.gpu adds the CUDA ones)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

DASH = "—"


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


def ms(x: Any) -> str:
    """Milliseconds: two decimals from 1 ms up, three significant digits below."""
    if not is_number(x):
        return DASH
    return f"{x:,.2f}" if abs(x) >= 1 else f"{x:.3g}"


def num(x: Any, fmt: str = ".3g") -> str:
    """A finite number in ``fmt`` (``g`` when ``fmt`` does not fit its type), else a dash."""
    if not is_number(x):
        return DASH
    try:
        return format(x, fmt)
    except ValueError:   # e.g. "d" given a float
        return format(x, "g")


def is_number(x: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
