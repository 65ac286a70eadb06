from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from abrec.data import Catalog
from abrec.errors import DataError


def _catalog(**kw: object) -> Catalog:
    frame = pd.DataFrame(
        {
            "item_id": [10, 20, 30],
            "title": ["Red  shoe\n", "Hat", None],
            "colour": ["red", "", "blue"],
            "price": [1.5, 2.0, np.nan],
        }
    )
    return Catalog(frame, text_columns=["title", "colour"], **kw)  # type: ignore[arg-type]


def test_texts_join_non_empty_fields_and_collapse_whitespace() -> None:
    assert _catalog().texts() == ["Red shoe. red", "Hat", "blue"]


def test_template_formats_each_row_with_missing_values_empty() -> None:
    catalog = _catalog(text_template="{title} in {colour} for {price}")
    assert catalog.texts() == ["Red shoe in red for 1.5", "Hat in for 2.0", "in blue for"]


def test_template_with_unknown_column_raises() -> None:
    with pytest.raises(DataError, match=r"unknown column 'colur'.*did you mean 'colour'"):
        _catalog(text_template="{title} {colur}")


def test_ids_frame_copy_len_and_subset_order() -> None:
    catalog = _catalog()
    assert catalog.ids.dtype == np.int64 and catalog.ids.tolist() == [10, 20, 30]
    assert len(catalog) == 3 and catalog.text_columns == ("title", "colour")
    frame = catalog.frame
    frame.loc[0, "title"] = "changed"
    assert catalog.texts()[0] == "Red shoe. red"
    sub = catalog.subset([30, 10])
    assert sub.ids.tolist() == [30, 10] and sub.texts() == ["blue", "Red shoe. red"]
    with pytest.raises(DataError, match="unknown item_id values: 99"):
        catalog.subset([10, 99])


def test_string_ids() -> None:
    catalog = Catalog(pd.DataFrame({"sku": ["b", "a"], "name": ["B", "A"]}), id_column="sku", text_columns=["name"])
    assert catalog.ids.tolist() == ["b", "a"] and catalog.ids.dtype == object
    assert catalog.subset(["a"]).texts() == ["A"]


def test_duplicate_id_names_both_rows_and_column() -> None:
    frame = pd.DataFrame({"item_id": [5, 6, 5], "title": ["a", "b", "c"]})
    with pytest.raises(DataError, match=r"row 3, column 'item_id': duplicate item_id 5 at rows 1, 3"):
        Catalog(frame, text_columns=["title"])


def test_duplicate_id_in_csv_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("item_id,title\n1,a\n2,b\n1,c\n")
    with pytest.raises(DataError) as info:
        Catalog.read(path, text_columns=["title"])
    assert str(info.value).startswith(f"{path}, row 3 (line 4), column 'item_id': duplicate item_id 1")


def test_missing_text_column_lists_found_columns() -> None:
    with pytest.raises(DataError, match=r"missing required column 'titel'.*found columns: 'item_id', 'title'"):
        Catalog(pd.DataFrame({"item_id": [1], "title": ["a"]}), text_columns=["titel"])


@pytest.mark.parametrize("suffix", ["csv", "csv.gz", "parquet"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    catalog = _catalog(text_template="{title} ({colour})")
    path = tmp_path / f"items.{suffix}"
    catalog.write(path)
    if suffix == "parquet":
        back = Catalog.read(path)
        assert back == catalog
    else:
        back = Catalog.read(path, text_columns=["title", "colour"], text_template="{title} ({colour})")
        assert back.ids.tolist() == catalog.ids.tolist()
        assert back.texts() == catalog.texts()
        np.testing.assert_array_equal(back.frame["price"], catalog.frame["price"])


def test_csv_read_needs_text_columns(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("item_id,title\n1,a\n")
    with pytest.raises(DataError, match="needs text_columns"):
        Catalog.read(path)


def test_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown table format"):
        _catalog().write(tmp_path / "items.xlsx")
