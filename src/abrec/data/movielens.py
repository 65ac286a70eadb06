"""MovieLens ratings and movies (GroupLens Research), read from a folder the user provides.

MovieLens may not be redistributed (GroupLens' terms), so abrec never ships it: download it from
https://grouplens.org/datasets/movielens/ and point :func:`load_movielens` at the folder. Three
layouts are recognised:

- GroupLens ml-100k: ``u.data`` (tab-separated user, item, rating, Unix time; no header),
  ``u.item`` (pipe-separated, latin-1: id, "Title (1995)", release date, video date, IMDb URL and
  19 genre flags), ``u.user`` (id, age, gender, occupation, zip code);
- GroupLens ml-latest, ml-latest-small, ml-20m, ml-25m, ml-32m: ``ratings.csv``
  (userId,movieId,rating,timestamp) and ``movies.csv`` (movieId,title,genres "A|B");
- the tab-separated form with a typed header (RecBole's atomic files): ``<name>.inter``
  (user_id, item_id, rating, timestamp), ``<name>.item`` (item_id, movie_title, release_year,
  class = space-separated genres), ``<name>.user``.

Cite: F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and Context.
ACM TiiS 5, 4, Article 19.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import DataError
from . import io
from ._schema import Source, as_float, as_int, as_str, as_timestamp, check_columns, fail_at
from .catalog import Catalog
from .interactions import InteractionLog

__all__ = ["ML100K_GENRES", "MovieLens", "load_movielens"]

#: The 19 genre flags of ml-100k's ``u.item``, in file order (as listed in ``u.genre``).
ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
#: Genre labels that mean "no genre": kept out of an item's text and (the second) out of its genres.
_NO_GENRE = ("unknown", "(no genres listed)")
_TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$")
_LAYOUTS = (
    "GroupLens ml-100k: u.data, u.item (u.user optional)",
    "GroupLens ml-latest/ml-25m: ratings.csv, movies.csv",
    "typed-header TSV: <name>.inter, <name>.item (<name>.user optional)",
)


@dataclass(frozen=True, eq=False)
class MovieLens:
    """A MovieLens dataset: the movie catalog, the ratings and (when the folder has them) the users.

    Attributes
    ----------
    name : str
        The folder's name, e.g. "ml-100k".
    catalog : Catalog
        ``item_id`` (int64), ``title`` (without the year), ``year`` (nullable Int64), ``genres``
        (space-separated genre names; none of them contains a space) and ``text``, the text an
        encoder reads: "Toy Story (1995). Genres: Animation, Children's, Comedy."
    ratings : pandas.DataFrame
        ``user_id`` (int64), ``item_id`` (int64), ``rating`` (float64), ``timestamp`` (UTC), file order.
    users : pandas.DataFrame or None
        ``user_id`` and the demographic columns (ml-100k: age, gender, occupation, zip_code).
    """

    name: str
    catalog: Catalog
    ratings: pd.DataFrame
    users: pd.DataFrame | None

    def genres(self, item_id: int) -> tuple[str, ...]:
        """The genres of one movie (an unknown id raises DataError)."""
        text = self.catalog.subset([item_id]).frame["genres"].iloc[0]
        return tuple(str(text).split())

    def genre_indicators(self) -> pd.DataFrame:
        """A boolean items x genres frame, indexed by ``item_id`` (sorted genre columns).

        Two items share a genre when the AND of their rows has a True:
        ``(g.loc[a] & g.loc[b]).any()``.
        """
        frame = self.catalog.frame
        dummies = frame["genres"].str.get_dummies(sep=" ").astype(bool)
        dummies.index = pd.Index(frame["item_id"], name="item_id")
        return dummies[sorted(dummies.columns)]

    def shares_genre(self, a: int, b: int) -> bool:
        """Whether movies ``a`` and ``b`` have at least one genre in common."""
        return bool(set(self.genres(a)) & set(self.genres(b)))

    def to_interaction_log(self, min_rating: float | None = None) -> InteractionLog:
        """The ratings as an :class:`InteractionLog` (``unit`` = user id as text, ``position`` 0).

        With ``min_rating`` the reward is 1.0 for a rating >= ``min_rating`` and 0.0 below, and the
        raw rating is kept in the extra reward column ``rating``; without it the reward is the rating.
        Propensities are missing (the logging policy is unknown).
        """
        r = self.ratings
        frame = pd.DataFrame(
            {
                "unit": r["user_id"].astype("str"),
                "item": r["item_id"].astype("int64"),
                "timestamp": r["timestamp"],
                "reward": r["rating"].astype("float64"),
            }
        )
        reward_columns: list[str] = []
        if min_rating is not None:
            frame["reward"] = (r["rating"] >= min_rating).astype("float64")
            frame["rating"] = r["rating"].astype("float64")
            reward_columns = ["rating"]
        return InteractionLog(frame, reward_columns=reward_columns)

    def __repr__(self) -> str:
        n_users = "?" if self.users is None else str(len(self.users))
        return (
            f"MovieLens({self.name!r}, n_items={len(self.catalog)}, n_ratings={len(self.ratings)}, n_users={n_users})"
        )


def load_movielens(path: str | os.PathLike[str]) -> MovieLens:
    """Load a MovieLens folder, detecting its layout; every file is validated before anything is returned.

    Parameters
    ----------
    path : path
        The folder: GroupLens' ml-100k (``u.data``, ``u.item``, ``u.user``), ml-latest / ml-25m
        (``ratings.csv``, ``movies.csv``), or the typed-header TSV form (``<name>.inter``, ...).

    Raises
    ------
    abrec.errors.DataError
        An unrecognised folder (the message lists the files each layout needs), or a file that
        breaks its schema (named with row and column); a rating of a movie missing from the catalog.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "movies.csv").write_text('movieId,title,genres\\n1,"Toy Story (1995)",Animation|Comedy\\n')
    >>> _ = (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\\n7,1,4.5,964982703\\n")
    >>> ml = load_movielens(folder)
    >>> ml.catalog.texts(), ml.genres(1), ml.ratings["rating"].tolist()
    (['Toy Story (1995). Genres: Animation, Comedy.'], ('Animation', 'Comedy'), [4.5])
    """
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"No such folder: {str(folder)!r} (expected a MovieLens folder)")
    if (folder / "u.data").is_file() and (folder / "u.item").is_file():
        catalog = _read_u_item(folder / "u.item")
        ratings, ratings_source = _read_ratings(
            folder / "u.data", sep="\t", names=("user_id", "item_id", "rating", "timestamp")
        )
        users = _read_users(folder / "u.user", sep="|", names=_U_USER) if (folder / "u.user").is_file() else None
    elif (folder / "ratings.csv").is_file() and (folder / "movies.csv").is_file():
        catalog = _read_movies_csv(folder / "movies.csv")
        ratings, ratings_source = _read_ratings(folder / "ratings.csv", sep=",", names=None)
        users = None
    else:
        inter = sorted(folder.glob("*.inter"))
        stems = [p.stem for p in inter if (folder / f"{p.stem}.item").is_file()]
        if not stems:
            found = ", ".join(sorted(p.name for p in folder.iterdir())[:20]) or "nothing"
            raise DataError(f"{folder}: not a MovieLens folder; expected one of: {'; '.join(_LAYOUTS)}. Found: {found}")
        stem = stems[0]
        catalog = _read_typed_item(folder / f"{stem}.item")
        ratings, ratings_source = _read_ratings(folder / f"{stem}.inter", sep="\t", names=None, typed=True)
        user_file = folder / f"{stem}.user"
        users = _read_users(user_file, sep="\t", names=None, typed=True) if user_file.is_file() else None
    _check_known_items(ratings, catalog, ratings_source)
    return MovieLens(name=folder.resolve().name, catalog=catalog, ratings=ratings, users=users)


_U_USER = ("user_id", "age", "gender", "occupation", "zip_code")


def _read(
    path: Path, *, sep: str, names: tuple[str, ...] | None, typed: bool = False, encoding: str = "utf-8", **kw: Any
) -> tuple[pd.DataFrame, Source]:
    quoting: Literal[0, 1, 2, 3] = csv.QUOTE_NONE if sep != "," else csv.QUOTE_MINIMAL
    if typed and kw.get("str_columns"):  # dtypes go by the raw header names, "zip_code:token"
        try:
            raw = [str(c) for c in pd.read_csv(path, sep=sep, nrows=0, encoding=encoding, quoting=quoting).columns]
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot be read: {exc}") from exc
        kw["str_columns"] = [c for c in raw if c.split(":", 1)[0] in kw["str_columns"]]
    frame, source = io.read_csv(path, sep=sep, names=names, encoding=encoding, quoting=quoting, **kw)
    if typed:  # "movie_title:token_seq" -> "movie_title"
        frame.columns = [str(c).split(":", 1)[0] for c in frame.columns]
    return frame, source


def _read_ratings(
    path: Path, *, sep: str, names: tuple[str, ...] | None, typed: bool = False
) -> tuple[pd.DataFrame, Source]:
    frame, source = _read(path, sep=sep, names=names, typed=typed)
    if not typed and names is None:  # ml-latest's camelCase header
        frame = frame.rename(columns={"userId": "user_id", "movieId": "item_id"})
    check_columns(list(frame.columns), ["user_id", "item_id", "rating", "timestamp"], source=source)
    out = pd.DataFrame(
        {
            "user_id": as_int(frame["user_id"], source=source, column="user_id"),
            "item_id": as_int(frame["item_id"], source=source, column="item_id"),
            "rating": as_float(frame["rating"], source=source, column="rating", allow_missing=False),
            "timestamp": as_timestamp(
                as_float(frame["timestamp"], source=source, column="timestamp", allow_missing=False),
                source=source,
                column="timestamp",
            ),
        }
    )
    return out, source


def _read_users(path: Path, *, sep: str, names: tuple[str, ...] | None, typed: bool = False) -> pd.DataFrame:
    frame, source = _read(path, sep=sep, names=names, typed=typed, str_columns=("gender", "occupation", "zip_code"))
    check_columns(list(frame.columns), ["user_id"], source=source, allow_extra=True)
    out = frame.reset_index(drop=True).copy()
    out["user_id"] = as_int(frame["user_id"], source=source, column="user_id")
    if "age" in out.columns:
        out["age"] = as_int(frame["age"], source=source, column="age")
    for name in ("gender", "occupation", "zip_code"):
        if name in out.columns:
            out[name] = as_str(frame[name], source=source, column=name, allow_empty=True)
    dup = out["user_id"].duplicated().to_numpy()
    fail_at(dup, out["user_id"], source=source, column="user_id", message="duplicate user_id {value}")
    return out


def _split_title(titles: pd.Series[Any]) -> tuple[list[str], list[int | None]]:
    out_titles: list[str] = []
    years: list[int | None] = []
    for title in titles:
        match = _TITLE_YEAR.match(title)
        if match and match.group("title"):
            out_titles.append(match.group("title"))
            years.append(int(match.group("year")))
        else:
            out_titles.append(title.strip())
            years.append(None)
    return out_titles, years


def _catalog(ids: pd.Series[Any], titles: list[str], years: list[int | None], genres: list[list[str]]) -> Catalog:
    texts = []
    for title, year, names in zip(titles, years, genres, strict=True):
        head = f"{title} ({year})" if year is not None else title
        shown = [g for g in names if g not in _NO_GENRE]
        texts.append(f"{head}. Genres: {', '.join(shown)}." if shown else f"{head}.")
    frame = pd.DataFrame(
        {
            "item_id": ids.to_numpy(),
            "title": pd.Series(titles, dtype="str"),
            "year": pd.array(years, dtype="Int64"),
            "genres": pd.Series([" ".join(g) for g in genres], dtype="str"),
            "text": pd.Series(texts, dtype="str"),
        }
    )
    return Catalog(frame, id_column="item_id", text_columns=["text"])


def _unique_ids(ids: pd.Series[Any], source: Source) -> None:
    fail_at(ids.duplicated().to_numpy(), ids, source=source, column="item_id", message="duplicate item_id {value}")


def _read_u_item(path: Path) -> Catalog:
    names = ("item_id", "title", "release_date", "video_release_date", "imdb_url", *ML100K_GENRES)
    frame, source = _read(path, sep="|", names=names, encoding="latin-1", str_columns=names[1:5])
    ids = as_int(frame["item_id"], source=source, column="item_id")
    _unique_ids(ids, source)
    flags = np.column_stack([as_int(frame[g], source=source, column=g).to_numpy() for g in ML100K_GENRES])
    for j, g in enumerate(ML100K_GENRES):
        fail_at(
            (flags[:, j] != 0) & (flags[:, j] != 1),
            frame[g],
            source=source,
            column=g,
            message=f"genre flag {g} must be 0 or 1; got {{value}}",
        )
    raw_titles = as_str(frame["title"], source=source, column="title", allow_empty=True)
    titles, years = _split_title(raw_titles)
    dates = as_str(frame["release_date"], source=source, column="release_date", allow_empty=True)
    for i, (year, date) in enumerate(zip(years, dates, strict=True)):
        if year is None and re.fullmatch(r"\d{1,2}-[A-Za-z]{3}-\d{4}", date):
            years[i] = int(date[-4:])
    genres = [[g for g, f in zip(ML100K_GENRES, row, strict=True) if f] for row in flags]
    return _catalog(ids, titles, years, genres)


def _read_movies_csv(path: Path) -> Catalog:
    frame, source = _read(path, sep=",", names=None, str_columns=("title", "genres"))
    check_columns(list(frame.columns), ["movieId", "title", "genres"], source=source, allow_extra=True)
    ids = as_int(frame["movieId"], source=source, column="movieId")
    _unique_ids(ids, source)
    titles, years = _split_title(as_str(frame["title"], source=source, column="title", allow_empty=False))
    raw = as_str(frame["genres"], source=source, column="genres", allow_empty=True)
    genres = [[g.replace(" ", "-") for g in text.split("|") if g and g != "(no genres listed)"] for text in raw]
    return _catalog(ids, titles, years, genres)


def _read_typed_item(path: Path) -> Catalog:
    frame, source = _read(path, sep="\t", names=None, typed=True, str_columns=("movie_title", "release_year", "class"))
    check_columns(list(frame.columns), ["item_id", "movie_title"], source=source, allow_extra=True)
    ids = as_int(frame["item_id"], source=source, column="item_id")
    _unique_ids(ids, source)
    raw_titles = as_str(frame["movie_title"], source=source, column="movie_title", allow_empty=True)
    titles, years = _split_title(raw_titles)
    if "release_year" in frame.columns:
        column = as_str(frame["release_year"], source=source, column="release_year", allow_empty=True)
        for i, text in enumerate(column):
            if years[i] is None and re.fullmatch(r"\d{4}", text):
                years[i] = int(text)
    classes = (
        as_str(frame["class"], source=source, column="class", allow_empty=True)
        if "class" in frame.columns
        else pd.Series([""] * len(frame), dtype="str")
    )
    genres = [text.split() for text in classes]
    return _catalog(ids, titles, years, genres)


def _check_known_items(ratings: pd.DataFrame, catalog: Catalog, source: Source) -> None:
    known = np.isin(ratings["item_id"].to_numpy(), catalog.ids)
    fail_at(
        ~known,
        ratings["item_id"],
        source=source,
        column="item_id",
        message="every rated movie must be in the movie list; got the unknown movie {value}",
    )
