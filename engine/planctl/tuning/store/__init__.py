"""The governed tuning cache's storage: a SQLite file or a PostgreSQL database (``location``), one
definition of its tables (``tables``, SQLAlchemy Core) and of every query (``db``), migrations
(``schema``, Alembic revisions in ``migrations/``), what differs between the two databases
(``engines``) and the record type (``record``). Every SQL statement of planctl lives in this
package; the rest of ``planctl.tuning`` calls its methods. No TVM here."""
from planctl.tuning.store.db import MissingCacheError, Store, generation
from planctl.tuning.store.location import (DB_FILE, DEFAULT_CACHE, CacheLocation, redact, resolve_cache,
                                           resolve_cache_dir)
from planctl.tuning.store.record import FAILED_S, Record, min_of
from planctl.tuning.store.tables import SCHEMA_VERSION

__all__ = ["DB_FILE", "DEFAULT_CACHE", "FAILED_S", "SCHEMA_VERSION", "CacheLocation", "MissingCacheError", "Record",
           "Store", "generation", "min_of", "redact", "resolve_cache", "resolve_cache_dir"]
