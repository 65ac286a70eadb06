"""The Open Bandit Dataset (ZOZO, Inc.; CC BY 4.0): logged impressions of two behaviour policies.

The small sample (10,000 rows per policy and campaign) ships inside abrec, gzip-compressed, with
its attribution in ``_obd_sample/ATTRIBUTION.md``; :func:`load_obd` reads it when no path is
given. A path may name that layout uncompressed (OBP's ``obp/dataset/obd``) or the full release
(``open_bandit_dataset/``), both ``{policy}/{campaign}/{campaign}.csv`` plus ``item_context.csv``.

Cite: Y. Saito, S. Aihara, M. Matsutani, Y. Narita. *Open Bandit Dataset and Pipeline: Towards
Realistic and Reproducible Off-Policy Evaluation.* NeurIPS 2021 Datasets and Benchmarks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..errors import DataError, UnknownNameError
from . import io
from ._schema import Source, as_float, as_int, as_str, as_timestamp, check_columns, fail_at
from .interactions import InteractionLog

__all__ = ["CAMPAIGNS", "POLICIES", "OBDLog", "load_obd"]

CAMPAIGNS = ("all", "men", "women")
POLICIES = ("random", "bts")
N_POSITIONS = 3
_USER_FEATURES = tuple(f"user_feature_{i}" for i in range(4))
_ITEM_COLUMNS = ("item_id", "item_feature_0", "item_feature_1", "item_feature_2", "item_feature_3")


def _packaged() -> Path:
    return Path(str(resources.files("abrec.data").joinpath("_obd_sample")))


@dataclass(frozen=True, eq=False)
class OBDLog:
    """One (behaviour policy, campaign) log of the Open Bandit Dataset.

    Attributes
    ----------
    log : InteractionLog
        One row per logged (impression, item, position): ``unit`` is the file's row id as text,
        ``item`` the item index, ``position`` 0-based (the file's 1..3 minus one; 0 = left),
        ``reward`` the click, ``propensity`` the logged propensity score, ``policy`` and
        ``variant`` the behaviour policy, ``experiment`` ``"obd-{campaign}"``.
    campaign, policy : str
        Which log this is.
    n_items : int
        Items of the campaign (80 for "all", 34 for "men", 46 for "women").
    n_positions : int
        Slots of the widget (3).
    user_features : pandas.DataFrame
        The four hashed categorical user features, one row per log row.
    affinity : numpy.ndarray
        ``(n_rows, n_items)`` user-item affinity scores.
    item_context : pandas.DataFrame
        ``item_id``, ``item_feature_0`` (numeric) and the hashed ``item_feature_1..3``, one row per item.

    Examples
    --------
    >>> obd = load_obd(campaign="men", policy="bts")
    >>> len(obd.log), obd.n_items, obd.n_positions, int(obd.log.frame["reward"].sum())
    (10000, 34, 3, 69)
    >>> obd.context().shape[0], obd.affinity.shape
    (10000, (10000, 34))
    """

    log: InteractionLog
    campaign: str
    policy: str
    n_items: int
    n_positions: int
    user_features: pd.DataFrame
    affinity: np.ndarray[Any, np.dtype[np.float64]]
    item_context: pd.DataFrame
    _prior_path: Path = field(repr=False)

    def context(self, drop_first: bool = True) -> np.ndarray[Any, np.dtype[np.float64]]:
        """One-hot user features, as OBP's default preprocessing (``pd.get_dummies``, ``drop_first``).

        Categories are sorted within each feature, so the columns depend on which values occur in
        this log (20 columns for random/all, 22 for bts/all).
        """
        dummies = pd.get_dummies(self.user_features.astype(object), drop_first=drop_first)
        return dummies.to_numpy(dtype=np.float64)

    def prior_bts(self, campaign: str | None = None) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """The production Beta(alpha, beta) priors of the BTS policy per item, from OBP's ``prior_bts.yaml``.

        Examples
        --------
        >>> alpha, beta = load_obd().prior_bts()
        >>> alpha.shape, beta.shape, float(alpha[0]), float(beta[0])
        ((80,), (80,), 47.0, 12198.0)
        """
        campaign = self.campaign if campaign is None else campaign
        if campaign not in CAMPAIGNS:
            raise UnknownNameError("OBD campaign", campaign, CAMPAIGNS)
        source = Source(str(self._prior_path))
        try:
            config = yaml.safe_load(self._prior_path.read_text(encoding="utf-8"))
            entry = config[campaign]
            alpha = np.asarray(entry["alpha"], dtype=np.float64)
            beta = np.asarray(entry["beta"], dtype=np.float64)
        except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
            raise source.error(f"no valid alpha/beta lists for campaign {campaign!r}: {exc!r}") from exc
        expected = {"all": 80, "men": 34, "women": 46}[campaign]
        if alpha.shape != (expected,) or beta.shape != (expected,) or (alpha <= 0).any() or (beta <= 0).any():
            raise source.error(f"campaign {campaign!r} needs {expected} positive alpha and beta values")
        return alpha, beta


def _root(path: str | os.PathLike[str] | None) -> Path:
    if path is None:
        return _packaged()
    base = Path(path)
    if not base.is_dir():
        raise FileNotFoundError(f"No such folder: {str(base)!r} (expected the Open Bandit Dataset's folder)")
    for candidate in (base, base / "open_bandit_dataset", base / "obd"):
        if any((candidate / p).is_dir() for p in POLICIES):
            return candidate
    raise DataError(
        f"{base}: not an Open Bandit Dataset folder; expected {{random,bts}}/{{all,men,women}}/"
        "{campaign}.csv and item_context.csv (or .csv.gz) there or in open_bandit_dataset/"
    )


def _find(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.csv", f"{stem}.csv.gz"):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: missing {stem}.csv (or {stem}.csv.gz) of the Open Bandit Dataset")


def _read_item_context(path: Path) -> pd.DataFrame:
    frame, source = io.read_csv(path, str_columns=_ITEM_COLUMNS[2:], index_col=0)
    check_columns(list(frame.columns), _ITEM_COLUMNS, source=source)
    ids = as_int(frame["item_id"], source=source, column="item_id")
    fail_at(
        ids.to_numpy() != np.arange(len(ids)),
        ids,
        source=source,
        column="item_id",
        message="item_id must run 0, 1, 2, ... in order; got {value}",
    )
    out = pd.DataFrame({"item_id": ids})
    out["item_feature_0"] = as_float(
        frame["item_feature_0"], source=source, column="item_feature_0", allow_missing=False
    )
    for name in _ITEM_COLUMNS[2:]:
        out[name] = as_str(frame[name], source=source, column=name, allow_empty=False)
    return out


def _affinity(frame: pd.DataFrame, columns: list[str], source: Source) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The ``(n_rows, n_items)`` affinity scores, each column a finite number as :func:`as_float` requires.

    Columns that pandas parsed as numbers, all finite (the dataset as released), are converted as one
    block: the same float64 values as column by column, an order of magnitude faster. Anything else goes
    column by column, whose errors name the row and column.
    """
    if not columns:
        return np.zeros((len(frame), 0))
    block = frame[columns]
    if all(isinstance(dtype, np.dtype) and dtype.kind in "fiu" for dtype in block.dtypes):
        values = block.to_numpy(dtype=np.float64)
        if np.isfinite(values).all():
            return np.ascontiguousarray(values)
    return np.column_stack(
        [as_float(frame[name], source=source, column=name, allow_missing=False).to_numpy() for name in columns]
    )


def load_obd(path: str | os.PathLike[str] | None = None, *, campaign: str = "all", policy: str = "random") -> OBDLog:
    """Load one (behaviour policy, campaign) log of the Open Bandit Dataset, validated as a whole.

    Parameters
    ----------
    path : path, optional
        The dataset folder (the small sample, or the full release ``open_bandit_dataset/``).
        ``None`` reads the sample packaged with abrec (no download).
    campaign : {"all", "men", "women"}, default "all"
    policy : {"random", "bts"}, default "random"
        The behaviour policy: uniform random, or Bernoulli Thompson sampling.

    Raises
    ------
    abrec.errors.UnknownNameError
        An unknown campaign or policy (the message lists the valid ones).
    abrec.errors.DataError
        A missing file, or a file that breaks the schema (named with row and column).

    Examples
    --------
    >>> obd = load_obd(campaign="all", policy="random")
    >>> len(obd.log), obd.n_items, round(float(obd.log.frame["reward"].mean()), 4)
    (10000, 80, 0.0038)
    >>> sorted(set(obd.log.frame["position"])), float(obd.log.frame["propensity"].iloc[0])
    ([0, 1, 2], 0.0125)
    """
    if campaign not in CAMPAIGNS:
        raise UnknownNameError("OBD campaign", campaign, CAMPAIGNS)
    if policy not in POLICIES:
        raise UnknownNameError("OBD behaviour policy", policy, POLICIES)
    root = _root(path)
    folder = root / policy / campaign
    if not folder.is_dir():
        raise DataError(f"{root}: missing folder {policy}/{campaign}/ of the Open Bandit Dataset")
    item_context = _read_item_context(_find(folder, "item_context"))
    n_items = len(item_context)
    affinity_columns = [f"user-item_affinity_{i}" for i in range(n_items)]
    required = ["timestamp", "item_id", "position", "click", "propensity_score", *_USER_FEATURES, *affinity_columns]
    frame, source = io.read_csv(_find(folder, campaign), str_columns=_USER_FEATURES, index_col=0)
    check_columns(list(frame.columns), required, source=source)

    def ranged(name: str, low: int, high: int) -> pd.Series[Any]:
        values = as_int(frame[name], source=source, column=name)
        v = values.to_numpy()
        fail_at(
            (v < low) | (v > high),
            frame[name],
            source=source,
            column=name,
            message=f"{name} must be an integer in [{low}, {high}]; got {{value}}",
        )
        return values

    unit = as_str(frame.index.to_series(), source=source, column="(row id)", allow_empty=False)
    timestamp = as_timestamp(frame["timestamp"], source=source, column="timestamp")
    item = ranged("item_id", 0, n_items - 1)
    position = ranged("position", 1, N_POSITIONS)
    click = ranged("click", 0, 1)
    propensity = as_float(frame["propensity_score"], source=source, column="propensity_score", allow_missing=False)
    p = propensity.to_numpy()
    fail_at(
        (p <= 0) | (p > 1),
        frame["propensity_score"],
        source=source,
        column="propensity_score",
        message="propensity_score must be in (0, 1]; got {value}",
    )
    users = pd.DataFrame(
        {name: as_str(frame[name], source=source, column=name, allow_empty=False) for name in _USER_FEATURES}
    )
    affinity = _affinity(frame, affinity_columns, source)
    n = len(frame)
    log_frame = pd.DataFrame(
        {
            "unit": unit,
            "item": item,
            "timestamp": timestamp,
            "position": position - 1,
            "reward": click.astype(np.float64),
            "propensity": propensity,
            "policy": pd.Series([policy] * n, dtype="str"),
            "experiment": pd.Series([f"obd-{campaign}"] * n, dtype="str"),
            "variant": pd.Series([policy] * n, dtype="str"),
        }
    )
    prior = root / "prior_bts.yaml"
    return OBDLog(
        log=InteractionLog._trusted(log_frame, ()),
        campaign=campaign,
        policy=policy,
        n_items=n_items,
        n_positions=N_POSITIONS,
        user_features=users,
        affinity=np.ascontiguousarray(affinity, dtype=np.float64),
        item_context=item_context,
        _prior_path=prior if prior.is_file() else _packaged() / "prior_bts.yaml",
    )
