"""The garbage collector of a serving process: young collections rarer.

Every decide allocates a few hundred container objects (records, dicts, tuples), so CPython's cyclic collector
runs its young generation every 700 allocations. The service freezes what it starts with (:meth:`Service.start
<abrec.service.state.Service.start>`), so a collection walks only what was made since; in `abrec serve`'s
processes (uvicorn workers, the learner process), :func:`tune` also raises the first threshold, so that it runs
less often. Reference counting still frees at once everything that is not in a cycle.
"""

from __future__ import annotations

import gc

__all__ = ["tune"]


def tune(threshold: int) -> None:
    """Set the collector's first threshold to ``threshold`` (0: leave the collector as it is)."""
    if threshold == 0:
        return
    _, second, third = gc.get_threshold()
    gc.set_threshold(threshold, second, third)
