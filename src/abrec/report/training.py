"""The HTML report of an agent's training (``abrec train``): learning curves per seed and their mean with a band."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import stats

from ..experiments.training import TrainResult
from .html import Report
from .svg import line_chart

__all__ = ["learning_band", "training_report"]

FloatArray = npt.NDArray[np.float64]


def learning_band(values: FloatArray, level: float = 0.95) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Mean over seeds (rows) of each episode (columns) and its ``level`` t interval (NaN with one seed).

    Examples
    --------
    >>> mean, low, high = learning_band(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> mean.tolist(), bool(low[0] < 2.0 < high[0])
    ([2.0, 3.0], True)
    """
    v = np.atleast_2d(np.asarray(values, dtype=np.float64))
    n = v.shape[0]
    mean = v.mean(axis=0)
    if n < 2:
        nan = np.full_like(mean, np.nan)
        return mean, nan, nan.copy()
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * v.std(axis=0, ddof=1) / math.sqrt(n)
    return mean, mean - half, mean + half


def training_report(result: TrainResult, *, title: str | None = None) -> Report:
    """The report of a training run, top-down: what was learned in words, the learning curves, all numbers, settings.

    The return per session (the environment's return, averaged over the episode's sessions while the agent
    learns and explores) is drawn per seed and as the mean over seeds with its 95% t band; session length
    and the share of sessions left early as means with bands.
    """
    cfg = result.config
    frame = result.curve_frame()
    seeds = list(cfg.seeds)
    episodes = np.arange(cfg.episodes)

    def grid(column: str) -> FloatArray:
        table = frame.pivot(index="seed", columns="episode", values=column).reindex(index=seeds, columns=episodes)
        out: FloatArray = table.to_numpy(dtype=np.float64)
        return out

    report = Report(title or f"Training: {cfg.name} ({cfg.agent})")
    returns = grid("return_per_session")
    mean, low, high = learning_band(returns)
    first, last = float(mean[0]), float(mean[-1])
    band = f", 95% band over seeds [{low[-1]:.3g}, {high[-1]:.3g}]" if len(seeds) > 1 else ""
    report.conclusion(
        f"{cfg.agent} trained for {cfg.episodes} episodes of {int(frame['sessions'].iloc[0]):,} sessions on "
        f"{len(seeds)} seed(s): return per session {first:.3g} in the first episode, {last:.3g} in the last"
        f"{band} (mean over seeds, while learning and exploring)."
        + (f" Pre-trained on {result.warm_transitions:,} logged transitions first." if cfg.warm_start else "")
    )
    x = episodes + 1
    report.heading("Learning curves")
    series = {f"seed {s}": returns[i] for i, s in enumerate(seeds)}
    series["mean"] = mean
    report.figure(
        line_chart(
            x,
            series,
            bands={"mean": (low, high)} if len(seeds) > 1 else None,
            x_label="episode",
            y_label="return per session",
            title="Return per session in each episode, per seed and the mean (95% t band over seeds)",
        ),
        caption="Each episode is a fresh set of sessions; the agent keeps learning (and exploring) across episodes.",
    )
    for column, label in (("session_length", "session length (steps)"), ("left_early", "share of sessions left early")):
        m, lo, hi = learning_band(grid(column))
        report.figure(
            line_chart(
                x,
                {"mean": m},
                bands={"mean": (lo, hi)} if len(seeds) > 1 else None,
                x_label="episode",
                y_label=label,
                title=f"{label[0].upper()}{label[1:]}, mean over seeds (95% t band)",
            )
        )
    report.heading("Last episode, per seed")
    final = frame[frame["episode"] == cfg.episodes - 1]
    report.table(
        final[["seed", "return_per_session", "session_length", "clicks_per_session", "left_early", "transitions"]]
        .to_numpy()
        .tolist(),
        ["seed", "return per session", "session length", "clicks per session", "left early", "transitions"],
        formats={"left early": "percent", "seed": "integer", "transitions": "integer"},
    )
    report.heading("All numbers")
    report.table(frame.to_numpy().tolist(), list(frame.columns))
    report.heading("About this run")
    report.key_values(
        {
            "environment": cfg.env.get("env", ""),
            "agent": cfg.agent,
            "parameters": ", ".join(f"{k}={v}" for k, v in cfg.params.items()) or "(defaults)",
            "episodes": cfg.episodes,
            "seeds": ", ".join(str(s) for s in seeds),
            "warm start": cfg.warm_start or "(none)",
            "text encoder": result.encoder,
            "run time": f"{result.seconds:.1f} s",
        }
    )
    return report
