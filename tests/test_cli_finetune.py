"""``abrec finetune LOG CATALOG --out DIR``: a new encoder folder from a log's clicks, a held-out report,
the folder usable wherever abrec takes an encoder, and the user's errors as one line with exit code 2
and nothing written.

The real bundled all-MiniLM-L6-v2 is trained on a toy log (a few seconds on a CPU); the full-size run is
``ABREC_BENCH_LLM_CASES=finetune make bench BENCH=llm``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _shared import bundled_minilm
from abrec.cli import app
from abrec.data import Catalog, InteractionLog
from abrec.embeddings import SentenceTransformerEncoder, minilm_path, read_embeddings
from abrec.embeddings.finetune import click_auc, split_clicks

runner = CliRunner()

TITLES = [
    "Alien (1979). Genres: Sci-Fi, Horror.",
    "Aliens (1986). Genres: Sci-Fi, Action.",
    "Toy Story (1995). Genres: Animation, Children's.",
    "The Lion King (1994). Genres: Animation, Children's.",
    "Heat (1995). Genres: Crime, Thriller.",
    "Casino (1995). Genres: Crime, Drama.",
    "Babe (1995). Genres: Children's, Comedy.",
    "Terminator 2 (1991). Genres: Sci-Fi, Action.",
]
TASTES = ([0, 1, 7, 4], [2, 3, 6, 5])  # what each kind of user clicks; the other kind's items are skipped
REPORT = re.compile(r"frozen ([\d.]+), fine-tuned ([\d.]+)")


@pytest.fixture(scope="module")
def minilm() -> Iterator[SentenceTransformerEncoder]:
    yield from bundled_minilm()


def _files(tmp_path: Path, *, rewards: float | None = None, items: int = 8) -> tuple[Path, Path]:
    """A catalog of ``items`` movies and a log of 24 users of two tastes (shown 8 movies each, in random order)."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(24):
        taste = TASTES[user % 2]
        for k, item in enumerate(rng.permutation(8).tolist()):
            clicked = float(item in taste) if rewards is None else rewards
            rows.append((f"u{user}", 100 + item, pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=k), clicked))
    log = InteractionLog(pd.DataFrame(rows, columns=["unit", "item", "timestamp", "reward"]))
    catalog = Catalog(
        pd.DataFrame({"item_id": [100 + i for i in range(items)], "title": TITLES[:items]}), text_columns=["title"]
    )
    log.write(tmp_path / "log.parquet")
    catalog.write(tmp_path / "items.parquet")
    return tmp_path / "log.parquet", tmp_path / "items.parquet"


def _finetune(log: Path, catalog: Path, out: Path, *extra: str) -> object:
    args = ["finetune", str(log), str(catalog), "--out", str(out), "--holdout", "0.25", "--epochs", "2"]
    return runner.invoke(app, [*args, "--batch-size", "4", "--learning-rate", "1e-3", *extra])


