"""Simulated A/B tests on sessions: agents and bandits as variants, read out per session.

A session experiment runs on a session view (``…-Session-v0``, :class:`~abrec.envs.RecSessionEnv`). Each
episode starts ``n_users`` fresh sessions; each session is a unit (``f"{name}-e{episode}-u{row}"``), assigned
to a variant by salted hashing (:class:`~abrec.abtest.assignment.Experiment`) when its episode starts, and
served by that variant's policy until the user leaves or the episode ends. The run is
:func:`abrec.agents.run_sessions`: agents decide from the session state, bandits from the user's context,
every decision is logged with ``session_id`` and ``step``, and every variant keeps learning across the
``episodes`` of the config (each a fresh set of sessions). Traffic is split by fixed weights or adaptively
as in :func:`~abrec.experiments.run_simulation`, except that ``allocation.period`` counts **episodes**: a
session never changes variant, and the weights change only between periods.

The log is the result. Besides ``reward`` (click), ``purchase`` and ``revenue``, each row carries two
session columns derived during the run, so that a session metric is an ordinary per-unit metric of the log
(and ``abrec analyze`` on the exported log reads it out the same way):

- ``session_steps``: 1 on the first row of each step (position 0), so a unit's total is its session's length;
- ``left_early``: 1 on the rows of the step after which the user left (the environment's ``left``), when
  that step was not the episode's last, so a unit with any is a session the user ended before
  ``max_steps``.

The unit of analysis of every session metric is the **session** (one user in one episode): return per
session (the environment's return: clicks, or revenue with ``reward: revenue``), session length, clicks
(when the return is revenue) and purchases per session, and the share of sessions left early. The readout
is the existing one (:func:`~abrec.abtest.scorecard.analyze_metrics`: period-weighted means, Holm across
treatments on the primary, Benjamini-Hochberg across the secondaries, always-valid intervals).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..abtest.allocation import PeriodStats
from ..abtest.metrics import Metric
from ..abtest.readout import Readout, analyze_log, log_periods
from ..abtest.scorecard import MetricsReadout, analyze_metrics
from ..data.interactions import InteractionLog
from ..embeddings.features import ItemFeatures
from ..errors import InputError
from ..policies.base import Policy
from .config import ExperimentConfig
from .simulation import VariantTraffic, world_item_features

__all__ = ["SESSION_COLUMNS", "SessionResult", "run_session_experiment", "session_metrics"]

FloatArray = npt.NDArray[np.float64]

#: The per-row columns a session experiment adds to its log (see the module docstring).
SESSION_COLUMNS = ("session_steps", "left_early")


def session_metrics(return_column: str = "reward") -> tuple[Metric, ...]:
    """The metrics a session experiment is read out on, primary first; the unit is the session.

    ``return_column`` is the log column the environment's return counts: ``reward`` (clicks) or ``revenue``.
    Clicks per session are listed on their own only when the return is not clicks.

    Examples
    --------
    >>> [m.name for m in session_metrics()]
    ['return per session', 'session length', 'purchases per session', 'left early']
    >>> [m.name for m in session_metrics("revenue")][2]
    'clicks per session'
    """
    metrics = [Metric("return per session", "mean", return_column), Metric("session length", "mean", "session_steps")]
    if return_column != "reward":
        metrics.append(Metric("clicks per session", "mean", "reward"))
    metrics += [Metric("purchases per session", "mean", "purchase"), Metric("left early", "proportion", "left_early")]
    return tuple(metrics)


@dataclass(frozen=True, eq=False)
class SessionResult:
    """Everything a session experiment produced.

    Attributes
    ----------
    config : ExperimentConfig
    log : InteractionLog
        One row per shown item, sessions' steps in the order they ran, with ``session_id``, ``step``,
        ``assignment_p``, ``period`` and the rewards ``reward`` (click), ``purchase``, ``revenue``,
        ``session_steps`` and ``left_early`` (see the module docstring).
    episode_returns : (episodes, n_variants) array
        Mean return per session of each variant in each episode, as the environment reports it (its
        ``returns``): the learning curve, and a check on the log.
    episode_sessions : (episodes, n_variants) array
        Sessions per variant and episode.
    max_steps : int
        The episode length of the environment.
    return_column : str
        The log column the environment's return counts (``reward`` for clicks, or ``revenue``).
    item_features : ItemFeatures
        The item text features (by public id) the policies and the agents' state encoder read.
    policies : dict of str to Policy
        Each variant's policy in its final state.
    encoder : str
        The identity of the text encoder.
    seconds : float
    """

    config: ExperimentConfig
    log: InteractionLog
    episode_returns: FloatArray
    episode_sessions: FloatArray
    max_steps: int
    return_column: str
    item_features: ItemFeatures
    policies: dict[str, Policy]
    encoder: str
    seconds: float

    @property
    def variants(self) -> tuple[str, ...]:
        return self.config.variant_names

    @property
    def metrics(self) -> tuple[Metric, ...]:
        """The session metrics this run is read out on (:func:`session_metrics`)."""
        return session_metrics(self.return_column)

    @cached_property
    def _periods(self) -> tuple[PeriodStats, FloatArray]:
        return log_periods(self.log, column=self.return_column, variants=self.variants)

    @property
    def periods(self) -> PeriodStats:
        """Per (period, variant): sessions, sum and sum of squares of the return per session (from the log)."""
        return self._periods[0]

    @property
    def weights(self) -> FloatArray:
        """``(n_periods, n_variants)``: the allocation weights in force in each period (from the log)."""
        return self._periods[1]

    def readout(self, column: str | None = None) -> Readout:
        """The readout of ``column`` per session (default the return): what ``abrec analyze`` gives on the log."""
        return analyze_log(
            self.log, control=self.config.control, column=column or self.return_column, alpha=self.config.alpha
        )

    def readouts(self, metrics: Sequence[Metric] | None = None) -> MetricsReadout:
        """The readout on every session metric (default :attr:`metrics`, the return per session first)."""
        chosen = self.metrics if metrics is None else metrics
        return analyze_metrics(self.log, control=self.config.control, metrics=chosen, alpha=self.config.alpha)

    @cached_property
    def sessions(self) -> pd.DataFrame:
        """One row per session (from the log): ``unit``, ``variant``, ``period``, ``return``, ``length``,
        ``clicks``, ``purchases``, ``left_early``."""
        frame = self.log.frame
        grouped = frame.groupby("unit", sort=False)
        out = grouped.agg(variant=("variant", "first"), period=("period", "first"))
        out["return"] = grouped[self.return_column].sum()
        out["length"] = grouped["session_steps"].sum().astype(np.int64)
        out["clicks"] = grouped["reward"].sum()
        out["purchases"] = grouped["purchase"].sum()
        out["left_early"] = grouped["left_early"].max() > 0
        return out.reset_index()


def run_session_experiment(
    config: ExperimentConfig,
    *,
    progress: Callable[[int, int], None] | None = None,
    notify: Callable[[str], None] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> SessionResult:
    """Run a session experiment (see the module docstring).

    Parameters
    ----------
    config : ExperimentConfig
        On a ``…-Session-v0`` environment; its variants may name agents (``dqn``, ``tabular_q``) and bandits.
    progress : callable(done, total), optional
        Called after every step, counting ``max_steps`` per episode (an episode that ends early jumps ahead).
    notify : callable(str), optional
        Receives diagnostics (which encoder was used, timings).
    cache_dir : path, optional
        Folder of the embedding cache; None encodes without caching.

    Returns
    -------
    SessionResult
    """
    from .. import agents  # registers the agents (a config built without from_mapping may name them)
    from ..envs.registry import make_env

    say = notify or (lambda _line: None)
    start = time.perf_counter()
    if not config.sessions:
        raise InputError(
            f"A session experiment runs on a session view (…-Session-v0); env.env is {config.env.get('env')!r}."
        )
    env = make_env(dict(config.env))
    view: Any = env.unwrapped
    traffic = VariantTraffic(config, units="sessions")
    names, policies = traffic.names, traffic.policies
    features, identity = world_item_features(
        view.world, config.encoder, config.feature_dim, notify=say, cache_dir=cache_dir
    )
    per_period = int(config.allocation.get("period", 1))

    episodes, max_steps, k = config.episodes, int(view.max_steps), int(view.slate_size)
    return_column = "revenue" if getattr(view, "reward", "clicks") == "revenue" else "reward"
    episode_returns = np.zeros((episodes, len(names)))
    episode_sessions = np.zeros((episodes, len(names)))
    logs: list[InteractionLog] = []
    period_logs: list[InteractionLog] = []
    row_left: list[npt.NDArray[np.bool_]] = []
    total = episodes * max_steps
    for done in agents.run_sessions(
        env,
        policies,
        features=features,
        assign=traffic.assign,
        episodes=episodes,
        seed=config.seed,
        experiment=config.name,
        unit_prefix=f"{config.name}-",
        period=lambda episode: episode // per_period,
    ):
        info = done.info
        acted = np.flatnonzero(np.asarray(info["active"], dtype=bool))  # the log's sessions, in row order
        if len(done.log) != acted.size * k:
            raise RuntimeError(f"run_sessions logged {len(done.log)} rows for {acted.size} sessions of {k} items.")
        left = np.asarray(info["left"], dtype=bool)
        still = np.asarray(info["active"], dtype=bool) & ~left
        last = done.step + 1 >= max_steps or not still.any()
        row_left.append(np.repeat(left[acted] & (done.step + 1 < max_steps), k))
        logs.append(done.log)
        period_logs.append(done.log)
        if progress is not None:
            progress(done.episode * max_steps + (max_steps if last else done.step + 1), total)
        if not last:
            continue
        returns = np.asarray(info["returns"], dtype=np.float64)
        for v, name in enumerate(names):
            mine = done.variants == name
            episode_sessions[done.episode, v] = mine.sum()
            episode_returns[done.episode, v] = returns[mine].mean() if mine.any() else np.nan
        if (done.episode + 1) % per_period == 0 or done.episode + 1 == episodes:
            traffic.reallocate(InteractionLog.concat(period_logs), column=return_column)
            period_logs = []
    merged = InteractionLog.concat(logs)
    frame = merged.frame.assign(
        session_steps=(merged.frame["position"].to_numpy() == 0).astype(np.float64),
        left_early=np.concatenate(row_left).astype(np.float64),
    )
    log = InteractionLog(frame, reward_columns=(*merged.reward_columns, *SESSION_COLUMNS))
    say(f"ran {episodes} episode(s) of {view.n_users} sessions in {time.perf_counter() - start:.1f} s")
    return SessionResult(
        config=config,
        log=log,
        episode_returns=episode_returns,
        episode_sessions=episode_sessions,
        max_steps=max_steps,
        return_column=return_column,
        item_features=features,
        policies=policies,
        encoder=identity,
        seconds=time.perf_counter() - start,
    )
