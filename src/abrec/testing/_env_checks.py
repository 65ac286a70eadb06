"""The environment conformance checks (private; public through :mod:`abrec.testing`).

Each ``check_*`` function takes an environment (an instance, a registered id or a
:func:`~abrec.envs.make_env` config; see :class:`~abrec.testing._env_harness.EnvSource`) and raises
:class:`AssertionError` naming it, the check and what was wrong. The checks only use the Gymnasium
API and what ``info`` reports (``clicks``, ``expected_clicks``, ``oracle_clicks``, ``items``,
``new_items``), plus ``env.unwrapped.world`` for the arrival steps of new items. Which checks apply
follows from ``info``: every simulator gets the first four; one that reports clicks and their
exact expectation (both abrec views) the Monte Carlo check; the bandit view, which also reports
its oracle and the new items it shows, all eight.

Expected failures are listed as ``{(env_name, check_name): "written reason"}``, where ``env_name``
is the id (or, for an instance without a spec, its class name).
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
from gymnasium.utils import env_checker

from ._env_harness import (
    Env,
    EnvLike,
    EnvRun,
    EnvSource,
    FloatArray,
    IntArray,
    as_env_check,
    difference,
    distinct_slates,
)
from ._harness import run_all
from ._runner import _expected as _validate_expected
from ._runner import _expecting_failure, _parametrize

__all__ = [
    "check_env",
    "check_episodes_end",
    "check_expected_clicks_match_clicks",
    "check_gymnasium_api",
    "check_new_items",
    "check_oracle_beats_every_slate",
    "check_oracle_is_brute_force_best",
    "check_same_seed_same_episode",
    "check_spaces_and_actions",
    "env_checks",
    "parametrize_env_checks",
]

#: Relative and absolute slack of "the oracle is at least as good" (float rounding only).
_RTOL, _ATOL = 1e-9, 1e-12
#: Monte Carlo: at least this many user-steps, and a difference of at most this many standard errors.
MC_USER_STEPS, MC_Z = 20_000, 5.0
#: New items: a new item must be seen when at least this many candidate slots were expected to hold one.
NEW_ITEMS_EXPECTED = 20.0
#: An episode that has not ended after this many steps (of an env without a time limit) fails.
MAX_EPISODE_STEPS = 1_000
#: check_env warns that an unbounded Box is "probably too low / high": abrec's contexts are unbounded on purpose.
_ALLOWED_WARNINGS = re.compile(r"A Box observation space (minimum|maximum) value is -?infinity")


# ------------------------------------------------------------------ checks every environment gets
@as_env_check
def check_gymnasium_api(run: EnvRun) -> None:
    """Gymnasium's own ``gymnasium.utils.env_checker.check_env`` passes on ``env.unwrapped``, without warnings.

    Render modes are not checked (abrec's simulators declare none). The only warnings allowed are
    the two about an unbounded observation Box (a user context is an unbounded real vector).
    """
    env = run.env().unwrapped
    run.step_name = "running gymnasium.utils.env_checker.check_env"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            env_checker.check_env(env, skip_render_check=True)
        except AssertionError as exc:
            run.fail(f"gymnasium.utils.env_checker.check_env failed: {exc}")
    other = [str(w.message) for w in caught if not _ALLOWED_WARNINGS.search(str(w.message))]
    run.expect(not other, f"gymnasium.utils.env_checker.check_env warned: {other}")


def _outside(space: Any, obs: Any) -> str | None:
    """Which part of ``obs`` lies outside ``space`` (None when it is inside)."""
    if obs in space:
        return None
    parts = getattr(space, "spaces", None)
    if isinstance(parts, Mapping) and isinstance(obs, Mapping):
        for key, part in parts.items():
            if key not in obs:
                return f"obs has no {key!r}"
            if obs[key] not in part:
                value = np.asarray(obs[key])
                return f"obs[{key!r}] ({value.dtype} {value.shape}) is not in {part}"
    return f"obs is not in {space}"


@as_env_check
def check_spaces_and_actions(run: EnvRun) -> None:
    """Observations lie in ``observation_space``; a sampled action is accepted; bad actions are rejected.

    An action of the wrong shape, a float array, a column equal to ``n_candidates`` and a negative
    column each raise ``ValueError`` or ``TypeError`` (abrec's ``InputError``) with a message
    naming what was expected (the shape, or the range of columns), and leave the environment as
    it was: the next valid step is the one it would have been.
    """
    env = run.env()
    n, k, m = run.shape(env)
    rng = np.random.default_rng(3)
    obs, _ = run.reset(env, 11)
    where = _outside(env.observation_space, obs)
    run.expect(where is None, f"after reset(seed=11): {where}.")
    for t in range(6):
        obs, _, terminated, truncated, _ = run.step(env, distinct_slates(rng, n, k, m), f"random slates, step {t}")
        where = _outside(env.observation_space, obs)
        run.expect(where is None, f"after step {t}: {where}.")
        if terminated or truncated:
            obs, _ = run.reset(env, None)
    env.action_space.seed(0)
    run.reset(env, 12)
    run.step(env, env.action_space.sample(), "action_space.sample()")

    good = distinct_slates(rng, n, k, m)
    high, low = good.copy(), good.copy()
    high[0, 0], low[-1, -1] = m, -1
    short = good[:-1] if n > 1 else good[:, :-1]
    bad: list[tuple[str, Any, tuple[str, ...]]] = [
        (f"an action of shape {short.shape}", short, (str((n, k)),)),
        ("a float array", good.astype(np.float64), ("int",)),
        (f"column {m} (there are {m} candidates)", high, (str(m), str(m - 1))),
        ("column -1", low, ("-1", "negative")),
    ]
    run.reset(env, 13)
    for what, action, words in bad:
        run.step_name = f"calling step with {what}"
        try:
            env.step(action)
        except (ValueError, TypeError) as exc:
            message = str(exc)
            run.expect(
                any(word.lower() in message.lower() for word in words),
                f"step with {what} raised {type(exc).__name__}, but its message does not say what was expected "
                f"(it names none of {list(words)}): {message!r}",
            )
        else:
            run.fail(f"step accepted {what} instead of raising ValueError or TypeError.")
    after_bad = run.step(env, good, "a valid slate after the rejected actions")
    run.reset(env, 13)
    clean = run.step(env, good, "the same valid slate right after reset(seed=13)")
    differs = difference(_record(*clean), _record(*after_bad), "the step")
    run.expect(
        differs is None,
        f"a rejected action changed the environment: the next valid step differs from a clean one ({differs}).",
    )


def _record(obs: Any, reward: Any, terminated: bool, truncated: bool, info: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(
        {"obs": obs, "reward": reward, "terminated": terminated, "truncated": truncated, "info": dict(info)}
    )


def _play(run: EnvRun, env: Env, seed: int, actions: list[IntArray]) -> list[dict[str, Any]]:
    """reset(seed), then the actions until the episode ends: what each call returned (copied)."""
    obs, info = run.reset(env, seed)
    episode = [copy.deepcopy({"obs": obs, "info": dict(info)})]
    for t, action in enumerate(actions):
        result = run.step(env, action, f"step {t} after reset(seed={seed})")
        episode.append(_record(*result))
        if result[2] or result[3]:
            break
    return episode


@as_env_check
def check_same_seed_same_episode(run: EnvRun) -> None:
    """``reset(seed=s)`` fixes the episode; another seed gives another one.

    With the same actions, ``reset(seed=7)`` gives identical observations, rewards, flags and infos
    (exactly), also when another episode was played in between; ``reset(seed=8)`` gives different
    observations.
    """
    env = run.env()
    n, k, m = run.shape(env)
    rng = np.random.default_rng(2024)
    actions = [distinct_slates(rng, n, k, m) for _ in range(6)]
    first = _play(run, env, 7, actions)
    _play(run, env, 8, actions[:3])
    again = _play(run, env, 7, actions)
    differs = difference(first, again, "episode")
    run.expect(differs is None, f"two episodes from reset(seed=7) with the same actions differ: {differs}.")
    other = _play(run, env, 8, actions)
    observations = [[part["obs"] for part in episode] for episode in (first, other)]
    run.expect(
        difference(observations[0], observations[1]) is not None,
        "reset(seed=7) and reset(seed=8) gave the same observations at every step: the seed is ignored.",
    )


@as_env_check
def check_episodes_end(run: EnvRun) -> None:
    """Episodes of ``env.unwrapped`` end (terminated or truncated), with bounded rewards.

    The environment itself (not a TimeLimit wrapper) ends every episode within its spec's
    ``max_episode_steps`` (or 1,000 steps without one). Every reward is a finite float >= 0;
    ``info["clicks"]``, where reported, is 0/1 with the action's shape; ``info["expected_clicks"]``
    lies in ``[0, slate_size]`` per user.
    """
    env = run.env()
    spec = env.spec
    limit = spec.max_episode_steps if spec is not None and spec.max_episode_steps else MAX_EPISODE_STEPS
    bare = env.unwrapped
    n, k, m = run.shape(bare)
    rng = np.random.default_rng(17)
    for seed in (31, 32):
        run.reset(bare, seed)
        total = 0.0
        for t in range(limit):
            _, reward, terminated, truncated, info = run.step(bare, distinct_slates(rng, n, k, m), f"step {t}")
            run.expect(
                isinstance(reward, int | float | np.integer | np.floating) and math.isfinite(float(reward)),
                f"step {t} returned the reward {reward!r}, not a finite number.",
            )
            run.expect(float(reward) >= 0, f"step {t} returned the negative reward {reward!r}.")
            total += float(reward)
            if "clicks" in info:
                clicks = np.asarray(info["clicks"])
                run.expect(clicks.shape == (n, k), f"info['clicks'] has shape {clicks.shape}; expected {(n, k)}.")
                run.expect(bool(np.isin(clicks, (0, 1)).all()), "info['clicks'] holds values other than 0 and 1.")
            if "expected_clicks" in info:
                expected = run.info_array(info, "expected_clicks", (n,))
                run.expect(
                    bool(((expected >= 0) & (expected <= k * (1 + _RTOL))).all()),
                    f"info['expected_clicks'] lies outside [0, {k}] (from {expected.min()} to {expected.max()}).",
                )
            if terminated or truncated:
                break
        else:
            run.fail(f"the episode from reset(seed={seed}) had not ended after {limit} steps.")
        run.expect(math.isfinite(total), f"the return of the episode from reset(seed={seed}) is {total}.")


# ------------------------------------------------------------------ checks of what info reports
@as_env_check
def check_expected_clicks_match_clicks(run: EnvRun) -> None:
    """The exact ``info["expected_clicks"]`` agree with the Monte Carlo mean of the realised clicks.

    Over at least 20,000 user-steps of random slates, the clicks summed over all users differ from
    the summed expected clicks by at most 5 binomial standard errors, and so do the sums over the
    users below and above the median expected clicks. The standard error is that of independent
    positions (as in the position-based model): a user with expected clicks ``e`` over ``k``
    positions has a variance of at most ``e (1 - e / k)``, which is what is used (5 standard errors:
    a false alarm has probability below 1e-6).
    """
    env = run.env()
    n, k, m = run.shape(env)
    steps = max(50, math.ceil(MC_USER_STEPS / n))
    rng = np.random.default_rng(5)
    run.reset(env, 21)
    expected_parts, click_parts = [], []
    for t in range(steps):
        _, _, terminated, truncated, info = run.step(env, distinct_slates(rng, n, k, m), f"random slates, step {t}")
        expected_parts.append(run.info_array(info, "expected_clicks", (n,)))
        click_parts.append(run.info_array(info, "clicks", (n, k)).sum(axis=1))
        if terminated or truncated:
            run.reset(env, None, " after the end of an episode")
    expected, clicks = np.concatenate(expected_parts), np.concatenate(click_parts)
    order = np.argsort(expected, kind="stable")
    half = expected.size // 2
    halves = (
        ("", order),
        (" (the half below the median expected clicks)", order[:half]),
        (" (the half above)", order[half:]),
    )
    for what, rows in halves:
        e, c = float(expected[rows].sum()), float(clicks[rows].sum())
        se = math.sqrt(max(float(np.sum(expected[rows] * (1.0 - expected[rows] / k))), 0.0))
        run.expect(
            abs(c - e) <= MC_Z * se + 1e-9,
            f"over {rows.size} user-steps{what}, {c:.0f} clicks were realised but "
            f"{e:.1f} were expected: {abs(c - e) / max(se, 1e-12):.1f} standard errors ({se:.2f}) apart "
            f"(at most {MC_Z:g} allowed).",
        )


def _oracle_of(run: EnvRun, info: Mapping[str, Any], n: int, reference: FloatArray | None) -> FloatArray:
    oracle = run.info_array(info, "oracle_clicks", (n,))
    if reference is not None:
        run.expect(
            bool(np.array_equal(oracle, reference)),
            "info['oracle_clicks'] changed between replays of the same users (reset with the same seed).",
        )
    return oracle


def _beaten(oracle: FloatArray, value: FloatArray) -> IntArray:
    """Users whose slate has more expected clicks than the oracle (beyond float rounding)."""
    rows: IntArray = np.flatnonzero(value > oracle + _ATOL + _RTOL * np.abs(oracle)).astype(np.int64)
    return rows


@as_env_check
def check_oracle_beats_every_slate(run: EnvRun) -> None:
    """``info["oracle_clicks"] >= info["expected_clicks"]`` for every user and every slate tried.

    The users of one ``reset(seed)`` are replayed with many slates: each candidate alone at
    position 0 (the same column in every position; repeats show nothing), each user's greedy slate
    (its candidates of the highest single-item value, best first), 20 random slates of distinct
    columns and 5 with repeats.
    """
    env = run.env()
    n, k, m = run.shape(env)
    seed, rng = 41, np.random.default_rng(41)
    oracle: FloatArray | None = None
    single = np.empty((n, m))
    slates: Iterator[tuple[str, IntArray]] = itertools.chain(
        ((f"column {c} alone", np.full((n, k), c, dtype=np.int64)) for c in range(m)),
        ((f"random slate {i}", distinct_slates(rng, n, k, m)) for i in range(20)),
        ((f"random slate with repeats {i}", rng.integers(0, m, (n, k)).astype(np.int64)) for i in range(5)),
    )
    for what, action in slates:
        info = run.replay(env, seed, action, what)
        oracle = _oracle_of(run, info, n, oracle)
        value = run.info_array(info, "expected_clicks", (n,))
        if what.endswith("alone"):
            single[:, int(action[0, 0])] = value
        _expect_not_beaten(run, oracle, value, action, what)
    greedy = np.argsort(-single, axis=1, kind="stable")[:, :k].astype(np.int64)
    info = run.replay(env, seed, greedy, "the greedy slates")
    oracle = _oracle_of(run, info, n, oracle)
    _expect_not_beaten(run, oracle, run.info_array(info, "expected_clicks", (n,)), greedy, "the greedy slate")


def _expect_not_beaten(run: EnvRun, oracle: FloatArray, value: FloatArray, action: IntArray, what: str) -> None:
    beaten = _beaten(oracle, value)
    if beaten.size:
        u = int(beaten[0])
        run.fail(
            f"the oracle is not the best slate: for user {u} (and {beaten.size - 1} others), {what} "
            f"(columns {action[u].tolist()}) has {value[u]:.6g} expected clicks, the oracle {oracle[u]:.6g}."
        )


@as_env_check
def check_oracle_is_brute_force_best(run: EnvRun) -> None:
    """On a small instance, ``info["oracle_clicks"]`` equals the best of every possible slate (within 1e-9).

    The small instance has at most 120 slates per user (6 candidates, slates of 3): the users of one
    ``reset(seed)`` are replayed with every ordered choice of distinct columns, and each user's
    best expected clicks are compared with the oracle's.
    """
    env = run.source.small()
    if env is None:
        run.fail("no instance small enough to enumerate every slate (pass an id, a config or a smaller env).")
    n, k, m = run.shape(env)
    seed = 43
    oracle: FloatArray | None = None
    best = np.full(n, -np.inf)
    best_slate = np.zeros((n, k), dtype=np.int64)
    for perm in itertools.permutations(range(m), k):
        action = np.tile(np.asarray(perm, dtype=np.int64), (n, 1))
        info = run.replay(env, seed, action, f"the slate {list(perm)} for every user")
        oracle = _oracle_of(run, info, n, oracle)
        value = run.info_array(info, "expected_clicks", (n,))
        better = value > best
        best = np.where(better, value, best)
        best_slate[better] = perm
    assert oracle is not None
    off = np.flatnonzero(~np.isclose(oracle, best, rtol=_RTOL, atol=_ATOL))
    if off.size:
        u = int(off[0])
        run.fail(
            f"for user {u} (and {off.size - 1} others) the oracle reports {oracle[u]:.9g} expected clicks, but the "
            f"best of all {math.perm(m, k)} slates (columns {best_slate[u].tolist()}) has {best[u]:.9g}."
        )


@as_env_check
def check_new_items(run: EnvRun) -> None:
    """Items that arrive later are candidates only from their arrival on, do appear then, and are flagged new.

    Reads the arrival steps from the world (``env.unwrapped.world.arrival``). At every step until
    three steps after the first arrival (at most 30): no candidate has an arrival step later than
    the current step; ``info["items"]`` are the candidates of the chosen columns and
    ``info["new_items"]`` is exactly ``arrival[items] > 0``. When candidates drawn uniformly from
    the available items would have held at least 20 new items in expectation, at least one must
    have been a candidate (the chance of none is then below exp(-20)).
    """
    env = run.env()
    n, k, m = run.shape(env)
    world = run.source.world()
    if world is None:
        run.fail("env.unwrapped.world is not an abrec World, so the arrival steps of its items are unknown.")
    arrival = np.asarray(world.arrival)
    late = arrival[arrival > 0]
    last = min(int(late.min()) + 3 if late.size else 3, 30)
    rng = np.random.default_rng(47)
    obs, _ = run.reset(env, 51)
    seen_new, expected_new = 0, 0.0
    for t in range(last + 1):
        candidates = np.asarray(obs["candidates"], dtype=np.int64)
        early = np.argwhere(arrival[candidates] > t)
        if early.size:
            u, j = (int(i) for i in early[0])
            run.fail(
                f"at step {t}, user {u}'s candidate {j} is item row {candidates[u, j]}, which arrives at step "
                f"{arrival[candidates[u, j]]}."
            )
        seen_new += int((arrival[candidates] > 0).sum())
        available = world.available(t)
        expected_new += n * m * float((arrival[available] > 0).mean()) if available.size else 0.0
        action = distinct_slates(rng, n, k, m)
        obs, _, terminated, truncated, info = run.step(env, action, f"random slates at step {t}")
        items = np.asarray(info.get("items"))
        shown = np.take_along_axis(candidates, action, axis=1)
        run.expect(
            items.shape == shown.shape and bool(np.array_equal(items, shown)),
            f"at step {t}, info['items'] are not the candidates of the chosen columns.",
        )
        flags = np.asarray(info.get("new_items"))
        run.expect(
            flags.shape == shown.shape and bool(np.array_equal(flags, arrival[shown] > 0)),
            f"at step {t}, info['new_items'] is not 'the shown item arrived after step 0' "
            f"({int(np.sum(flags))} flagged, {int(np.sum(arrival[shown] > 0))} new).",
        )
        if terminated or truncated:
            break
    if expected_new >= NEW_ITEMS_EXPECTED:
        run.expect(
            seen_new > 0,
            f"no item arriving after step 0 was a candidate during steps 0..{t}, although uniform candidates "
            f"would have held {expected_new:.0f} of them.",
        )


# ------------------------------------------------------------------ the suite
_CHECKS: tuple[Callable[[EnvLike | EnvSource], None], ...] = (
    check_gymnasium_api,
    check_spaces_and_actions,
    check_same_seed_same_episode,
    check_episodes_end,
    check_expected_clicks_match_clicks,
    check_oracle_beats_every_slate,
    check_oracle_is_brute_force_best,
    check_new_items,
)
_NEEDS: dict[str, frozenset[str]] = {
    "check_expected_clicks_match_clicks": frozenset({"clicks", "expected_clicks"}),
    "check_oracle_beats_every_slate": frozenset({"oracle_clicks", "expected_clicks"}),
    "check_oracle_is_brute_force_best": frozenset({"oracle_clicks", "expected_clicks"}),
    "check_new_items": frozenset({"items", "new_items"}),
}


def _applies(source: EnvSource, name: str) -> bool:
    """Whether check ``name`` applies to ``source`` (what its info reports; a small instance; a World)."""
    keys = source.info_keys()
    if not keys:  # it could not even step: every check runs and says what is wrong
        return True
    if not _NEEDS.get(name, frozenset()) <= keys:
        return False
    if name == "check_oracle_is_brute_force_best":
        return source.small() is not None
    if name == "check_new_items":
        return source.world() is not None
    return True


def _applicable(source: EnvSource) -> list[Callable[[EnvLike | EnvSource], None]]:
    return [check for check in _CHECKS if _applies(source, check.__name__)]


def _expected(expected_failures: Mapping[tuple[str, str], str] | None, where: str) -> dict[tuple[str, str], str]:
    known = [check.__name__ for check in _CHECKS]
    return _validate_expected(expected_failures, where, kind="environment", known=known)


def env_checks(
    env: EnvLike, *, expected_failures: Mapping[tuple[str, str], str] | None = None
) -> Iterator[tuple[str, Callable[[], None]]]:
    """The conformance checks that apply to ``env``, as ``(check_name, check)`` pairs; ``check()`` runs one.

    Parameters
    ----------
    env : a gymnasium.Env, a registered id (built with a small config: 64 users, 6 candidates,
        slates of 3, 8 steps) or a :func:`~abrec.envs.make_env` config.
    expected_failures : ``{(env_name, check_name): reason}``; a listed check passes when it fails and
        fails when it passes (strict). Entries for other environments are ignored.

    Examples
    --------
    >>> [name for name, _ in env_checks("abrec/SyntheticCatalog-Session-v0")]  # doctest: +NORMALIZE_WHITESPACE
    ['check_gymnasium_api', 'check_spaces_and_actions', 'check_same_seed_same_episode', 'check_episodes_end',
     'check_expected_clicks_match_clicks']
    """
    expected = _expected(expected_failures, "env_checks")
    source = EnvSource(env)
    source.env()  # a config that cannot be built raises here (InputError, ParameterError, UnknownNameError)
    pairs: list[tuple[str, Callable[[], None]]] = []
    for check in _applicable(source):
        bound: Callable[[], None] = functools.partial(check, source)
        reason = expected.get((source.name, check.__name__))
        if reason is not None:
            bound = _expecting_failure(bound, source.label, check.__name__, reason)
        pairs.append((check.__name__, bound))
    return iter(pairs)


def check_env(env: EnvLike, *, expected_failures: Mapping[tuple[str, str], str] | None = None) -> None:
    """Run every environment check that applies to ``env``; raise one AssertionError listing all failures.

    Parameters
    ----------
    env : a gymnasium.Env, a registered id or a :func:`~abrec.envs.make_env` config (see :func:`env_checks`).
    expected_failures : ``{(env_name, check_name): reason}`` for known failures.

    Raises
    ------
    AssertionError
        When a check fails (or an expected failure passes); the message holds every failure.

    Examples
    --------
    >>> from abrec.testing import check_env
    >>> check_env("abrec/SyntheticCatalog-Bandit-v0")
    """
    run_all(list(env_checks(env, expected_failures=expected_failures)), "environment")


def parametrize_env_checks(
    envs: Iterable[EnvLike], *, expected_failures: Mapping[tuple[str, str], str] | None = None
) -> Any:
    """A ``pytest.mark.parametrize`` over every (environment, applicable check), ids ``"<name>-<check>"``.

    Each environment is built once (at collection) and shared by its checks, which all start from
    ``reset(seed=...)``. The test receives ``env`` and ``check`` and calls ``check(env)``; expected
    failures are marked ``xfail(strict=True)`` with their reason.

    Examples
    --------
    >>> from abrec.envs import ENV_IDS
    >>> @parametrize_env_checks([i for i in ENV_IDS if "SyntheticCatalog" in i])
    ... def test_env(env, check):
    ...     check(env)
    """
    import pytest

    expected = _expected(expected_failures, "parametrize_env_checks")
    sources = [EnvSource(env) for env in envs]
    for source in sources:
        source.env()
    names = [source.name for source in sources]
    for name, check_name in expected:
        for source in sources:
            if source.name == name and not _applies(source, check_name):
                raise _not_applicable(name, check_name)
    mark = _parametrize(("env", "check"), sources, names, _CHECKS, expected, "environment")
    argnames, params = mark.args
    kept = [param for param in params if _applies(param.values[0], param.values[1].__name__)]
    return pytest.mark.parametrize(argnames, kept)


def _not_applicable(name: str, check_name: str) -> Exception:
    from ..errors import ParameterError

    return ParameterError(
        f"The 'expected_failures' parameter of parametrize_env_checks lists {check_name} for {name!r}, "
        "which does not apply to it (its info does not report what the check reads)."
    )