def test_finetune_writes_a_new_encoder_with_a_held_out_report(
    minilm: SentenceTransformerEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    log, catalog = _files(tmp_path)
    out = tmp_path / "models" / "tuned"
    result = _finetune(log, catalog, out)
    assert result.exit_code == 0, result.output
    assert "fine-tuning batch" in result.stderr, "no progress on stderr"
    stdout = result.stdout
    assert "the last 1 transformer layer(s), 1,774,464 of 22,713,216 parameters" in stdout
    assert sorted(p.name for p in out.parent.iterdir()) == ["tuned"], "a temporary folder was left behind"
    tuned = SentenceTransformerEncoder(str(out), device="cpu")
    assert tuned.identity != minilm.identity and f"identity: {tuned.identity}" in stdout
    # The report's numbers are click_auc on the same held-out users, before and after.
    split = split_clicks(InteractionLog.read(log), Catalog.read(catalog), holdout=0.25, seed=0)
    assert split.held_out_users == 6 and f"({split.held_out_users:,} users" in stdout
    args = (split.texts, split.histories, split.clicked, split.skipped)
    match = REPORT.search(stdout)
    assert match, stdout
    assert float(match.group(1)) == pytest.approx(click_auc(minilm, *args), abs=1e-4)
    assert float(match.group(2)) == pytest.approx(click_auc(tuned, *args), abs=1e-4)
    # The folder is an encoder wherever abrec takes one: `abrec embed --encoder DIR` and a config's `encoder: DIR`.
    embedded = runner.invoke(app, ["embed", str(catalog), str(tmp_path / "e.npz"), "--encoder", str(out)])
    assert embedded.exit_code == 0, embedded.output
    ids, vectors, identity = read_embeddings(tmp_path / "e.npz")
    assert identity == tuned.identity and ids.tolist() == [100 + i for i in range(8)]
    np.testing.assert_allclose(vectors, tuned.encode(TITLES), atol=1e-5)
    from abrec.envs import SyntheticCatalog
    from abrec.experiments.simulation import world_item_features

    _, config_identity = world_item_features(SyntheticCatalog(n_items=20, seed=0), str(out), 4)
    assert config_identity == tuned.identity


def _one_error_line(result: object, *needles: str, after_progress: bool = False) -> None:
    """Exit code 2 and one ``error:`` line on stderr: all of it, or the last line after the progress lines."""
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    if after_progress:
        assert all("error" not in line for line in lines[:-1]), result.stderr  # type: ignore[attr-defined]
        lines = lines[-1:]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr  # type: ignore[attr-defined]
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("missing log", ("nope.parquet",)),
        ("no clicks", ("no clicks",)),
        ("items not in the catalog", ("2 logged items are not in the catalog", "106, 107")),
        ("epochs 0", ("'epochs'", "Got 0")),
        ("holdout 1", ("'holdout'", "Got 1.0")),
        ("last layers 0", ("'last_layers'",)),
        ("out not empty", ("not an empty folder",)),
        ("base not a model", ("--base",)),
    ],
)
def test_user_errors_are_one_line_and_write_nothing(tmp_path: Path, case: str, needles: tuple[str, ...]) -> None:
    log, catalog = _files(tmp_path, rewards=0.0 if case == "no clicks" else None, items=6 if "catalog" in case else 8)
    out = tmp_path / "new" / "tuned"
    extra: list[str] = []
    if case == "missing log":
        log = tmp_path / "nope.parquet"
    elif case == "epochs 0":
        extra = ["--epochs", "0"]
    elif case == "holdout 1":
        extra = ["--holdout", "1"]
    elif case == "last layers 0":
        extra = ["--last-layers", "0"]
    elif case == "out not empty":
        out.mkdir(parents=True)
        (out / "keep.txt").write_text("mine")
    elif case == "base not a model":
        extra = ["--base", str(tmp_path / "no-such-model")]
    _one_error_line(_finetune(log, catalog, out, *extra), *needles)
    if case == "out not empty":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
    else:
        assert not (tmp_path / "new").exists()


def test_a_failure_while_saving_leaves_nothing_behind(
    minilm: SentenceTransformerEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sentence_transformers

    def full_disk(self: object, path: str, *args: object, **kwargs: object) -> None:
        (Path(path) / "model.safetensors").write_bytes(b"half")
        raise OSError(28, "No space left on device", path)

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(sentence_transformers.SentenceTransformer, "save", full_disk)
    log, catalog = _files(tmp_path)
    (tmp_path / "models").mkdir()
    result = _finetune(log, catalog, tmp_path / "models" / "tuned", "--epochs", "1", "--max-pairs", "8")
    _one_error_line(result, "No space left on device", after_progress=True)
    assert list((tmp_path / "models").iterdir()) == [], "a half-written model folder was left behind"
    assert SentenceTransformerEncoder(minilm_path(), device="cpu").identity == minilm.identity
