"""Alembic migrations of the event store (run by :func:`abrec.store.upgrade`; no ``alembic.ini`` needed)."""

from __future__ import annotations

__all__: list[str] = []
