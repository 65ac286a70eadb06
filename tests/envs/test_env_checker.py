"""The environment checker itself, tested on deliberately broken simulators.

Each broken environment below is a real view with one realistic bug. It must fail exactly the
checks written for that bug (one, or the two oracle checks for an oracle that is too low), with a
message that names the environment, the check and what was wrong, and pass every other check (as
``tests/test_checker.py`` does for policies).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
import numpy.typing as npt
import pytest

from abrec.envs import ENV_IDS, RecBanditEnv, RecSessionEnv, SyntheticCatalog, make_env
from abrec.errors import InputError, ParameterError, UnknownNameError
from abrec.testing import check_env, env_checks, parametrize_env_checks

IntArray = npt.NDArray[np.int64]
Step = tuple[Any, float, bool, bool, dict[str, Any]]

BANDIT = "abrec/SyntheticCatalog-Bandit-v0"
SESSION = "abrec/SyntheticCatalog-Session-v0"
ALL_CHECKS = [name for name, _ in env_checks(BANDIT)]
SESSION_CHECKS = ALL_CHECKS[:5]
SIZES = {"n_users": 64, "n_candidates": 6, "slate_size": 3}


def _world() -> SyntheticCatalog:
    return SyntheticCatalog(n_items=150, horizon=8, seed=0)


def _bandit(cls: type[RecBanditEnv] = RecBanditEnv, **kw: Any) -> RecBanditEnv:
    return cls(_world(), **{**SIZES, "horizon": 8, "seed": 0, **kw})


def _session(cls: type[RecSessionEnv] = RecSessionEnv, **kw: Any) -> RecSessionEnv:
    return cls(_world(), **{**SIZES, "max_steps": 8, "seed": 0, **kw})


# ----------------------------------------------------------------------------- the oracle
class UnderstatedOracle(RecBanditEnv):
    """Puts the oracle's best items at the least examined positions (the ranking is reversed)."""

    def step(self, action: IntArray) -> Step:
        attraction = self._attraction
        obs, reward, terminated, truncated, info = super().step(action)
        top = -np.sort(-attraction, axis=1)[:, : self.slate_size]
        info["oracle_clicks"] = top[:, ::-1] @ self._exam
        return obs, reward, terminated, truncated, info


class OverstatedOracle(RecBanditEnv):
    """Assumes every position of the oracle's slate is examined (it sums the top attractions)."""

    def step(self, action: IntArray) -> Step:
        attraction = self._attraction
        obs, reward, terminated, truncated, info = super().step(action)
        info["oracle_clicks"] = -np.sort(-attraction, axis=1)[:, : self.slate_size].sum(axis=1)
        return obs, reward, terminated, truncated, info


# ----------------------------------------------------------------------------- expected clicks
class InflatedExpectations(RecBanditEnv):
    """Reports expected clicks (its slates' and the oracle's) 1.5 times too high: an unnormalised examination."""

    def step(self, action: IntArray) -> Step:
        obs, reward, terminated, truncated, info = super().step(action)
        info["expected_clicks"] = 1.5 * info["expected_clicks"]
        info["oracle_clicks"] = 1.5 * info["oracle_clicks"]
        return obs, reward, terminated, truncated, info


# ----------------------------------------------------------------------------- seeding
class SeedIgnoringUsers(RecBanditEnv):
    """Draws users and candidates from a generator re-created from a fixed seed at every reset.

    Gymnasium's own checker misses it: the same seed does give the same episode, and
    ``env.np_random`` (clicks) does follow the seed.
    """

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        self._fixed = np.random.default_rng(0)
        return super().reset(seed=seed, options=options)

    def _observe(self) -> dict[str, Any]:
        real = self._np_random
        self._np_random = self._fixed
        try:
            return super()._observe()
        finally:
            self._np_random = real


# ----------------------------------------------------------------------------- spaces and actions
class ClippedActions(RecBanditEnv):
    """Casts and clips what it is given instead of rejecting it."""

    def _columns(self, action: npt.ArrayLike) -> IntArray:
        cols = np.clip(np.asarray(action), 0, self.n_candidates - 1).astype(np.int64)
        return super()._columns(cols)


