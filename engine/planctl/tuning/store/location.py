"""Where the tuning cache lives: a folder holding one SQLite file (one engineer), or a PostgreSQL
database named by a ``postgresql://`` URL (a team: CI runners and laptops share one cache).

``--cache`` if given, else ``$PLANCTL_CACHE``, else ``.planctl/cache`` under the working directory.
A PostgreSQL cache still keeps a local folder (``.planctl/cache``) for what belongs to this machine:
search logs, bindings, hypothesis's examples.

Credentials come from the environment or from libpq's own files, never from a plan: ``$PGPASSWORD``,
``~/.pgpass`` (``$PGPASSFILE``), a service in ``pg_service.conf`` (``postgresql:///?service=NAME``,
``$PGSERVICEFILE``), or a password inside ``$PLANCTL_CACHE``. A password on the command line
(``--cache postgresql://user:secret@...``) is refused: every user of the machine can read a
process's arguments. Every message, report and log shows the URL with its password masked
(:attr:`CacheLocation.shown`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from planctl.errors import TuningError

DB_FILE = "tuning.sqlite3"
DEFAULT_CACHE = Path(".planctl") / "cache"
ENV = "PLANCTL_CACHE"
URL_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


def is_url(value: str | os.PathLike | None) -> bool:
    return isinstance(value, str) and value.startswith(URL_SCHEMES)


@dataclass(frozen=True)
class CacheLocation:
    """``url``: SQLAlchemy's URL of the database (``sqlite:///<folder>/tuning.sqlite3`` or
    ``postgresql+psycopg://...``, password included when one was given in the environment);
    ``local_dir``: this machine's folder for logs and bindings (the SQLite cache's own folder)."""

    url: str
    local_dir: Path

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return "postgresql" if self.url.startswith("postgresql") else "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @property
    def sqlite_file(self) -> Path:
        return self.local_dir / DB_FILE

    @property
    def shown(self) -> str:
        """What messages and reports print: the SQLite file, or the URL with its password masked."""
        return redact(self.url) if self.is_postgresql else str(self.sqlite_file)

    @property
    def without_password(self) -> str:
        """What a file on disk may keep (a binding): the URL without its password (libpq finds it
        again in the environment or its files), or the SQLite folder."""
        if not self.is_postgresql:
            return str(self.local_dir)
        from sqlalchemy.engine import make_url

        return make_url(self.url).set(password=None, drivername="postgresql").render_as_string(hide_password=False)

    @property
    def spec(self) -> str:
        """The string that reopens this location in a child process (through ``$PLANCTL_CACHE``,
        never through a file: it may hold a password)."""
        return self.url if self.is_postgresql else str(self.local_dir)

    def __str__(self) -> str:
        return self.shown


def redact(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``; anything unparsable is masked whole
    after the scheme."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        if parsed.drivername == "postgresql+psycopg":  # as the user wrote it: the driver is ours
            parsed = parsed.set(drivername="postgresql")
        return parsed.render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url.split("://", 1)[0] + "://***"


def redact_text(text: str, location: CacheLocation | None) -> str:
    """``text`` with the location's password (and its URL-encoded form) masked."""
    from urllib.parse import quote

    if location is None or not location.is_postgresql:
        return text
    from sqlalchemy.engine import make_url

    password = make_url(location.url).password
    for secret in {password, quote(password or "", safe="")} if password else ():
        text = text.replace(secret, "***")
    return text


def _postgresql(url: str, from_command_line: bool) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    driver = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        parsed = make_url(driver)
    except (ArgumentError, ValueError) as exc:
        raise TuningError(f"the tuning cache URL {redact(url)} cannot be parsed ({type(exc).__name__})",
                          hint="postgresql://USER@HOST:PORT/DATABASE, or postgresql:///?service=NAME") from None
    if from_command_line and parsed.password:
        raise TuningError(
            f"--cache {redact(url)}: a password on the command line is readable by every user of this machine",
            hint="drop it from the URL and give it through $PGPASSWORD, ~/.pgpass ($PGPASSFILE), a service "
                 "in pg_service.conf (postgresql:///?service=NAME), or $PLANCTL_CACHE")
    return driver


def resolve_cache(override: str | os.PathLike | CacheLocation | None = None) -> CacheLocation:
    """The cache ``--cache`` names (``override``), else ``$PLANCTL_CACHE``, else ``.planctl/cache``.
    Raises TuningError for an unparsable URL or a password given on the command line."""
    if isinstance(override, CacheLocation):
        return override
    from_command_line = override is not None
    value = override if override is not None else (os.environ.get(ENV) or str(DEFAULT_CACHE))
    if is_url(str(value)):
        return CacheLocation(_postgresql(str(value), from_command_line), DEFAULT_CACHE)
    folder = Path(value)
    return CacheLocation(f"sqlite:///{folder.resolve() / DB_FILE}", folder)


def resolve_cache_dir(override: str | os.PathLike | CacheLocation | None = None) -> Path:
    """This machine's cache folder: the SQLite cache's folder, or for a PostgreSQL cache the local
    folder of its search logs (``.planctl/cache``)."""
    return resolve_cache(override).local_dir
