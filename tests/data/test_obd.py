"""Open Bandit Dataset: the packaged sample against ../shared's copy and the README's table."""

from __future__ import annotations

import gzip
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from abrec.data import InteractionLog, load_obd
from abrec.errors import DataError, UnknownNameError

# ../shared/data/obd/README.md, "Files and row counts": (rows, items, clicks) per policy/campaign
README_TABLE = {
    ("random", "all"): (10_000, 80, 38),
    ("random", "men"): (10_000, 34, 46),
    ("random", "women"): (10_000, 46, 46),
    ("bts", "all"): (10_000, 80, 42),
    ("bts", "men"): (10_000, 34, 69),
    ("bts", "women"): (10_000, 46, 46),
}
PAIRS = sorted(README_TABLE)
PACKAGED = Path(str(resources.files("abrec.data").joinpath("_obd_sample")))


@pytest.mark.parametrize(("policy", "campaign"), PAIRS)
def test_packaged_sample_matches_readme(policy: str, campaign: str) -> None:
    rows, items, clicks = README_TABLE[policy, campaign]
    obd = load_obd(campaign=campaign, policy=policy)
    frame = obd.log.frame
    assert len(obd.log) == rows and obd.n_items == items and int(frame["reward"].sum()) == clicks
    assert frame["item"].nunique() == items and frame["item"].between(0, items - 1).all()
    assert sorted(set(frame["position"])) == [0, 1, 2] and obd.n_positions == 3
    assert set(frame["policy"]) == set(frame["variant"]) == {policy}
    assert set(frame["experiment"]) == {f"obd-{campaign}"}
    assert frame["unit"].tolist()[:2] == ["0", "1"]
    assert frame["timestamp"].between(pd.Timestamp("2019-11-24", tz="UTC"), pd.Timestamp("2019-12-01", tz="UTC")).all()
    p = frame["propensity"].to_numpy()
    if policy == "random":
        np.testing.assert_allclose(p, 1.0 / items, rtol=1e-12)
    else:
        assert ((p > 0) & (p <= 1)).all() and np.unique(p).size > 100
    assert obd.affinity.shape == (rows, items) and obd.user_features.shape == (rows, 4)
    assert list(obd.item_context["item_id"]) == list(range(items))
    InteractionLog(frame)  # the log conforms to the public schema
    assert InteractionLog(frame) == obd.log


def test_context_is_obp_one_hot() -> None:
    # README: 20 context dimensions for random/all, 22 for bts/all (OBP's pd.get_dummies(drop_first=True))
    random_all, bts_all = load_obd(campaign="all"), load_obd(campaign="all", policy="bts")
    assert random_all.context().shape == (10_000, 20) and bts_all.context().shape == (10_000, 22)
    full = random_all.context(drop_first=False)
    n_levels = sum(random_all.user_features[c].nunique() for c in random_all.user_features)
    assert full.shape == (10_000, n_levels) and (full.sum(axis=1) == 4).all()


@pytest.mark.parametrize(("policy", "campaign"), PAIRS)
def test_packaged_copy_reads_like_shared(shared_dir: Path, policy: str, campaign: str) -> None:
    ours = load_obd(campaign=campaign, policy=policy)
    theirs = load_obd(shared_dir / "data" / "obd", campaign=campaign, policy=policy)
    assert ours.log == theirs.log
    np.testing.assert_array_equal(ours.affinity, theirs.affinity)
    pd.testing.assert_frame_equal(ours.user_features, theirs.user_features)
    pd.testing.assert_frame_equal(ours.item_context, theirs.item_context)


def test_packaged_files_are_the_shared_bytes(shared_dir: Path) -> None:
    src = shared_dir / "data" / "obd"
    for policy, campaign in PAIRS:
        for name in (f"{campaign}.csv", "item_context.csv"):
            packed = (PACKAGED / policy / campaign / f"{name}.gz").read_bytes()
            assert gzip.decompress(packed) == (src / policy / campaign / name).read_bytes()
    assert (PACKAGED / "prior_bts.yaml").read_bytes() == (src / "prior_bts.yaml").read_bytes()
    assert "CC BY 4.0" in (PACKAGED / "ATTRIBUTION.md").read_text()
    assert not list(PACKAGED.rglob("*.npy")) and not list(PACKAGED.rglob("*.json"))


def test_prior_bts() -> None:
    obd = load_obd(campaign="men", policy="bts")
    alpha, beta = obd.prior_bts()
    config = yaml.safe_load((PACKAGED / "prior_bts.yaml").read_text())
    assert alpha.tolist() == config["men"]["alpha"] and beta.tolist() == config["men"]["beta"]
    assert [len(obd.prior_bts(c)[0]) for c in ("all", "men", "women")] == [80, 34, 46]
    with pytest.raises(UnknownNameError, match="Did you mean 'women'"):
        obd.prior_bts("woman")


def test_unknown_campaign_and_policy_list_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"Unknown OBD campaign 'mens'.*Did you mean 'men'\?.*all, men, women"):
        load_obd(campaign="mens")
    with pytest.raises(UnknownNameError, match=r"Known: bts, random"):
        load_obd(policy="uniform")


def _copy_sample(tmp_path: Path, root: Path) -> Path:
    for policy, campaign in PAIRS:
        folder = root / policy / campaign
        folder.mkdir(parents=True)
        for name in (f"{campaign}.csv", "item_context.csv"):
            (folder / name).write_bytes(gzip.decompress((PACKAGED / policy / campaign / f"{name}.gz").read_bytes()))
    return root


def test_full_release_layout_and_bad_row(tmp_path: Path) -> None:
    root = _copy_sample(tmp_path, tmp_path / "open_bandit_dataset")
    # the full release has no prior_bts.yaml: the packaged one is used
    obd = load_obd(tmp_path, campaign="men", policy="bts")
    assert int(obd.log.frame["reward"].sum()) == 69 and len(obd.prior_bts()[0]) == 34
    path = root / "bts" / "men" / "men.csv"
    lines = path.read_text().splitlines()
    cells = lines[-1].split(",")
    cells[5] = "1.5"  # propensity_score of the last row
    lines[-1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        load_obd(root, campaign="men", policy="bts")
    assert str(info.value) == (
        f"{path}, row 10000 (line 10001), column 'propensity_score': propensity_score must be in (0, 1]; got 1.5"
    )


def test_missing_files_and_folders(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not an Open Bandit Dataset folder"):
        load_obd(tmp_path)
    root = _copy_sample(tmp_path, tmp_path / "obd")
    (root / "random" / "all" / "item_context.csv").unlink()
    with pytest.raises(DataError, match=r"missing item_context\.csv"):
        load_obd(root)
    shutil.rmtree(root / "bts" / "women")
    with pytest.raises(DataError, match=r"missing folder bts/women/"):
        load_obd(root, campaign="women", policy="bts")
    with pytest.raises(FileNotFoundError):
        load_obd(tmp_path / "nowhere")


def test_missing_column_and_bad_item(tmp_path: Path) -> None:
    root = _copy_sample(tmp_path, tmp_path / "obd")
    path = root / "random" / "men" / "men.csv"
    frame = pd.read_csv(path, index_col=0)
    frame.drop(columns=["click"]).to_csv(path)
    with pytest.raises(DataError, match=r"men\.csv: missing required column 'click'; found columns: 'timestamp'"):
        load_obd(root, campaign="men")
    frame.loc[3, "item_id"] = 34
    frame.to_csv(path)
    with pytest.raises(DataError, match=r"row 4 \(line 5\), column 'item_id': item_id must be an integer in \[0, 33\]"):
        load_obd(root, campaign="men")
