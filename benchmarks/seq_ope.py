"""Workload ``rl``, case ``seq_ope``: sequential off-policy estimates of a trained agent against its on-policy value.

Each target agent (``TARGETS``: a :class:`~abrec.agents.TabularQAgent` and a :class:`~abrec.agents.DQNAgent`) is
trained on a small SyntheticCatalog session view (fatigue, drift and leaving on: sessions of different lengths),
then frozen: it is the target, exploring as it does when deployed (epsilon-greedy, epsilon 0.2). Its on-policy
value (mean clicks per session, gamma 1) is measured by running it in the simulator on ``TRUTH_EPISODES`` x
``n_users`` sessions (the simulator's own per-session returns; env seeds apart from the logs'). For each of
``SEEDS`` seeds, a logging policy runs fresh sessions (``LOG_EPISODES`` x ``n_users``; its own seed and env
seeds), recording every request it was asked (candidates, session state, item and pair features: what the log
does not hold); the target's probabilities come from the agent's own ``action_distribution`` at those requests
(:func:`abrec.ope.session_target`), and the four sequential estimators (``pdis``, ``wpdis``, ``seq_dr``,
``seq_wdr``; the doubly robust ones with the default cross-fitted :class:`~abrec.ope.FittedQEvaluation`) each
give a value and a 95% percentile bootstrap interval over resampled sessions.

Loggers: ``uniform`` (uniformly random among the candidates) and ``epsilon`` (the target's Q-function exploring
more, epsilon-greedy with epsilon 0.6: the usual way to log for a policy about to be deployed). One line per
(logger, estimator): ``coverage`` (share of seeds whose interval covers the on-policy value) with its 95%
Clopper-Pearson interval, ``mean_abs_error``, ``bias`` and ``sd`` (of the estimates over the seeds), the mean
interval width and the mean effective sample size of the sessions' whole-trajectory weights (``mean_ess``).

The logging policy is wrapped in :class:`RecordingLogger`, which ``run_sessions`` treats as an agent (it is
given the session state and the pair features) and which keeps every request: the log holds neither the
candidates nor the agent's inputs, and the target must be asked at exactly those requests.

Run: ``.venv/bin/python benchmarks/run.py rl`` (the lead wires ``run`` into the ``rl`` workload), or
``.venv/bin/python benchmarks/seq_ope.py [TARGET ...]`` for this case alone.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from abrec.agents import DQNAgent, TabularQAgent, Transitions, run_sessions
from abrec.data.interactions import InteractionLog
from abrec.embeddings import ItemFeatures, PCAReducer, item_features, make_encoder
from abrec.envs import make_env
from abrec.errors import ExtremeWeightsWarning, InputError
from abrec.ope import SessionRequests, estimate_sessions, session_target
from abrec.policies import Decision, Policy, UniformRandom

SEEDS = tuple(range(50))
WORLD = {"n_items": 60, "click_rate": 0.3}
VIEW = {"n_users": 2000, "n_candidates": 5, "slate_size": 1, "max_steps": 5, "fatigue": 1.0}
TRAIN_EPISODES = 10
LOG_EPISODES = 1
TRUTH_EPISODES = 100
ESTIMATORS = ("pdis", "wpdis", "seq_dr", "seq_wdr")


def _say(line: str) -> None:
    print(f"[seq_ope] {line}", file=sys.stderr, flush=True)


class RecordingLogger(Policy):
    """A logging policy that records every request it is asked, as :class:`~abrec.ope.SessionRequests`.

    ``run_sessions`` gives it what it gives an agent (the session state as the context, the candidates' item
    and pair features) and it decides with ``logger`` (which gets the pair features only if it reads them):
    the log is the logger's, and ``requests`` (one row per log row) is what the target must be asked.
    """

    contextual = True
    uses_item_features = True
    uses_pair_features = True
    learns = False

    def __init__(self, logger: Policy) -> None:
        super().__init__(seed=None)
        self.logger = logger
        self.gamma = 1.0
        self.n_step = 1
        self.parts: list[SessionRequests] = []

    def decide(  # type: ignore[override]
        self,
        candidates: npt.ArrayLike,
        contexts: npt.ArrayLike | None = None,
        *,
        k: int = 1,
        mask: npt.ArrayLike | None = None,
        item_features: npt.ArrayLike | None = None,
        pair_features: npt.ArrayLike | None = None,
    ) -> Decision:
        self.parts.append(SessionRequests(np.asarray(candidates), contexts, item_features, pair_features))  # type: ignore[arg-type]
        extra = {"pair_features": pair_features} if getattr(self.logger, "uses_pair_features", False) else {}
        feats = item_features if self.logger.uses_item_features else None
        logger: Any = self.logger
        decision: Decision = logger.decide(candidates, contexts, k=k, mask=mask, item_features=feats, **extra)
        return decision

    @property
    def requests(self) -> SessionRequests:
        return SessionRequests.concat(self.parts)

    def learn(self, transitions: Transitions) -> None:
        raise InputError("RecordingLogger only records; run it with learn=False.")

    def reward_of(self, outcomes: Mapping[str, npt.ArrayLike]) -> npt.NDArray[np.float64]:
        return np.asarray(outcomes["click"], dtype=np.float64)

    def _update(self, *args: Any) -> None:
        raise InputError("RecordingLogger only records; run it with learn=False.")


@dataclass(frozen=True)
class Setting:
    """One study's environment and agents."""

    name: str
    env: Any
    features: ItemFeatures
    target: Policy
    truth: float
    truth_se: float


