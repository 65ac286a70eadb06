"""Parquet tables carry abrec's file header: lossless round trip, old metadata still read, refusals with one message."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from abrec import __version__
from abrec._header import FileHeader
from abrec.data import Catalog, InteractionLog, io
from abrec.errors import DataError

CATALOG = Catalog(pd.DataFrame({"item_id": [1, 2], "title": ["Hat", "Shoe"]}), text_columns=["title"])


def _metadata(path: Path) -> dict[str, object]:
    return dict(json.loads(pq.read_schema(path).metadata[b"abrec"]))


def _with_metadata(path: Path, metadata: str | None) -> Path:
    out = path.with_name("x.parquet")
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata(None if metadata is None else {b"abrec": metadata.encode()}), out)
    return out


def test_round_trip_writes_the_shared_header(tmp_path: Path) -> None:
    path = tmp_path / "items.parquet"
    CATALOG.write(path)
    assert _metadata(path) == {
        "format": "abrec.catalog",
        "format_version": 1,
        "abrec_version": __version__,
        "id_column": "item_id",
        "text_columns": ["title"],
        "text_template": None,
    }
    assert Catalog.read(path) == CATALOG
    frame, meta, _ = io.read_parquet(path, kind="catalog", version=1)
    assert meta == {
        "kind": "catalog",
        "version": 1,
        "id_column": "item_id",
        "text_columns": ["title"],
        "text_template": None,
    }
    pd.testing.assert_frame_equal(frame, CATALOG.frame)


def test_mapping_metadata_and_files_without_a_header(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2]})
    io.write_frame(frame, tmp_path / "t.parquet", metadata={"kind": "table", "version": 3, "note": "x"})
    assert _metadata(tmp_path / "t.parquet")["format"] == "abrec.table"
    assert io.read_parquet(tmp_path / "t.parquet")[1] == {"kind": "table", "version": 3, "note": "x"}
    with pytest.raises(ValueError, match="needs a 'kind' and a 'version'"):
        io.write_frame(frame, tmp_path / "u.parquet", metadata={"note": "x"})
    pq.write_table(pa.table({"a": [1]}), tmp_path / "plain.parquet")  # another program's Parquet file
    assert io.read_parquet(tmp_path / "plain.parquet", kind="catalog", version=1)[1] == {}


def test_tables_of_the_previous_layout_load(tmp_path: Path) -> None:
    CATALOG.write(tmp_path / "items.parquet")
    old = {"id_column": "item_id", "kind": "catalog", "text_columns": ["title"], "text_template": None, "version": 1}
    assert Catalog.read(_with_metadata(tmp_path / "items.parquet", json.dumps(old, sort_keys=True))) == CATALOG


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (FileHeader("catalog", 2).encode(), r"x\.parquet holds an abrec 'catalog' file of version 2; this abrec reads"),
        (json.dumps({"kind": "catalog", "version": 5}), r"'catalog' file of version 5; this abrec reads version 1"),
        (FileHeader("embeddings", 1).encode(), r"holds an abrec 'embeddings' file, not an abrec 'catalog' file"),
        ("{oops", r"x\.parquet has a corrupt abrec header"),
        ('"just a string"', r"corrupt abrec header \(not a JSON object\)"),
    ],
)
def test_bad_headers_are_refused(tmp_path: Path, metadata: str, message: str) -> None:
    CATALOG.write(tmp_path / "items.parquet")
    with pytest.raises(DataError, match=message):
        Catalog.read(_with_metadata(tmp_path / "items.parquet", metadata))


def test_an_interaction_log_is_not_a_catalog(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    InteractionLog.from_arrays(unit=["a"], item=[1], timestamp=[0], reward=[1.0]).write(path)
    assert _metadata(path)["format"] == "abrec.interaction_log"
    with pytest.raises(DataError, match=r"log\.parquet holds an abrec 'interaction_log' file, not an abrec 'catalog'"):
        Catalog.read(path)