class DrawsBeforeValidating(RecBanditEnv):
    """Draws its click noise before it validates the action: a rejected action still moves the random stream."""

    def step(self, action: IntArray) -> Step:
        self.np_random.random(self.n_users)
        return super().step(action)


# ----------------------------------------------------------------------------- episodes
class EndlessBandit(RecBanditEnv):
    """Ignores its horizon: never truncates."""

    def step(self, action: IntArray) -> Step:
        obs, reward, terminated, _, info = super().step(action)
        return obs, reward, terminated, False, info


class LeavingPenalty(RecSessionEnv):
    """Charges one unit for every session that leaves: the engagement return goes negative."""

    def step(self, action: npt.ArrayLike) -> Step:
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward - float(info["left"].sum()), terminated, truncated, info


# ----------------------------------------------------------------------------- new items
class FutureItems(RecBanditEnv):
    """Draws candidates from the whole catalog, items that have not arrived yet included."""

    def _observe(self) -> dict[str, Any]:
        self._pool, self._pool_step = np.arange(self.world.n_items, dtype=np.int64), self._t
        return super()._observe()


class NewOnlyOnArrival(RecBanditEnv):
    """Flags an item as new only at the step it arrives, not as 'arrived after step 0'."""

    def step(self, action: IntArray) -> Step:
        obs, reward, terminated, truncated, info = super().step(action)
        info["new_items"] = self.world.arrival[info["items"]] == info["step"]
        return obs, reward, terminated, truncated, info


# ----------------------------------------------------------------------------- Gymnasium's API
class ReusedObservation(RecBanditEnv):
    """Returns one observation dict, updated in place at every step (Gymnasium's checker refuses it)."""

    def _observe(self) -> dict[str, Any]:
        buffer: dict[str, Any] = self.__dict__.setdefault("_buffer", {})
        buffer.update(super()._observe())
        return buffer


BROKEN = [
    pytest.param(
        lambda: _bandit(UnderstatedOracle),
        {"check_oracle_beats_every_slate", "check_oracle_is_brute_force_best"},
        "the oracle is not the best slate",
        id="oracle-too-low",
    ),
    pytest.param(
        lambda: _bandit(OverstatedOracle),
        {"check_oracle_is_brute_force_best"},
        "best of all 120 slates",
        id="oracle-high",
    ),
    pytest.param(
        lambda: _bandit(InflatedExpectations),
        {"check_expected_clicks_match_clicks"},
        "standard errors",
        id="expected-clicks-x1.5",
    ),
    pytest.param(
        lambda: _bandit(SeedIgnoringUsers), {"check_same_seed_same_episode"}, "the seed is ignored", id="seed-ignored"
    ),
    pytest.param(lambda: _bandit(ClippedActions), {"check_spaces_and_actions"}, "accepted a float", id="clips"),
    pytest.param(
        lambda: _bandit(DrawsBeforeValidating), {"check_spaces_and_actions"}, "rejected action changed", id="draws"
    ),
    pytest.param(lambda: _bandit(EndlessBandit), {"check_episodes_end"}, "had not ended after 1000", id="endless"),
    pytest.param(lambda: _session(LeavingPenalty), {"check_episodes_end"}, "negative reward", id="negative-reward"),
    pytest.param(lambda: _bandit(FutureItems), {"check_new_items"}, "which arrives at step", id="future-items"),
    pytest.param(lambda: _bandit(NewOnlyOnArrival), {"check_new_items"}, "info['new_items']", id="new-flags"),
    pytest.param(lambda: _bandit(ReusedObservation), {"check_gymnasium_api"}, "check_env failed", id="reused-obs"),
]


def _failures(env: Any) -> dict[str, str]:
    failures = {}
    for name, check in env_checks(env):
        try:
            check()
        except AssertionError as exc:
            failures[name] = str(exc)
    return failures


@pytest.mark.parametrize(("build", "check_names", "fragment"), BROKEN)
def test_broken_env_fails_exactly_the_intended_checks(
    build: Callable[[], gymnasium.Env[Any, Any]], check_names: set[str], fragment: str
) -> None:
    env = build()
    failures = _failures(env)
    assert set(failures) == check_names, failures
    for name in check_names:
        assert failures[name].startswith(f"{type(env).__name__} failed {name}: "), failures[name]
    assert any(fragment in failures[name] for name in check_names), failures


