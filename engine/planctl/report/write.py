"""Write the run record and its renderings: ``report.json``, ``report.md``, ``report.html``."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from planctl.files import atomic_write_text
from planctl.report.html import render_html
from planctl.report.markdown import render_markdown


def json_safe(value: Any) -> Any:
    """A copy of ``value`` that ``json.dumps(allow_nan=False)`` accepts: a model becomes its JSON
    data, non-finite floats become None, numpy scalars and arrays become Python numbers and lists,
    paths and other objects become strings."""
    if isinstance(value, BaseModel):
        return json_safe(value.model_dump(mode="json"))
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):   # numpy scalar or array
        return json_safe(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def record_json(record: dict) -> str:
    """The canonical JSON of a record: sorted keys, indent 2, trailing newline."""
    return json.dumps(json_safe(record), sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def write_reports(record: BaseModel | dict, out_dir: Path | str) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``report.html`` into ``out_dir`` (created if needed),
    each atomically; ``record`` is a :class:`planctl.report.record.RunRecord` (or its JSON data).
    Returns ``{"json": path, "md": path, "html": path}``. The renderers read the JSON-safe copy, so
    all three files show the same values."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    safe = json_safe(record)
    paths = {"json": out / "report.json", "md": out / "report.md", "html": out / "report.html"}
    atomic_write_text(paths["json"], record_json(safe))
    atomic_write_text(paths["md"], render_markdown(safe))
    atomic_write_text(paths["html"], render_html(safe))
    return paths
