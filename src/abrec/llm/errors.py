"""The errors of :mod:`abrec.llm`, in abrec's one hierarchy (see :mod:`abrec.errors`)::

AbrecError
└── GenerationError (RuntimeError)       a generative model could not be loaded, reached or run
    └── BudgetExhaustedError             the per-run call budget has no room for the next batch
"""

from __future__ import annotations

from ..errors import AbrecError

__all__ = ["BudgetExhaustedError", "GenerationError"]


class GenerationError(AbrecError, RuntimeError):
    """A generative model could not be loaded (missing package, file), reached (HTTP) or run."""


class BudgetExhaustedError(GenerationError):
    """The call budget is spent: no call of the refused batch was made (answers so far are cached)."""