def _log(env: Any, features: ItemFeatures, policy: Policy, episodes: int, seed: int) -> InteractionLog:
    steps = run_sessions(env, {"p": policy}, features=features, episodes=episodes, seed=seed, learn=False)
    return InteractionLog.concat([s.log for s in steps])


def _on_policy_returns(env: Any, features: ItemFeatures, policy: Policy, episodes: int, seed: int) -> np.ndarray:
    """Every session's return (clicks) as the simulator reports it at the end of its episode."""
    last: dict[int, np.ndarray] = {}
    for step in run_sessions(
        env, {"p": policy}, features=features, episodes=episodes, seed=seed, learn=False, log=False
    ):
        last[step.episode] = np.asarray(step.info["returns"], dtype=np.float64)
    return np.concatenate([last[e] for e in sorted(last)])


def _train(agent: Policy, env: Any, features: ItemFeatures, seed: int, episodes: int) -> Policy:
    for _ in run_sessions(env, {"a": agent}, features=features, episodes=episodes, seed=10_000 + 100 * seed, log=False):
        pass
    return agent


#: The targets: agents trained online on the study's env, then frozen (epsilon 0.2 when deployed).
TARGETS: dict[str, Callable[[], Policy]] = {
    "tabular_q": lambda: TabularQAgent(n_state_cells=4, n_item_cells=8, warmup=500, epsilon=0.2, seed=0),
    "dqn": lambda: DQNAgent(hidden=32, batch_size=256, replay_ratio=1.0, epsilon=0.2, seed=0, train_seed=0),
}


def setting(
    target: str = "tabular_q",
    view: Mapping[str, Any] = VIEW,
    train_episodes: int = TRAIN_EPISODES,
    truth_episodes: int = TRUTH_EPISODES,
) -> Setting:
    """The environment, the trained target and its on-policy value (mean return per session, gamma 1)."""
    env = make_env({"env": "abrec/SyntheticCatalog-Session-v0", "seed": 0, "world": WORLD, "view": dict(view)})
    features = item_features(env.unwrapped.world, make_encoder("hashing", dim=64), reducer=PCAReducer(4))
    agent = _train(TARGETS[target](), env, features, seed=0, episodes=train_episodes)
    returns = _on_policy_returns(env, features, agent, truth_episodes, seed=1_000_000)
    se = float(returns.std(ddof=1) / math.sqrt(returns.size))
    return Setting(target, env, features, agent, float(returns.mean()), se)


