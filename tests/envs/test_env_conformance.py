"""Every registered simulator passes abrec's environment conformance suite (``abrec.testing.check_env``).

One test per (environment id, check that applies to it): Gymnasium's own checker, spaces and
action validation, seeding, episodes that end with bounded rewards, exact expected clicks against
the Monte Carlo mean of the clicks; for the bandit views also the oracle (against 26 + m replayed
slates per user, and against every slate on the small instance) and new items. The SyntheticCatalog
ids are checked with the checker's own small config; the MovieLens ids (and LLMUsers, with the fake
generator) with the same sizes on ``shared/data/ml-100k`` (skipped, with the path looked at, when it
is absent; failed in CI).
"""

from __future__ import annotations

from typing import Any

import pytest

from _shared import find_shared, missing
from abrec.envs import ENV_IDS
from abrec.testing import parametrize_env_checks

VIEWS = {
    "Bandit": {"n_users": 64, "n_candidates": 6, "slate_size": 3, "horizon": 8},
    "Session": {"n_users": 64, "n_candidates": 6, "slate_size": 3, "max_steps": 8},
}


MOVIELENS, MISSING = find_shared("data", "ml-100k")


def _subject(env_id: str) -> str | dict[str, Any] | None:
    """The id itself (the checker's small config) or, for MovieLens, a config of the same sizes on the data."""
    if "SyntheticCatalog" in env_id:
        return env_id
    if env_id == "abrec/InterestEvolution-v0":  # a 12-minute budget: sessions end by themselves within 40 steps
        return {"env": env_id, "seed": 0, "view": {**VIEWS["Session"], "time_budget": 12.0, "max_steps": 40}}
    if MISSING is not None:
        return None
    view = env_id.split("-")[-2]
    world: dict[str, Any] = {"path": str(MOVIELENS), "horizon": 8}  # movies arrive during the 8 steps
    if "LLMUsers" in env_id:  # MovieLens personas answered by the fake model (deterministic per prompt)
        world = {"path": str(MOVIELENS), "generator": "fake", "movielens": {"horizon": 8}}
    return {"env": env_id, "seed": 0, "world": world, "view": VIEWS[view]}


SUBJECTS = {env_id: subject for env_id in ENV_IDS if (subject := _subject(env_id)) is not None}


@parametrize_env_checks(SUBJECTS.values())
def test_env_conforms(env: Any, check: Any) -> None:
    check(env)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_every_registered_env_is_checked(env_id: str) -> None:
    if env_id not in SUBJECTS:
        missing(f"{env_id} is not checked: {MISSING}")
