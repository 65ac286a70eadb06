"""The service tests' small config: a six-item catalog and a three-variant experiment (plain functions).

Test modules import them from here (``from _service_config import config_mapping, experiment``), never from
``conftest``: pytest imports each folder's ``conftest.py`` itself, under a name another folder's may take.
"""

from __future__ import annotations

from typing import Any

ITEMS = [
    ("a", "red running shoe"),
    ("b", "blue running shoe"),
    ("c", "green wool hat"),
    ("d", "yellow rain coat"),
    ("e", "black leather boot"),
    ("f", "white cotton shirt"),
]


def experiment(**overrides: Any) -> dict[str, Any]:
    """A three-variant experiment: uniform control, Bernoulli Thompson sampling, LinUCB (reads contexts)."""
    base: dict[str, Any] = {
        "name": "home",
        "seed": 0,
        "encoder": "hashing",
        "feature_dim": 3,
        "variants": [
            {"name": "random", "policy": "uniform"},
            {"name": "ts", "policy": "bernoulli_ts", "params": {"propensity_draws": 50}},
            {"name": "lin", "policy": "linucb"},
        ],
        "control": "random",
        "reward": {"kind": "click", "window": 3600, "default": 0.0},
    }
    base.update(overrides)
    return base


def config_mapping(*experiments: dict[str, Any]) -> dict[str, Any]:
    return {
        "catalog": {"items": [{"id": i, "text": t} for i, t in ITEMS]},
        "experiments": list(experiments) or [experiment()],
    }
