"""Simulated launches: predict each challenger off-policy, then A/B test it, and record both in a ledger.

Launch ``i`` of a study (seed ``SeedSequence(seed, spawn_key=(i,))``: by index, so any backend and worker
count give the same ledger) draws its conditions from its own generator:

- a world: a :class:`~abrec.envs.SyntheticCatalog` of 10 to 40 items, all there from the start (its own
  seed), users seeing slates of 1 to 3 of all items;
- a production (logging) policy: ``uniform`` (full overlap) or ``epsilon_greedy`` with epsilon 0.05 to 0.5
  (it learns while it logs; less exploration, less overlap);
- a log of 3 to 40 steps of 100 users (log size);
- a challenger: ``ucb1``, ``bernoulli_ts``, ``epsilon_greedy`` or ``softmax``, trained on the first 10% to
  100% of the production log (policy distance), then evaluated off-policy on the whole log with every
  estimator that applies and the automatic selection (:func:`~abrec.ope.evaluate_policies`);
- an A/B test of 10 steps of 200 fresh users, production vs challenger 50/50 by salted hashing, both
  learning online, read out on clicks per shown item (CTR, the unit the off-policy estimates are in).

Each launch returns one :class:`~abrec.experiments.ledger.Prediction` per estimator (launch id
``"L0007:dr"``; ``conditions['chosen']`` marks the selected one) and its :class:`Observation`. Every field of a
launch follows from the study seed and its index: :func:`run_launch` on the recorded ``(seed, index)``
gives the same rows again.

Not covered: MovieLens worlds (they need the data) and session environments with RL agents (the
challengers here are bandit policies, evaluated position-wise).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .executor import Executor, LocalExecutor
from .ledger import Ledger, Observation, Prediction

__all__ = ["LaunchTask", "launch_conditions", "run_launch", "simulate_launches"]

AB_STEPS, AB_USERS, LOG_USERS = 10, 200, 100
CHALLENGERS = ("ucb1", "bernoulli_ts", "epsilon_greedy", "softmax")


@dataclass(frozen=True)
class LaunchTask:
    """Launch ``index`` of the study seeded by ``seed`` (all that travels to a worker)."""

    seed: int
    index: int
    n_bootstrap: int = 100


def launch_conditions(seed: int, index: int) -> dict[str, Any]:
    """The conditions of launch ``index`` (drawn from its own generator; see the module docstring).

    Examples
    --------
    >>> launch_conditions(0, 3) == launch_conditions(0, 3), launch_conditions(0, 3) == launch_conditions(0, 4)
    (True, False)
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
    production = "uniform" if rng.random() < 0.5 else "epsilon_greedy"
    return {
        "n_items": int(rng.integers(10, 41)),
        "slate_size": int(rng.integers(1, 4)),
        "world_seed": int(rng.integers(0, 2**31)),
        "production": production,
        "epsilon": round(float(rng.uniform(0.05, 0.5)), 3) if production == "epsilon_greedy" else 1.0,
        "log_steps": int(rng.integers(3, 41)),
        "challenger": str(rng.choice(CHALLENGERS)),
        "trained_share": round(float(rng.uniform(0.1, 1.0)), 3),
        "run_seed": int(rng.integers(0, 2**31)),
    }


def _env(c: dict[str, Any], users: int, horizon: int) -> Any:
    from ..envs.registry import make_env

    view = {"n_users": users, "n_candidates": c["n_items"], "slate_size": c["slate_size"], "horizon": horizon}
    world = {"n_items": c["n_items"], "new_item_share": 0.0}  # a fixed catalog: every item at every step
    return make_env({"env": "abrec/SyntheticCatalog-Bandit-v0", "seed": c["world_seed"], "world": world, "view": view})


