"""abrec: learning recommenders (bandits and RL agents reading items through text embeddings),
evaluated off-policy and proven with A/B tests.

Subpackages: :mod:`abrec.policies` (the policy protocol and every bandit), :mod:`abrec.testing`
(the public conformance suite), :mod:`abrec.cli` (the ``abrec`` command).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
