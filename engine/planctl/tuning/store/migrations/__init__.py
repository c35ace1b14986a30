"""Alembic's migration environment for the tuning store (``env.py``, one revision per schema
version under ``versions/``). planctl runs it itself when it opens a cache
(planctl.tuning.store.schema.migrate); ``alembic`` on the command line is not needed."""
