"""Suite-wide: every report.json the suite writes through planctl matches the committed
``schemas/report.schema.json``.

``planctl.report.write`` writes report.json (and nothing else writes it); the fixture wraps that
module's file writer for each test, validates each report.json as it is written (the staging folder
it lands in is renamed or removed before teardown), and fails the test at teardown naming the file
and the first schema error.
"""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "report.schema.json"


@pytest.fixture(scope="session")
def report_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


@pytest.fixture(autouse=True)
def reports_match_their_schema(monkeypatch, report_validator):
    from planctl.report import write

    problems: list[str] = []
    original = write.atomic_write_text

    def checked(path, text, *args, **kwargs):
        if Path(path).name == "report.json":
            error = jsonschema.exceptions.best_match(report_validator.iter_errors(json.loads(text)))
            if error is not None:
                problems.append(f"{path}: {error.json_path}: {error.message}")
        return original(path, text, *args, **kwargs)

    monkeypatch.setattr(write, "atomic_write_text", checked)
    yield
    assert not problems, "report.json does not match schemas/report.schema.json:\n" + "\n".join(problems)
