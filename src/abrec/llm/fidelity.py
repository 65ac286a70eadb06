"""Is a simulated user like a real one? Agent4Rec's protocol on held-out MovieLens users, for any scorer.

:func:`fidelity_cases` holds out ``n_users`` users (drawn by the seed among users with enough ratings):
each user's ratings, by time, are split into a history (the earliest ``1 - holdout``) and a test part.
The test shows each user their held-out *liked* movies (rating >= ``min_rating``, at most
``max_positives``) mixed 1:1 with movies they never rated (drawn uniformly), and asks "would you watch
it?" (Agent4Rec, Zhang et al. 2024: accuracy 0.691, F1 0.698 with gpt-3.5-turbo). The returned
training ratings are all ratings less the held-out users' test part: a simulator fitted on them has
never seen what it is tested on.

A *scorer* maps one case and item ids to watch probabilities (or any score where higher is "more
likely to watch"). :func:`evaluate_fidelity` reports, with 95% bootstrap intervals over users:

- ``accuracy`` and ``f1`` ("watch" the positive class) of a yes/no answer: score >= ``threshold``,
  or with ``threshold="half"`` each user says yes to the upper half of their shown movies (the fair
  rule for scorers that are not calibrated probabilities: the mix is 1:1 by design);
- ``auc_watch``: per-user AUC of held-out liked vs never-rated movies, averaged over users;
- ``auc_like``: per-user AUC of held-out liked vs held-out disliked (rating <= 2) movies, averaged
  over users who have both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._random import Seed, as_generator
from ..errors import InputError
from .base import FloatArray
from .persona import Persona

__all__ = ["FidelityCase", "FidelityResult", "evaluate_fidelity", "fidelity_cases"]

IntArray = npt.NDArray[np.int64]
Scorer = Callable[["FidelityCase", IntArray], npt.ArrayLike]


@dataclass(frozen=True)
class FidelityCase:
    """One held-out user: their history, the movies shown in the test, and their held-out likes and dislikes."""

    user_id: int
    persona: Persona
    history: IntArray
    positives: IntArray
    negatives: IntArray
    disliked: IntArray

    @property
    def shown(self) -> IntArray:
        """Positives then negatives."""
        return np.concatenate([self.positives, self.negatives])


@dataclass(frozen=True)
class FidelityResult:
    """Accuracy, F1 and AUCs of one scorer, each with a 95% bootstrap interval over users."""

    accuracy: float
    f1: float
    auc_watch: float
    auc_like: float
    n_users: int
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)

    def confidence_interval(self, metric: str) -> tuple[float, float]:
        """The 95% interval of ``metric`` ('accuracy', 'f1', 'auc_watch' or 'auc_like')."""
        return self.intervals[metric]


def fidelity_cases(
    ratings: pd.DataFrame,
    texts: dict[int, str],
    *,
    n_users: int = 100,
    holdout: float = 0.2,
    max_positives: int = 5,
    min_rating: float = 4.0,
    max_history: int = 12,
    seed: Seed = 0,
) -> tuple[list[FidelityCase], pd.DataFrame]:
    """Hold out ``n_users`` users' latest ratings; returns their cases and the training ratings (the rest).

    Parameters
    ----------
    ratings : ``user_id``, ``item_id``, ``rating``, ``timestamp`` (as :class:`abrec.data.MovieLens` has them).
    texts : item id -> catalog text (the persona's lines and the prompts).

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"user_id": [1] * 10, "item_id": range(10), "rating": [5, 1, 4, 2, 5, 3, 4, 5, 1, 4],
    ...                   "timestamp": range(10)})
    >>> cases, train = fidelity_cases(r, {i: f"m{i}" for i in range(20)}, n_users=1, holdout=0.3)
    >>> cases[0].positives.tolist(), cases[0].disliked.tolist(), len(cases[0].negatives), len(train)
    ([7, 9], [8], 2, 7)
    """
    if not 0.0 < holdout < 1.0:
        raise InputError(f"holdout must be in (0, 1). Got {holdout!r}.")
    rng = as_generator(seed)
    r = ratings.drop_duplicates(["user_id", "item_id"], keep="last").sort_values(
        ["user_id", "timestamp"], kind="stable"
    )
    all_items = np.array(sorted(texts), dtype=np.int64)
    eligible = []
    groups = {int(g["user_id"].to_numpy()[0]): g for _, g in r.groupby("user_id", sort=True)}
    for user, g in groups.items():
        n_test = max(1, round(holdout * len(g)))
        test = g.iloc[len(g) - n_test :]
        if len(g) - n_test >= 5 and (test["rating"] >= min_rating).any():
            eligible.append(user)
    if len(eligible) < n_users:
        raise InputError(
            f"Only {len(eligible)} users have a history of >= 5 ratings and a held-out like; asked {n_users}."
        )
    chosen = sorted(int(u) for u in rng.choice(np.array(eligible), n_users, replace=False))
    cases, dropped = [], []
    for user in chosen:
        g = groups[user]
        n_test = max(1, round(holdout * len(g)))
        hist, test = g.iloc[: len(g) - n_test], g.iloc[len(g) - n_test :]
        dropped.append(test.index.to_numpy())
        liked = test["item_id"].to_numpy()[test["rating"].to_numpy() >= min_rating].astype(np.int64)
        positives = liked[:max_positives]
        rated = np.unique(g["item_id"].to_numpy())
        pool = np.setdiff1d(all_items, rated)
        negatives = rng.choice(pool, positives.shape[0], replace=False).astype(np.int64)
        disliked = test["item_id"].to_numpy()[test["rating"].to_numpy() <= 2].astype(np.int64)
        items = hist["item_id"].to_numpy().astype(np.int64)
        persona = Persona.from_history([texts[int(i)] for i in items], hist["rating"].tolist(), max_items=max_history)
        cases.append(FidelityCase(user, persona, items, positives, negatives, disliked))
    train = ratings.drop(index=pd.Index(np.concatenate(dropped))) if dropped else ratings
    return cases, train


def _auc(pos: FloatArray, neg: FloatArray) -> float:
    """P(score of a positive > score of a negative), ties half."""
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def evaluate_fidelity(
    cases: list[FidelityCase],
    scorer: Scorer,
    *,
    threshold: float | Literal["half"] = 0.5,
    n_boot: int = 1000,
    seed: Seed = 0,
) -> FidelityResult:
    """Score every case's shown and disliked movies with ``scorer`` and report accuracy, F1 and AUCs.

    Examples
    --------
    >>> import numpy as np
    >>> from abrec.llm.persona import Persona
    >>> case = FidelityCase(1, Persona((), ()), np.array([1]), np.array([2, 3]), np.array([4, 5]), np.array([6]))
    >>> oracle = lambda case, items: np.isin(items, case.positives).astype(float)
    >>> res = evaluate_fidelity([case], oracle)
    >>> res.accuracy, res.f1, res.auc_watch, res.auc_like
    (1.0, 1.0, 1.0, 1.0)
    """
    if not cases:
        raise InputError("evaluate_fidelity needs at least one case.")
    counts = np.zeros((len(cases), 4))  # tp, fp, fn, tn
    auc_watch = np.full(len(cases), np.nan)
    auc_like = np.full(len(cases), np.nan)
    for i, case in enumerate(cases):
        items = np.concatenate([case.shown, case.disliked])
        scores = np.asarray(scorer(case, items), dtype=np.float64).reshape(-1)
        if scores.shape[0] != items.shape[0]:
            raise InputError(f"The scorer returned {scores.shape[0]} scores for {items.shape[0]} items.")
        n_pos = case.positives.shape[0]
        shown = scores[: case.shown.shape[0]]
        truth = np.arange(shown.shape[0]) < n_pos
        if threshold == "half":
            order = np.argsort(-shown, kind="stable")
            yes = np.zeros(shown.shape[0], dtype=bool)
            yes[order[: shown.shape[0] // 2]] = True
        else:
            yes = shown >= float(threshold)
        counts[i] = [(yes & truth).sum(), (yes & ~truth).sum(), (~yes & truth).sum(), (~yes & ~truth).sum()]
        auc_watch[i] = _auc(shown[:n_pos], shown[n_pos:])
        auc_like[i] = _auc(shown[:n_pos], scores[case.shown.shape[0] :])

    def metrics(rows: IntArray) -> dict[str, float]:
        tp, fp, fn, tn = counts[rows].sum(axis=0)
        like = auc_like[rows]
        return {
            "accuracy": float((tp + tn) / max(tp + fp + fn + tn, 1)),
            "f1": float(2 * tp / max(2 * tp + fp + fn, 1)),
            "auc_watch": float(np.nanmean(auc_watch[rows])),
            "auc_like": float(np.nanmean(like)) if np.isfinite(like).any() else float("nan"),
        }

    point = metrics(np.arange(len(cases)))
    rng = as_generator(seed)
    boots = [metrics(rng.integers(0, len(cases), len(cases))) for _ in range(n_boot)]
    intervals: dict[str, Any] = {}
    for key in point:
        values = np.array([b[key] for b in boots])
        values = values[np.isfinite(values)]
        intervals[key] = (
            (float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))) if values.size else (np.nan, np.nan)
        )
    return FidelityResult(**point, n_users=len(cases), intervals=intervals)
