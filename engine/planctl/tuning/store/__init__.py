"""The governed tuning cache's storage: one SQLite file per cache (``db``), its tables and
migrations (``schema``) and the record type (``record``). Every SQL statement of planctl lives in
this package; the rest of ``planctl.tuning`` calls its methods. No TVM here."""
from planctl.tuning.store.db import (DB_FILE, DEFAULT_CACHE, MissingCacheError, Store,
                                     generation, resolve_cache_dir)
from planctl.tuning.store.record import FAILED_S, Record, mean_of
from planctl.tuning.store.schema import SCHEMA_VERSION

__all__ = ["DB_FILE", "DEFAULT_CACHE", "FAILED_S", "SCHEMA_VERSION", "MissingCacheError", "Record", "Store",
           "generation", "mean_of", "resolve_cache_dir"]
