"""Write the run record and its renderings: ``report.json``, ``report.md``, ``report.html``."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from planctl.report.html import render_html
from planctl.report.markdown import render_markdown


def json_safe(value: Any) -> Any:
    """A copy of ``value`` that ``json.dumps(allow_nan=False)`` accepts: non-finite floats become None,
    numpy scalars and arrays become Python numbers and lists, paths and other objects become strings."""
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


def _atomic_write(path: Path, text: str) -> None:
    # Write beside the target and rename, so a reader never sees half a report.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(record: dict, out_dir: Path | str) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``report.html`` into ``out_dir`` (created if needed);
    returns ``{"json": path, "md": path, "html": path}``. The renderers read the JSON-safe copy, so all
    three files show the same values."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    safe = json_safe(record)
    paths = {"json": out / "report.json", "md": out / "report.md", "html": out / "report.html"}
    _atomic_write(paths["json"], record_json(safe))
    _atomic_write(paths["md"], render_markdown(safe))
    _atomic_write(paths["html"], render_html(safe))
    return paths
