"""``abrec demo``: the main job on built-in data, end to end.

1. Build the SyntheticCatalog world (items with generated descriptions) and embed every item's text with
   MiniLM (the bundled all-MiniLM-L6-v2 of the ``llm`` extra; the light hashing encoder only when that
   extra is absent, and the demo says so), cached on disk.
2. Run a simulated A/B test of four policies (uniform random as control, Bernoulli Thompson sampling,
   Thompson sampling with text-embedding priors, hybrid LinUCB on text embeddings) with top-two Thompson
   adaptive allocation between them; every decision is logged with its propensity.
3. Read the experiment out on clicks per user (primary), CTR, conversion and revenue per user (period-weighted
   lifts, Holm on the primary, Benjamini-Hochberg across the secondaries, always-valid intervals, Bayesian, SRM).
4. Evaluate the same policies off-policy on the control's uniformly random logs (replay) and compare
   with what they earned online.
5. Write the interaction log and one self-contained HTML report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..experiments import ExperimentConfig
from ._output import check_folder
from .simulate import run_and_report

DEMO_CONFIG: dict[str, Any] = {
    "name": "demo",
    "seed": 0,
    "env": {
        "env": "abrec/SyntheticCatalog-Bandit-v0",
        "seed": 0,
        "world": {"n_items": 500},
        "view": {"n_users": 200, "n_candidates": 20, "slate_size": 3, "horizon": 100},
    },
    "encoder": "auto",
    "feature_dim": 8,
    "variants": [
        {"name": "random", "policy": "uniform"},
        {"name": "thompson", "policy": "bernoulli_ts", "params": {"propensity_draws": 100}},
        {"name": "text-prior-ts", "policy": "text_prior_ts", "params": {"propensity_draws": 100}},
        {"name": "hybrid-linucb", "policy": "hybrid_linucb"},
    ],
    "control": "random",
    "allocation": {"method": "top_two", "min_share": 0.1, "period": 5},
    "alpha": 0.05,
}


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the report and the log.")] = Path("demo-output"),
    steps: Annotated[int, typer.Option(help="Simulator steps (200 new users each).")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the world, the users and the policies.")] = 0,
    encoder: Annotated[str, typer.Option(help="Text encoder: auto (MiniLM if installed), minilm, hashing.")] = "auto",
) -> None:
    """Embed a catalog, A/B test four policies with adaptive allocation, evaluate them offline, write a report."""
    config = dict(DEMO_CONFIG)
    config["seed"] = seed
    config["encoder"] = encoder
    config["env"] = {**DEMO_CONFIG["env"], "seed": seed, "view": {**DEMO_CONFIG["env"]["view"], "horizon": steps}}
    check_folder(out, f"--out {out}")
    cfg = ExperimentConfig.from_mapping(config)
    report, log, json_out = out / "report.html", out / "log.parquet", out / "readout.json"
    run_and_report(cfg, report=report, log=log, json_out=json_out, offline=True)
