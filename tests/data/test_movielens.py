"""MovieLens: the shared ml-100k copy (read from ../shared, never committed) and tiny hand-written folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from abrec.data import InteractionLog, MovieLens, load_movielens
from abrec.data.movielens import ML100K_GENRES
from abrec.errors import DataError


@pytest.fixture(scope="module")
def ml100k(shared_dir: Path) -> MovieLens:
    return load_movielens(shared_dir / "data" / "ml-100k")


def test_shared_ml100k_counts(ml100k: MovieLens) -> None:
    assert ml100k.name == "ml-100k"
    users = ml100k.users
    assert users is not None
    assert len(ml100k.catalog) == 1682 and len(ml100k.ratings) == 100_000 and len(users) == 943
    assert ml100k.ratings["user_id"].nunique() == 943 and ml100k.ratings["item_id"].nunique() == 1682
    assert sorted(set(ml100k.ratings["rating"])) == [1.0, 2.0, 3.0, 4.0, 5.0]
    ts = ml100k.ratings["timestamp"]
    assert str(ts.dtype) == "datetime64[us, UTC]"
    # README: collected September 1997 - April 1998
    assert ts.min() >= pd.Timestamp("1997-09-01", tz="UTC") and ts.max() < pd.Timestamp("1998-05-01", tz="UTC")
    assert list(users.columns) == ["user_id", "age", "gender", "occupation", "zip_code"]


def test_shared_ml100k_text_and_genres(ml100k: MovieLens) -> None:
    catalog = ml100k.catalog
    assert catalog.ids.tolist() == list(range(1, 1683))
    texts = catalog.texts()
    assert texts[0] == "Toy Story (1995). Genres: Animation, Children's, Comedy."
    assert texts[1] == "GoldenEye (1995). Genres: Action, Adventure, Thriller."
    assert ml100k.genres(1) == ("Animation", "Children's", "Comedy")
    assert ml100k.shares_genre(1, 2) is False and ml100k.shares_genre(2, 3) is True  # Thriller
    indicators = ml100k.genre_indicators()
    assert indicators.shape == (1682, 19) and set(indicators.columns) == set(ML100K_GENRES)
    assert int(indicators["Drama"].sum()) == 725 and int(indicators["Comedy"].sum()) == 505
    assert bool((indicators.loc[1] & indicators.loc[2]).any()) == ml100k.shares_genre(1, 2)
    frame = catalog.frame
    assert frame["year"].dtype == "Int64" and int(frame["year"].isna().sum()) == 1  # item 267: no title, no date
    # the title's "(1995)" wins over a garbled year column ("V")
    assert frame.set_index("item_id").loc[1412, "year"] == 1995
    assert "Misérables, Les (1995)" in texts[542]


def test_shared_ml100k_interaction_log(ml100k: MovieLens) -> None:
    log = ml100k.to_interaction_log()
    assert isinstance(log, InteractionLog) and len(log) == 100_000 and log.reward_columns == ()
    frame = log.frame
    assert frame["reward"].mean() == pytest.approx(ml100k.ratings["rating"].mean())
    assert frame["propensity"].isna().all() and (frame["position"] == 0).all()
    binary = ml100k.to_interaction_log(min_rating=4).frame
    assert set(binary["reward"]) == {0.0, 1.0}
    assert int(binary["reward"].sum()) == int((ml100k.ratings["rating"] >= 4).sum()) == 34_174 + 21_201


def _grouplens_100k(folder: Path) -> Path:
    folder.mkdir()
    (folder / "u.data").write_text("1\t10\t5\t881250949\n2\t20\t3\t891717742\n1\t20\t1\t878887116\n")
    flags = ["0"] * 19
    toy, fish = list(flags), list(flags)
    for g in ("Animation", "Children's", "Comedy"):
        toy[ML100K_GENRES.index(g)] = "1"
    fish[ML100K_GENRES.index("Drama")] = "1"
    fish[ML100K_GENRES.index("Comedy")] = "1"
    lines = [
        "|".join(["10", "Toy Story (1995)", "01-Jan-1995", "", "http://x", *toy]),
        "|".join(["20", "Cité des enfants perdus, La (1995)", "01-Jan-1995", "", "http://y", *fish]),
        "|".join(["30", "unknown", "", "", "", "1", *flags[1:]]),
    ]
    (folder / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|T8H1N\n")
    return folder


def test_grouplens_u_files(tmp_path: Path) -> None:
    ml = load_movielens(_grouplens_100k(tmp_path / "ml-100k"))
    assert ml.catalog.texts() == [
        "Toy Story (1995). Genres: Animation, Children's, Comedy.",
        "Cité des enfants perdus, La (1995). Genres: Comedy, Drama.",
        "unknown.",
    ]
    assert ml.genres(20) == ("Comedy", "Drama") and ml.genres(30) == ("unknown",)
    assert ml.shares_genre(10, 20) is True
    assert ml.ratings["item_id"].tolist() == [10, 20, 20]
    assert ml.ratings["timestamp"].iloc[0] == pd.Timestamp(881250949, unit="s", tz="UTC")
    assert ml.users is not None and ml.users["zip_code"].tolist() == ["85711", "T8H1N"]


def test_grouplens_bad_genre_flag(tmp_path: Path) -> None:
    folder = _grouplens_100k(tmp_path / "ml-100k")
    text = (folder / "u.item").read_bytes().decode("latin-1").splitlines()
    text[1] = text[1][:-1] + "2"  # Western flag of row 2
    (folder / "u.item").write_bytes(("\n".join(text) + "\n").encode("latin-1"))
    with pytest.raises(
        DataError, match=r"u\.item, row 2 \(line 2\), column 'Western': genre flag Western must be 0 or 1"
    ):
        load_movielens(folder)


def _ml_latest(folder: Path) -> Path:
    folder.mkdir()
    (folder / "movies.csv").write_text(
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
        '2,"American President, The (1995)",Comedy|Drama|Romance\n'
        "3,Some Documentary,(no genres listed)\n"
    )
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,2,0.5,1445714835\n"
    )
    return folder


def test_ml_latest_csv(tmp_path: Path) -> None:
    ml = load_movielens(_ml_latest(tmp_path / "ml-latest-small"))
    assert ml.name == "ml-latest-small" and ml.users is None
    assert ml.catalog.texts() == [
        "Toy Story (1995). Genres: Adventure, Animation, Children, Comedy, Fantasy.",
        "American President, The (1995). Genres: Comedy, Drama, Romance.",
        "Some Documentary.",
    ]
    assert ml.genres(3) == () and ml.shares_genre(1, 2) is True and ml.shares_genre(1, 3) is False
    assert ml.catalog.frame["year"].tolist() == [1995, 1995, pd.NA]
    assert ml.ratings["rating"].tolist() == [4.0, 4.5, 0.5]
    assert len(ml.to_interaction_log(min_rating=4.0).for_policy("")) == 3


def test_rating_of_unknown_movie_names_the_row(tmp_path: Path) -> None:
    folder = _ml_latest(tmp_path / "ml")
    with (folder / "ratings.csv").open("a") as f:
        f.write("3,99,3.0,964982703\n")
    with pytest.raises(DataError, match=r"ratings\.csv, row 4 \(line 5\), column 'item_id':.*unknown movie 99"):
        load_movielens(folder)


def test_bad_rating_value(tmp_path: Path) -> None:
    folder = _ml_latest(tmp_path / "ml")
    text = (folder / "ratings.csv").read_text().replace("4.5", "four")
    (folder / "ratings.csv").write_text(text)
    with pytest.raises(DataError, match=r"row 2 \(line 3\), column 'rating': rating must be a number; got 'four'"):
        load_movielens(folder)


def test_typed_header_tsv(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "tiny.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t7\t3\t881250949\n"
    )
    (folder / "tiny.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n7\tHeat\t1995\tAction Crime\n"
    )
    ml = load_movielens(folder)
    assert ml.catalog.texts() == ["Heat (1995). Genres: Action, Crime."] and ml.users is None
    assert np.array_equal(ml.catalog.ids, [7])


def test_unknown_folder_lists_expected_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataError) as info:
        load_movielens(tmp_path)
    message = str(info.value)
    assert "not a MovieLens folder" in message and "u.data" in message and "ratings.csv, movies.csv" in message
    assert ".inter" in message and "notes.txt" in message
    with pytest.raises(FileNotFoundError):
        load_movielens(tmp_path / "absent")
