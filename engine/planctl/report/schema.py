"""JSON Schema of ``report.json`` (``schemas/report.schema.json``), generated from
:class:`planctl.report.record.RunRecord` the way the document schemas are (``planctl schema dump``
writes both; a test fails when the committed file is stale)."""
from __future__ import annotations

import functools
import json
from pathlib import Path

from planctl.documents.schema import BASE_URL, SCHEMA_DIALECT

FILE = "report.schema.json"


@functools.lru_cache(maxsize=None)
def report_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a run record."""
    from planctl.report.record import RunRecord

    head = {"$schema": SCHEMA_DIALECT, "$id": BASE_URL + FILE}
    return {**head, **RunRecord.model_json_schema(mode="validation")}


def render() -> str:
    """The exact text of ``schemas/report.schema.json``: 2-space JSON, keys in model order, final newline."""
    return json.dumps(report_schema(), indent=2, ensure_ascii=False) + "\n"


def dump(directory: Path) -> Path:
    """Write the schema into ``directory`` (created if needed); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE
    path.write_text(render(), encoding="utf-8")
    return path


def stale(directory: Path) -> list[str]:
    """``[FILE]`` when ``directory`` lacks it or holds another text, else ``[]``."""
    path = directory / FILE
    return [] if path.is_file() and path.read_text(encoding="utf-8") == render() else [FILE]