def test_every_abrec_check_has_a_broken_env_that_fails_it() -> None:
    covered = set().union(*(param.values[1] for param in BROKEN))
    assert covered == set(ALL_CHECKS)


def test_the_real_views_pass() -> None:
    """The broken environments' parent classes, built the same way, pass every check."""
    assert _failures(_bandit()) == {}
    assert _failures(_session()) == {}


def test_which_checks_apply() -> None:
    assert [name for name, _ in env_checks(_session())] == SESSION_CHECKS
    assert ALL_CHECKS[5:] == ["check_oracle_beats_every_slate", "check_oracle_is_brute_force_best", "check_new_items"]
    # 20 candidates, slates of 3: 6,840 slates per user. A bare instance cannot be rebuilt smaller...
    assert "check_oracle_is_brute_force_best" not in [name for name, _ in env_checks(_bandit(n_candidates=20))]
    # ... one made by make_env is rebuilt from its spec with 6 candidates.
    big = make_env({"env": BANDIT, "seed": 0, "world": {"n_items": 150}, "view": {"n_users": 16, "n_candidates": 20}})
    assert [name for name, _ in env_checks(big)] == ALL_CHECKS
    check_env(big)


def test_check_env_takes_an_id_a_config_or_an_env() -> None:
    check_env(SESSION)
    check_env({"env": SESSION, "seed": 1, "world": {"n_items": 120}, "view": {"n_users": 10, "max_steps": 5}})
    check_env(make_env({"env": BANDIT, "seed": 2, "world": {"n_items": 120}, "view": {"n_users": 10}}))
    with pytest.raises(UnknownNameError, match="Did you mean 'abrec/SyntheticCatalog-Bandit-v0'"):
        check_env("abrec/SyntheticCatalog-Bandits-v0")
    with pytest.raises(InputError, match="path"):
        check_env("abrec/MovieLens-Bandit-v0")
    with pytest.raises(InputError, match=r"gymnasium\.Env, a registered id"):
        check_env(3)  # type: ignore[arg-type]


def test_check_env_reports_every_failure_at_once() -> None:
    with pytest.raises(AssertionError, match=r"2 of 8 environment checks failed:\n- UnderstatedOracle failed"):
        check_env(_bandit(UnderstatedOracle))


def test_expected_failures_are_strict_and_need_reasons() -> None:
    reason = "the oracle fills positions worst first"
    known = {
        ("UnderstatedOracle", "check_oracle_beats_every_slate"): reason,
        ("UnderstatedOracle", "check_oracle_is_brute_force_best"): reason,
    }
    check_env(_bandit(UnderstatedOracle), expected_failures=known)
    with pytest.raises(AssertionError, match=r"listed as an expected failure \(the oracle fills"):
        check_env(_bandit(), expected_failures={("RecBanditEnv", "check_new_items"): reason})
    with pytest.raises(UnknownNameError, match="Did you mean 'check_new_items'"):
        check_env(BANDIT, expected_failures={(BANDIT, "check_new_item"): "typo"})
    with pytest.raises(ParameterError, match="written reason"):
        check_env(BANDIT, expected_failures={(BANDIT, "check_new_items"): ""})


def test_parametrize_env_checks_builds_ids_and_strict_xfails() -> None:
    reason = "new items are not drawn"
    mark = parametrize_env_checks([BANDIT, SESSION], expected_failures={(BANDIT, "check_new_items"): reason})
    names, params = mark.args
    assert tuple(names) == ("env", "check")
    assert [param.id for param in params] == [f"{BANDIT}-{name}" for name in ALL_CHECKS] + [
        f"{SESSION}-{name}" for name in SESSION_CHECKS
    ]
    (xfail,) = [mark for param in params for mark in param.marks]
    assert xfail.name == "xfail" and xfail.kwargs == {"reason": reason, "strict": True, "raises": AssertionError}
    with pytest.raises(ParameterError, match="does not apply"):
        parametrize_env_checks([SESSION], expected_failures={(SESSION, "check_new_items"): reason})
    assert ENV_IDS[0] == BANDIT
