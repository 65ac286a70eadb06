"""The errors of the event store, inside abrec's one hierarchy (:mod:`abrec.errors`)::

    AbrecError
    └── StoreError (RuntimeError)       the database cannot be used as it is
        └── SchemaVersionError          its tables are not at the code's migration head: run `abrec db upgrade`

Bad records (a NaN reward, an empty id, a naive time) raise :class:`abrec.errors.InputError` when the record
is built, before anything is written.
"""

from __future__ import annotations

from ..errors import AbrecError

__all__ = ["SchemaVersionError", "StoreError"]


class StoreError(AbrecError, RuntimeError):
    """The event store's database cannot be used as it is (unreachable, unknown URL, wrong schema version)."""


class SchemaVersionError(StoreError):
    """The database's tables are not at the migration head of this abrec: run ``abrec db upgrade``."""
