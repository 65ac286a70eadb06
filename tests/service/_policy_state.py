"""Compare two policies by their saved state files: the service's tests of restart and replay use it."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from abrec.policies.base import Policy
from abrec.service.snapshots import policy_to_bytes


def arrays(policy: Policy) -> dict[str, np.ndarray[Any, Any]]:
    """Every array of a policy's saved state (learned arrays, item ids; the header as text)."""
    with np.load(io.BytesIO(policy_to_bytes(policy)), allow_pickle=False) as z:
        return {key: z[key] for key in z.files}


def assert_same_state(a: Policy, b: Policy) -> None:
    """Assert that ``a`` and ``b`` save the same arrays, key for key."""
    left, right = arrays(a), arrays(b)
    assert sorted(left) == sorted(right)
    for key in left:
        np.testing.assert_array_equal(left[key], right[key], err_msg=key)
