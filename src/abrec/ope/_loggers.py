"""Which logging policy wrote each row of an event log, and whether its propensities can support a target (private).

Off-policy estimators reweight each logged row by the probability its logging policy gave the logged action,
and compare targets that decide among all of the log's actions. Two kinds of log break that silently, and
:meth:`~abrec.ope.LoggedFeedback.from_log` refuses them:

- **Several logging policies** (an experiment's variants, or several ``policy`` names): the rows' propensities
  come from different policies, so the logging policy's value, the reward model's rows and the replay mix
  them. One logging policy's rows are chosen by name (its variant, or its policy in a log without variants).
- **Per-request candidate sets**: at a position where the logger chose uniformly among ``m >= 2`` candidates
  (every propensity ``1 / m``, the one meaning of a uniform log in :mod:`abrec.ope`) but the log shows more
  than ``m`` distinct items, each request had its own ``m`` candidates. A target deciding among all the
  log's items puts probability on items that were not among a request's candidates, which no logged
  propensity covers. A non-uniform logger's propensities cannot show this; when another logging policy of
  the same experiment shows it (the experiment's requests came with per-request candidates), the
  non-uniform logger's rows are refused too: variants of one experiment serve the same requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..data.interactions import InteractionLog
from ..errors import InputError, SupportError, UnknownNameError

__all__ = ["CandidateSets", "candidate_sets", "check_candidates", "logger_labels", "one_logging_policy"]


def logger_labels(log: InteractionLog) -> tuple[npt.NDArray[np.str_], str]:
    """Each row's logging policy: its variant (``experiment:variant`` when the log holds several experiments),
    else its ``policy``; and what the labels name (``"variant"``, ``"policy"`` or ``"variant or policy"``)."""
    frame = log.frame
    variant = frame["variant"].to_numpy().astype(str)
    policy = frame["policy"].to_numpy().astype(str)
    labels = np.where(variant != "", variant, policy).astype(str)
    experiments = frame["experiment"].to_numpy().astype(str)
    if len(set(experiments[variant != ""])) > 1:
        labels = np.where(variant != "", np.char.add(np.char.add(experiments, ":"), variant), policy).astype(str)
    kind = "variant" if (variant != "").all() else "policy" if (variant == "").all() else "variant or policy"
    return labels, kind


@dataclass(frozen=True)
class CandidateSets:
    """Evidence of per-request candidate sets: at ``position`` the logger chose uniformly among ``m`` items,
    yet the rows show ``seen`` > ``m`` distinct items."""

    position: int
    m: int
    seen: int


def candidate_sets(log: InteractionLog) -> CandidateSets | None:
    """The first position where a uniform logger's rows show more distinct items than it chose among."""
    from ._support import uniform_candidates

    frame = log.frame
    position = frame["position"].to_numpy()
    propensity = frame["propensity"].to_numpy(dtype=np.float64)
    item = frame["item"].to_numpy()
    for k in np.unique(position):
        rows = position == k
        m = uniform_candidates(propensity[rows])
        if m is None or m < 2:  # not uniform, or deterministic (propensity 1): its items vary with the context
            continue
        seen = len(np.unique(item[rows]))
        if seen > m:
            return CandidateSets(int(k), m, seen)
    return None


def _listing(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def one_logging_policy(
    log: InteractionLog, name: str | None, context: npt.ArrayLike | None
) -> tuple[InteractionLog, Any, str]:
    """The rows of the logging policy ``name`` (and their context rows); with ``name=None`` the log must hold one.

    Returns ``(rows, context, label)``. Raises :class:`~abrec.errors.UnknownNameError` for an unknown name and
    :class:`~abrec.errors.InputError` for a log of several logging policies without a name.
    """
    labels, kind = logger_labels(log)
    names = sorted(set(labels.tolist()))
    if name is None:
        if len(names) <= 1:
            return log, context, names[0] if names else ""
        uniform = [n for n in names if _uniform(log.take(np.flatnonzero(labels == n)))]
        best = uniform[0] if uniform else names[0]
        why = (
            f"; {_listing(uniform)} logged uniformly at random (the best log to evaluate others on)" if uniform else ""
        )
        raise InputError(
            f"The log mixes {len(names)} logging policies ({kind} {_listing(names)}): off-policy estimates "
            f"reweight the rows of one logging policy by its own propensities{why}. To evaluate on one logging "
            f"policy's rows, pass --variant {best} (abrec evaluate) or logging_policy={best!r} (Python)."
        )
    if name not in names:
        raise UnknownNameError(f"logging policy ({kind})", name, names)
    keep = np.flatnonzero(labels == name)
    ctx = None if context is None else np.asarray(context)[keep]
    return log.take(keep), ctx, name


def _uniform(rows: InteractionLog) -> bool:
    """Whether one logger's rows are uniformly random: one propensity ``1 / m``, ``m >= 2``, at each position."""
    from ._support import uniform_candidates

    frame = rows.frame
    position = frame["position"].to_numpy()
    propensity = frame["propensity"].to_numpy(dtype=np.float64)
    sizes = [uniform_candidates(propensity[position == k]) for k in np.unique(position)]
    return all(m is not None and m >= 2 for m in sizes)


def check_candidates(rows: InteractionLog, log: InteractionLog, label: str) -> None:
    """Raise SupportError when ``rows`` (one logging policy's) came from per-request candidate sets.

    Shown by the rows themselves when their logger is uniform, else by another logging policy of ``log``
    in the same experiment.
    """
    n_items = int(rows.frame["item"].nunique())
    advice = (
        "Per-request candidate sets are not in the log, so no target deciding among all its items can be "
        "evaluated on it: use `abrec simulate`'s offline replay on the uniform control (it knows every request's "
        "candidates), log each request's candidates, or collect the log with every item a candidate "
        "(n_candidates = n_items)."
    )
    own = candidate_sets(rows)
    if own is not None:
        raise SupportError(
            f"Per-request candidate sets: the logging policy {label!r} chose uniformly among {own.m} candidates "
            f"per request (propensity 1/{own.m} at position {own.position}), yet its rows show {own.seen} distinct "
            f"items there, so each request had its own {own.m} candidates. The logged propensities (1/{own.m}) do "
            f"not cover the {n_items} actions a target chooses among: it would put probability on items that were "
            f"not a request's candidates. {advice}"
        )
    if _uniform(rows):
        return
    experiments = set(rows.frame["experiment"].astype(str))
    labels, _ = logger_labels(log)
    same = log.frame["experiment"].astype(str).isin(experiments).to_numpy()
    for other in sorted(set(labels[same].tolist()) - {label}):
        found = candidate_sets(log.take(np.flatnonzero(same & (labels == other))))
        if found is not None:
            raise SupportError(
                f"Per-request candidate sets: {other!r}, a uniform logging policy of the same experiment, chose "
                f"among {found.m} candidates per request out of {found.seen} items it showed (position "
                f"{found.position}), so the experiment's requests came with their own candidates; {label!r} decided "
                f"among those same candidates, and its propensities do not cover the {n_items} actions a target "
                f"chooses among. {advice}"
            )
