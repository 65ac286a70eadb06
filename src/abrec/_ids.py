"""Time-ordered unique ids: UUID version 7 (RFC 9562) as 32 hex digits, the shape of ``uuid.uuid4().hex``.

The service's event ids and :mod:`abrec.client`'s request ids are keys of unique indexes in the event store
(``decisions.event_id``, ``(experiment, client_request_id)``, and the rewards' and journal's keys that start with
the event id). A random id (version 4) lands anywhere in such a B-tree, so every insert of a batch dirties a leaf
page of its own that the commit must write; an id that starts with the time lands next to the last ones, and a
batch of inserts dirties a few pages. The ids stay unguessable: 74 of their 128 bits are random.
"""

from __future__ import annotations

import os
import time

__all__ = ["time_ordered_ids"]

_RAND_B = (1 << 62) - 1


def time_ordered_ids(n: int) -> list[str]:
    """``n`` UUIDv7 ids as hex: 48 bits of Unix time in milliseconds, the version (7), 12 random bits, the RFC
    variant (``10``) and 62 random bits. Ids of a later millisecond sort after those of an earlier one.

    >>> a, b = time_ordered_ids(2)
    >>> len(a), a[12], a[16] in "89ab", a != b
    (32, '7', True, True)
    """
    head = ((time.time_ns() // 1_000_000) & 0xFFFF_FFFF_FFFF) << 80 | 7 << 76 | 2 << 62
    raw = os.urandom(10 * n)
    out = []
    for i in range(n):
        r = int.from_bytes(raw[10 * i : 10 * i + 10], "big")  # 80 random bits: 12 for rand_a, 62 for rand_b
        out.append(f"{head | (r >> 68) << 64 | (r & _RAND_B):032x}")
    return out
