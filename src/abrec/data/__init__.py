"""Data: the item catalog, the interaction log, and loaders for MovieLens and the Open Bandit Dataset.

- :class:`Catalog`: unique item ids, the text fields an encoder reads, and other metadata.
- :class:`InteractionLog`: logged (unit, item, time, position, reward(s), propensity, policy,
  experiment, variant) rows, validated as a whole.
- :func:`load_movielens`: a MovieLens folder the user provides (never shipped with abrec).
- :func:`load_obd`: the Open Bandit Dataset; its small sample ships with abrec (CC BY 4.0, ZOZO, Inc.).

Both tables read and write CSV (``.csv``, ``.csv.gz``) and Parquet, chosen by suffix. A file that
breaks its schema raises :class:`abrec.errors.DataError` naming the file, the 1-based data row
(and, for CSV, the line: row 1 is line 2, after the header), the column, what was expected and
what was found; nothing is returned half-loaded.

Examples
--------
>>> from abrec.data import load_obd
>>> obd = load_obd(campaign="all", policy="bts")
>>> len(obd.log), int(obd.log.frame["reward"].sum()), obd.n_items
(10000, 42, 80)
"""

from __future__ import annotations

from .catalog import Catalog
from .interactions import InteractionLog
from .movielens import MovieLens, load_movielens
from .obd import OBDLog, load_obd

__all__ = ["Catalog", "InteractionLog", "MovieLens", "OBDLog", "load_movielens", "load_obd"]
