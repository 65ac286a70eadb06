from __future__ import annotations

import numpy as np
import pytest

from abrec.envs import make_linear_bandit, run_bandit
from abrec.errors import InputError, ParameterError
from abrec.policies import LinUCB, UniformRandom


def test_same_seed_same_world() -> None:
    a, b = make_linear_bandit(rounds=50, seed=4), make_linear_bandit(rounds=50, seed=4)
    assert np.array_equal(a.R, b.R) and np.array_equal(a.X, b.X)
    assert not np.array_equal(a.R, make_linear_bandit(rounds=50, seed=5).R)


def test_click_rate_matches_the_model() -> None:
    b = make_linear_bandit(arms=20, dim=8, rounds=20_000, seed=0)
    p = 1 / (1 + np.exp(-(4 * b.X @ b.theta.T - 3)))
    n = b.R.size
    assert abs(b.R.mean() - p.mean()) < 4.5 * np.sqrt(p.mean() * (1 - p.mean()) / n)


def test_runner_accounts_for_every_round() -> None:
    b = make_linear_bandit(arms=6, dim=4, rounds=1000, seed=1)
    for batch in (1, 64):
        run = run_bandit(LinUCB(seed=0), b, batch=batch)
        assert run.rounds == 1000 and run.cumulative_reward[-1] == run.reward
        assert run.reward <= run.oracle_reward == b.oracle_reward
        assert run.regret == run.oracle_reward - run.reward and run.rounds_per_s > 0
    seen: list[int] = []
    run_bandit(UniformRandom(seed=0), b, batch=300, rounds=700, progress=seen.append)
    assert seen == [300, 600, 700]


def test_runner_and_maker_validate() -> None:
    b = make_linear_bandit(arms=3, dim=2, rounds=10, seed=0)
    with pytest.raises(InputError):
        run_bandit(UniformRandom(), b, rounds=11)
    with pytest.raises(InputError):
        run_bandit(UniformRandom(), b, batch=0)
    with pytest.raises(ParameterError, match="'arms'"):
        make_linear_bandit(arms=0)
