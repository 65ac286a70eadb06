"""The database fixtures (``database_url`` on SQLite and PostgreSQL, ``store``...): see ``_database_fixtures.py``."""

from store._database_fixtures import _postgres, backend, database_url, empty_database_url, store  # noqa: F401