def loggers(s: Setting, seed: int) -> dict[str, Policy]:
    """The logging policies of one seed: uniform, and the target's own Q-function with epsilon 0.6."""
    return {"uniform": UniformRandom(seed=seed), "epsilon": s.target.clone(keep_state=True, seed=seed, epsilon=0.6)}


def one_seed(s: Setting, logger: Policy, seed: int, log_episodes: int = LOG_EPISODES) -> dict[str, Any]:
    """Log with ``logger`` (seed ``seed``), estimate the target's value: ``{estimator: EstimateResult}``."""
    recorder = RecordingLogger(logger)
    log = _log(s.env, s.features, recorder, log_episodes, seed=1000 * (seed + 1))
    target = session_target(s.target, log, recorder.requests)
    with warnings.catch_warnings():  # the lines report the effective sample size instead
        warnings.simplefilter("ignore", ExtremeWeightsWarning)
        results = estimate_sessions(log, target, names=ESTIMATORS, gamma=1.0, n_bootstrap=200, seed=seed)
    return {r.estimator: r for r in results}


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval of ``k`` successes in ``n``."""
    from scipy import stats

    a = 1 - level
    low = 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - a / 2, k + 1, n - k))
    return low, high


def study(
    seeds: tuple[int, ...] = SEEDS,
    view: Mapping[str, Any] = VIEW,
    train_episodes: int = TRAIN_EPISODES,
    truth_episodes: int = TRUTH_EPISODES,
    log_episodes: int = LOG_EPISODES,
    logger_names: tuple[str, ...] = ("uniform", "epsilon"),
    target: str = "tabular_q",
) -> Iterator[dict[str, Any]]:
    """The coverage study of one target: one JSON-ready line per (logger, estimator)."""
    start = time.perf_counter()
    s = setting(target, view, train_episodes, truth_episodes)
    _say(f"{target}: on-policy value {s.truth:.4f} +- {s.truth_se:.4f} ({time.perf_counter() - start:.0f} s)")
    for name in logger_names:
        start = time.perf_counter()
        per_seed = [one_seed(s, loggers(s, seed)[name], seed, log_episodes) for seed in seeds]
        seconds = time.perf_counter() - start
        for estimator in ESTIMATORS:
            results = [r[estimator] for r in per_seed]
            values = np.array([r.value for r in results])
            covered = sum(r.ci_low <= s.truth <= r.ci_high for r in results)
            low, high = clopper_pearson(covered, len(seeds))
            yield {
                "bench": "rl",
                "case": "seq_ope",
                "env": "abrec/SyntheticCatalog-Session-v0",
                "target": target,
                "logger": name,
                "estimator": estimator,
                "coverage": round(covered / len(seeds), 4),
                "coverage_ci": [round(low, 4), round(high, 4)],
                "mean_abs_error": round(float(np.abs(values - s.truth).mean()), 4),
                "bias": round(float(values.mean() - s.truth), 4),
                "sd": round(float(values.std(ddof=1)), 4) if len(seeds) > 1 else None,
                "mean_ci_width": round(float(np.mean([r.ci_high - r.ci_low for r in results])), 4),
                "mean_ess": round(float(np.mean([r.effective_sample_size for r in results])), 1),
                "truth": round(s.truth, 4),
                "truth_se": round(s.truth_se, 4),
                "sessions_per_seed": results[0].n_rows,
                "horizon": int(view["max_steps"]),
                "seeds": len(seeds),
                "seconds": round(seconds, 1),
            }


def run(options: Any) -> Iterator[dict[str, Any]]:
    """The ``rl`` workload's ``seq_ope`` lines (``--seeds`` with several seeds replaces the 50 default seeds)."""
    import torch

    torch.set_num_threads(1)  # small networks: threads cost more than they save (as in benchmarks/agents.py)
    seeds = tuple(options.seeds) if len(options.seeds) > 1 else SEEDS
    for target in TARGETS:
        yield from study(seeds, target=target)


if __name__ == "__main__":
    import json

    import torch

    torch.set_num_threads(1)
    for name in sys.argv[1:] or list(TARGETS):
        for line in study(target=name):
            print(json.dumps(line), flush=True)
