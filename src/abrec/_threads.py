"""One BLAS thread for a block of small matrix products (private).

OpenBLAS wakes its worker threads for every product; on matrices of a few thousand by a few dozen
(reward-model fits, influence terms) the wake-ups cost more than the arithmetic and make timings
erratic. :func:`single_blas` limits BLAS to one thread inside a ``with`` block through one cached
``threadpoolctl`` controller (building a controller scans the loaded libraries: milliseconds; using
it: microseconds).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import lru_cache
from typing import Any

__all__ = ["single_blas"]


@lru_cache(maxsize=1)
def _controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def single_blas() -> AbstractContextManager[Any]:
    """A context manager running BLAS on one thread (restored on exit)."""
    limiter: AbstractContextManager[Any] = _controller().limit(limits=1, user_api="blas")
    return limiter
