"""One system on W2 end to end, in its own process: ``python benchmarks/ope_worker.py --system abrec|obp``.

Run by ``ope_peers.py`` with abrec's interpreter or the one of OBP's virtual environment. The same task on
the same files (``shared/data/obd``), for one campaign: load the ``random`` log, compute the Bernoulli TS
action distribution with the ZOZOTOWN prior from 100,000 draws, cross-fit a logistic reward model (3 folds,
one model per position), run every estimator with 200-resample bootstrap intervals.

- ``abrec``: ``ope._end_to_end`` (``abrec.ope.evaluate_policies``: IPW, SNIPW, DM, DR, SNDR, Switch-DR and
  DRos tuned on OBP's grid, replay; plus the selection of one estimator);
- ``obp``: OBP 0.5.7's ``OpenBanditDataset``, ``BernoulliTS(is_zozotown_prior=True)
  .compute_batch_action_dist(n_sim=100_000)``, ``RegressionModel(LogisticRegression)``, and
  ``OffPolicyEvaluation.summarize_off_policy_estimates`` with IPW, SNIPW, DM, DR, SNDR and the tuned
  Switch-DR and DRos on the same grid (OBP has no replay and no selection).

The first run of the process (imports, compiled kernels) is reported apart as ``cold_seconds``; then
``--runs`` warm runs: median wall seconds and median CPU seconds (``resource.getrusage`` of this process,
every thread included). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import resource
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

N_DRAWS = 100_000
N_BOOTSTRAP = 200
OBP_GRID = (10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, math.inf)  # abrec.ope._tuning.OBP_GRID
PACKAGES = {"abrec": ("abrec", "numpy", "scikit-learn", "numba"), "obp": ("obp", "numpy", "scikit-learn", "torch")}

Task = Callable[[str], dict[str, float]]  # campaign -> estimates


def _cpu() -> float:
    return sum(
        ru.ru_utime + ru.ru_stime
        for ru in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


def _abrec(data_dir: Path) -> Task:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import ope  # benchmarks/ope.py: the end-to-end run of `make bench BENCH=ope`

    def task(campaign: str) -> dict[str, float]:
        _, ev = ope._end_to_end(campaign)
        return {r.estimator: float(r.value) for r in ev.policies[0].estimates}

    return task


def _obp(data_dir: Path) -> Task:
    from obp.dataset import OpenBanditDataset
    from obp.ope import (
        DirectMethod,
        DoublyRobust,
        DoublyRobustWithShrinkageTuning,
        InverseProbabilityWeighting,
        OffPolicyEvaluation,
        RegressionModel,
        SelfNormalizedDoublyRobust,
        SelfNormalizedInverseProbabilityWeighting,
        SwitchDoublyRobustTuning,
    )
    from obp.policy import BernoulliTS
    from sklearn.linear_model import LogisticRegression

    grid = [g if math.isfinite(g) else float("inf") for g in OBP_GRID]

    def task(campaign: str) -> dict[str, float]:
        ds = OpenBanditDataset(behavior_policy="random", campaign=campaign, data_path=data_dir)
        bf = ds.obtain_batch_bandit_feedback()
        policy = BernoulliTS(
            n_actions=ds.n_actions, len_list=ds.len_list, is_zozotown_prior=True, campaign=campaign, random_state=0
        )
        dist = policy.compute_batch_action_dist(n_rounds=bf["n_rounds"], n_sim=N_DRAWS)
        model = RegressionModel(
            n_actions=ds.n_actions,
            len_list=ds.len_list,
            action_context=ds.action_context,
            base_model=LogisticRegression(C=1.0, max_iter=1000, random_state=0),
        )
        q = model.fit_predict(
            context=bf["context"],
            action=bf["action"],
            reward=bf["reward"],
            position=bf["position"],
            pscore=bf["pscore"],
            n_folds=3,
            random_state=0,
        )
        evaluation = OffPolicyEvaluation(
            bandit_feedback=bf,
            ope_estimators=[
                InverseProbabilityWeighting(),
                SelfNormalizedInverseProbabilityWeighting(),
                DirectMethod(),
                DoublyRobust(),
                SelfNormalizedDoublyRobust(),
                SwitchDoublyRobustTuning(lambdas=grid, estimator_name="switch_dr"),
                DoublyRobustWithShrinkageTuning(lambdas=grid, estimator_name="dros"),
            ],
        )
        table, _ = evaluation.summarize_off_policy_estimates(
            action_dist=dist, estimated_rewards_by_reg_model=q, n_bootstrap_samples=N_BOOTSTRAP, random_state=0
        )
        names = {"ipw": "ipw", "snipw": "snipw", "dm": "dm", "dr": "dr", "sndr": "sndr"}
        return {names.get(str(k), str(k)): float(v) for k, v in table["estimated_policy_value"].items()}

    return task


def _versions(system: str) -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for pkg in PACKAGES[system]:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def _threadpools() -> list[dict[str, Any]]:
    from threadpoolctl import threadpool_info

    return [{"api": p.get("internal_api"), "num_threads": p.get("num_threads")} for p in threadpool_info()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--system", choices=("abrec", "obp"), required=True)
    ap.add_argument("--data", required=True, help="the folder shared/data/obd")
    ap.add_argument("--campaign", default="all")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", choices=("1", "default"), default="default")
    args = ap.parse_args(argv)
    data_dir = Path(args.data)
    task = {"abrec": _abrec, "obp": _obp}[args.system](data_dir)
    limiter = None
    if args.threads == "1":
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        estimates = task(args.campaign)
        cold = time.perf_counter() - start
        walls, cpus = [], []
        for _ in range(args.runs):
            start_cpu, start = _cpu(), time.perf_counter()
            estimates = task(args.campaign)
            walls.append(time.perf_counter() - start)
            cpus.append(_cpu() - start_cpu)
    line = {
        "workload": "ope",
        "system": args.system,
        "campaign": args.campaign,
        "threads": args.threads,
        "n_draws": N_DRAWS,
        "n_bootstrap": N_BOOTSTRAP,
        "cold_seconds": round(cold, 3),
        "seconds": round(statistics.median(walls), 3),
        "seconds_runs": [round(s, 3) for s in walls],
        "cpu_seconds": round(statistics.median(cpus), 3),
        "estimates": estimates,
        "threadpools": _threadpools(),
        "cpu_count": os.cpu_count(),
        "versions": _versions(args.system),
    }
    del limiter
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
