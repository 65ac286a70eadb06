"""``abrec demo``: the main job on built-in data.

Until the full pipeline (text embeddings -> simulated A/B test -> off-policy evaluation -> report)
lands, the demo runs a real bandit simulation: every policy against the same logistic linear
contextual bandit with pre-drawn clicks, and prints reward, regret and speed.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from ..envs import make_linear_bandit, run_bandit
from ..policies import make_policy, registered_policies
from ._output import table

DEFAULT_POLICIES = "uniform,epsilon_greedy,softmax,ucb1,bernoulli_ts,gaussian_ts,linucb,lin_ts,logistic_ucb"


class _Progress:
    """Advance a progress bar to an absolute number of rounds done."""

    def __init__(self, bar: Any) -> None:
        self.bar, self.done = bar, 0

    def __call__(self, done: int) -> None:
        self.bar.update(done - self.done)
        self.done = done


def demo(
    rounds: Annotated[int, typer.Option(help="Rounds (users) to simulate.")] = 20_000,
    arms: Annotated[int, typer.Option(help="Number of items.")] = 50,
    dim: Annotated[int, typer.Option(help="Context dimension.")] = 32,
    batch: Annotated[int, typer.Option(help="Contexts decided per call (1 = fully online).")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the simulated world and of the policies.")] = 0,
    policies: Annotated[str, typer.Option(help="Comma-separated registered policy names.")] = DEFAULT_POLICIES,
) -> None:
    """Simulate a contextual bandit (clicks = sigmoid(4 x.theta - 3)) and compare policies."""
    names = [n.strip() for n in policies.split(",") if n.strip()]
    known = registered_policies()
    for name in names:
        if name not in known:
            make_policy(name)  # raises UnknownNameError with a did-you-mean hint
    bandit = make_linear_bandit(arms=arms, dim=dim, rounds=rounds, seed=seed)
    typer.echo(
        f"Simulating {rounds:,} users, {arms} items, {dim}-d contexts; clicks ~ sigmoid(4 x.theta - 3); "
        f"batches of {batch}.",
        err=True,
    )
    rows: list[tuple[str, int, int, int, float, int]] = []
    for name in names:
        if known[name].uses_item_features:
            typer.echo(f"  {name}: skipped (reads item features; this world has none)", err=True)
            continue
        policy = make_policy(name, seed=seed)
        with typer.progressbar(length=rounds, label=f"  {name:<16}", file=sys.stderr) as bar:
            run = run_bandit(policy, bandit, batch=batch, progress=_Progress(bar))
        rows.append((name, run.reward, run.oracle_reward, run.regret, run.reward / run.rounds, round(run.rounds_per_s)))
    rows.sort(key=lambda r: -r[1])
    typer.echo(table(["policy", "clicks", "oracle", "regret", "CTR", "rounds/s"], rows))
    best = rows[0]
    typer.echo(f"\nBest: {best[0]} with {best[1]:,} clicks ({best[1] / best[2]:.1%} of the oracle's).")
