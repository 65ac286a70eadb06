"""The revisions, oldest first (``v0001_initial``: every table of the decision service)."""

from __future__ import annotations

__all__: list[str] = []
