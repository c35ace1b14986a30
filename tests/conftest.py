"""Suite-wide: every report.json the suite writes through planctl matches the committed
``schemas/report.schema.json``; and a PostgreSQL server for the tests of the shared tuning cache
(``postgres``: started once per session on loopback in a temporary folder, only when a test asks
for it; ``pg_url``: a new database per test, its password in $PGPASSWORD).

``planctl.report.write`` writes report.json (and nothing else writes it); the fixture wraps that
module's file writer for each test, validates each report.json as it is written (the staging folder
it lands in is renamed or removed before teardown), and fails the test at teardown naming the file
and the first schema error.
"""
from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import jsonschema
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/servers.py
from servers import PostgresServer, postgres_bin  # noqa: E402

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


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server for the session (skipped where PostgreSQL is not installed:
    scripts/setup.sh installs it, so CI always has it)."""
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed (scripts/setup.sh installs them)")
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


_databases = itertools.count()


@pytest.fixture
def pg_url(postgres, monkeypatch, tmp_path: Path) -> str:
    """A new database's URL, without password: the password is in $PGPASSWORD, as a team would
    give it. The working directory is ``tmp_path`` (a PostgreSQL cache's local folder, for search
    logs, is ``.planctl/cache`` under it)."""
    monkeypatch.setenv("PGPASSWORD", postgres.password)
    monkeypatch.chdir(tmp_path)
    return postgres.create_database(f"cache_{next(_databases)}")
