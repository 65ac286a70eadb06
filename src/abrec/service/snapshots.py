"""Policies as bytes: abrec's pickle-free policy file (:meth:`abrec.policies.Policy.save`) in a database BLOB.

The bytes are written to and read from memory (``io.BytesIO``): the learner snapshots and every worker loads
policies several times a second while serving.
"""

from __future__ import annotations

import io

from ..policies.base import Policy
from ..policies.state import load_policy_from, save_policy_to

__all__ = ["policy_from_bytes", "policy_to_bytes"]


def policy_to_bytes(policy: Policy) -> bytes:
    """The bytes of ``policy``'s ``.npz`` state file (hyperparameters, learned arrays, generator state)."""
    buffer = io.BytesIO()
    save_policy_to(policy, buffer)
    return buffer.getvalue()


def policy_from_bytes(state: bytes) -> Policy:
    """The policy saved in ``state`` (:func:`policy_to_bytes`); a corrupt state raises StateError."""
    return load_policy_from(io.BytesIO(state), name="The policy snapshot")
