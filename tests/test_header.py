"""The one file header: lossless round trip, old layouts still read, one message per problem."""

from __future__ import annotations

import json

import pytest

import abrec
from abrec._header import FileHeader
from abrec.errors import CacheError, DataError, StateError


def _decode(raw: object, **kw: object) -> FileHeader:
    options: dict[str, object] = {"path": "f.bin", "error": StateError, "kind": "policy", "version": 1, **kw}
    return FileHeader.decode(raw, **options)  # type: ignore[arg-type]


def test_round_trip_and_layout() -> None:
    header = FileHeader("policy", 1, {"dim": 3, "params": {"alpha": 0.5}})
    assert header.abrec_version == abrec.__version__
    doc = json.loads(header.encode())
    assert list(doc) == ["format", "format_version", "abrec_version", "dim", "params"]
    assert doc["format"] == "abrec.policy" and doc["format_version"] == 1
    assert _decode(header.encode()) == header == _decode(header.as_dict()) == _decode(header.encode().encode())


def test_old_layouts_still_read() -> None:
    old_table = {"kind": "catalog", "version": 1, "id_column": "item_id"}  # Parquet metadata before the one header
    back = _decode(json.dumps(old_table), kind="catalog")
    assert (back.kind, back.version, dict(back.fields), back.abrec_version) == (
        "catalog",
        1,
        {"id_column": "item_id"},
        None,
    )
    old_embeddings = {
        "kind": "embeddings",
        "format": "abrec.embeddings",
        "format_version": 1,
        "dim": 2,
        "abrec": "0.0.9",
    }
    back = _decode(old_embeddings, kind="embeddings")
    assert dict(back.fields) == {"dim": 2} and back.abrec_version == "0.0.9"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, r"^f\.bin is not an abrec 'policy' file \(no header\)\.$"),
        ("{not json", r"^f\.bin has a corrupt abrec header \(Expecting"),
        ("[1, 2]", r"corrupt abrec header \(not a JSON object\)"),
        ('{"dim": 3}', r"corrupt abrec header \(it names no format\)"),
        ('{"format": "abrec.policy"}', r"corrupt abrec header \(version None is not an int >= 1\)"),
        ('{"format": "abrec.policy", "format_version": true}', r"version True is not an int"),
        (
            '{"format": "abrec.policy", "format_version": 1, "abrec_version": 3}',
            r"corrupt abrec header \(abrec version 3\)",
        ),
        (
            '{"format": "numpy.thing", "format_version": 1}',
            r"^f\.bin is not an abrec 'policy' file \(format 'numpy\.thing'\)\.$",
        ),
        (
            '{"format": "abrec.pca-reducer"}',
            r"^f\.bin holds an abrec 'pca-reducer' file, not an abrec 'policy' file\.$",
        ),
    ],
)
def test_problems_raise_the_callers_error(raw: object, message: str) -> None:
    with pytest.raises(StateError, match=message):
        _decode(raw)


def test_versions_outside_the_readable_range() -> None:
    newer = FileHeader("policy", 2, abrec_version="9.0.0").encode()
    with pytest.raises(
        CacheError,
        match=(
            r"^f\.bin holds an abrec 'policy' file of version 2; this abrec reads version 1: upgrade abrec to read it "
            r"\(it was written by abrec 9\.0\.0\)\.$"
        ),
    ):
        _decode(newer, error=CacheError)
    older = FileHeader("interaction_log", 1).encode()
    with pytest.raises(
        DataError, match=r"of version 1; this abrec reads versions 2 to 3: re-create it with this abrec\.$"
    ):
        _decode(older, kind="interaction_log", version=3, oldest=2, error=DataError)
    assert _decode(older, kind="interaction_log", version=3, oldest=1).version == 1
    assert _decode(newer, kind=None, version=None).version == 2  # no expectation: any kind and version


def test_bad_headers_are_not_written() -> None:
    with pytest.raises(ValueError, match="may not be named"):
        FileHeader("policy", 1, {"format": "x"})
    with pytest.raises(ValueError, match="int >= 1"):
        FileHeader("policy", 0)
    with pytest.raises(ValueError, match="non-empty kind"):
        FileHeader("", 1)