def run_launch(task: LaunchTask) -> tuple[list[Prediction], Observation]:
    """Run launch ``task.index``: the production log, the off-policy predictions, the A/B test."""
    from ..abtest.assignment import Experiment
    from ..abtest.metrics import Metric
    from ..abtest.scorecard import analyze_metrics
    from ..data.interactions import InteractionLog
    from ..ope import LoggedFeedback
    from ..ope.evaluation import evaluate_policies
    from ..policies import Feedback, make_policy
    from .rollout import rollout

    c = launch_conditions(task.seed, task.index)
    seed = c["run_seed"]
    launch = f"L{task.index:04d}"
    params = {"epsilon": c["epsilon"]} if c["production"] == "epsilon_greedy" else {}
    production = make_policy(c["production"], seed=seed, **params)
    log = InteractionLog.concat(
        [s.log for s in rollout(_env(c, LOG_USERS, c["log_steps"]), {"production": production}, seed=seed)]
    )
    challenger = make_policy(c["challenger"], seed=seed + 1)
    frame = log.frame
    trained = max(1, round(c["trained_share"] * len(frame)))
    challenger.update(
        Feedback(
            items=frame["item"].to_numpy()[:trained],
            rewards=frame["reward"].to_numpy(dtype=np.float64)[:trained],
        )
    )
    feedback = LoggedFeedback.from_log(log, check=False)
    evaluation = evaluate_policies(
        feedback,
        {"challenger": challenger},
        n_bootstrap=task.n_bootstrap,
        seed=seed % 2**31,
        replay_learning=False,
        n_draws=20_000,
    )
    conditions = {k: c[k] for k in ("n_items", "slate_size", "production", "epsilon", "log_steps", "challenger")}
    conditions["trained_share"] = c["trained_share"]
    conditions["study_seed"], conditions["index"] = task.seed, task.index
    chosen = evaluation["challenger"].selection
    predictions = []
    for result in evaluation["challenger"].estimates:
        p = Prediction.from_evaluation(
            f"{launch}:{result.estimator}",
            evaluation,
            "challenger",
            data=f"simulated production log of launch {launch} ({len(frame):,} rows)",
            estimator=result.estimator,
            conditions={**conditions, "chosen": chosen is not None and chosen.chosen == result.estimator},
        )
        predictions.append(replace(p, policy=c["challenger"], recorded_at=""))
    # the A/B test: fresh users, the same world, both policies go on learning
    experiment = Experiment.create(f"launch-{task.seed}-{task.index}", {"production": 1.0, "challenger": 1.0})

    def assign(units: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], dict[str, float]]:
        return experiment.assign(units), dict(experiment.weights)

    ab = InteractionLog.concat(
        [
            s.log
            for s in rollout(
                _env(c, AB_USERS, AB_STEPS),
                {"production": production, "challenger": challenger},
                assign=assign,
                seed=seed + 2,
                experiment=experiment.name,
                unit_prefix=f"{launch}-",
            )
        ]
    )
    readout = analyze_metrics(ab, control="production", metrics=[Metric("ctr", "ratio")])["ctr"]
    observation = Observation.from_readout(launch, readout, "challenger", source=experiment.name)
    return predictions, replace(observation, recorded_at="")


def simulate_launches(
    n: int,
    *,
    seed: int = 0,
    executor: Executor | None = None,
    ledger: Ledger | None = None,
    n_bootstrap: int = 100,
    progress: Callable[[int, int], None] | None = None,
) -> Ledger:
    """Run ``n`` simulated launches on ``executor`` and record them in ``ledger`` (default: a new one in memory).

    Each launch adds one prediction per estimator (``"L0007:dr"``), each with the launch's observation.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}.")
    out = ledger if ledger is not None else Ledger()
    results = (executor or LocalExecutor()).map(
        run_launch, [LaunchTask(seed, i, n_bootstrap) for i in range(n)], progress=progress
    )
    for predictions, observation in results:
        for p in predictions:
            out.predict(p)
            out.observe(replace(observation, launch=p.launch))
    return out


def _finite(x: float) -> bool:
    return math.isfinite(x)
