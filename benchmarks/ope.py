"""Workload W2: off-policy evaluation of ZOZOTOWN's Bernoulli TS from the Open Bandit Dataset's random logs.

Ground truth = the mean click of the ``bts`` log of the same campaign (packaged sample, 10,000 rows each).
Lines (``"part"``):

- ``obp_reference``: per campaign, abrec's IPW and SNIPW on OBP's own action distributions
  (``shared/data/obd/bts_action_dist_{campaign}.npy``) next to OBP's values, with the absolute differences;
- ``end_to_end``: per campaign, seconds for: load the random log, a 100,000-draw BTS action distribution,
  the cross-fitted reward model (with its influence terms), every estimator with 200-resample bootstrap
  intervals, the selection (median of 5 warm runs, each from cleared caches; the first, cold run of
  the process reported apart). No speed ratio here: OBP runs side by side only with ``--peers``
  (``ope_peers.py``), and only that run's numbers are divided;
- ``estimates``: campaign all, abrec's estimates next to OBP's;
- ``resamples``: the 30-resample protocol of ``shared/data/obd/README.md`` (rows drawn with
  ``np.random.RandomState(b)``, reward model refitted with seed b, BTS distribution of 1,000,000 draws
  computed once): mean and sd of relative errors per estimator and for the selected one (``slope``, the
  default, and ``mse``, both given the fitted reward model; ``slope_fixed_model`` given only its
  predictions, which holds the model fixed in the bootstrap), how often each was selected, next to
  OBP's figures; and the direct method's standard error (with the model's influence, and with the
  model fixed) next to its actual spread over the 30 resamples.

OBP's estimates and relative errors quoted here (``OBP_ESTIMATES``, ``OBP_RELATIVE_ERRORS``) are the
figures of ``shared/data/obd``: accuracy, not speed. OBP's speed is only measured, never quoted.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np

import w1
from abrec.data.obd import CAMPAIGNS, load_obd
from abrec.ope import (
    LoggedFeedback,
    base,
    bts,
    cross_fit_rewards,
    make_estimator,
    registered_estimators,
    select_estimator,
    zozotown_bts_action_distribution,
    zozotown_bts_policy,
)
from abrec.ope.evaluation import evaluate_policies

OBP_ESTIMATES = {"ipw": 0.004553, "snipw": 0.004776, "dr": 0.004817, "dm": 0.003516}
OBP_RELATIVE_ERRORS = {
    "dm": (0.157, 0.110),
    "dros": (0.160, 0.110),
    "switch_dr": (0.261, 0.161),
    "dr": (0.293, 0.315),
    "sndr": (0.303, 0.329),
    "ipw": (0.312, 0.311),
    "snipw": (0.312, 0.335),
}
N_RESAMPLES = 30


def _log(msg: str) -> None:
    print(f"[ope] {msg}", file=sys.stderr, flush=True)


def _truth(campaign: str) -> float:
    return float(load_obd(campaign=campaign, policy="bts").log.frame["reward"].mean())


def obp_reference() -> Iterator[dict[str, Any]]:
    folder = w1.shared_dir() / "data" / "obd"
    ref_path = folder / "bts_action_dist_obp_reference.json"
    if not ref_path.is_file():
        raise w1.MissingDataError(f"W2 reference file not found: {ref_path} (set ABREC_SHARED).")
    reference = json.loads(ref_path.read_text())
    for campaign in CAMPAIGNS:
        dist = np.load(folder / f"bts_action_dist_{campaign}.npy")
        fb = LoggedFeedback.from_obd(load_obd(campaign=campaign, policy="random"), context=False)
        ours = {name: make_estimator(name, n_bootstrap=0).value(fb, dist) for name in ("ipw", "snipw")}
        ref = reference[campaign]
        diff = {name: abs(ours[name] - ref[name]) for name in ours}
        yield {
            "workload": "ope",
            "part": "obp_reference",
            "campaign": campaign,
            "abrec_ipw": ours["ipw"],
            "obp_ipw": ref["ipw"],
            "abs_diff_ipw": diff["ipw"],
            "abrec_snipw": ours["snipw"],
            "obp_snipw": ref["snipw"],
            "abs_diff_snipw": diff["snipw"],
            "within_1e-9": max(diff.values()) < 1e-9,
        }


def _end_to_end(campaign: str) -> tuple[float, Any]:
    base._cached_counts.cache_clear()  # every run draws its own bootstrap resamples ...
    bts._prior_file.cache_clear()  # ... and reads the BTS prior
    start = time.perf_counter()
    fb = LoggedFeedback.from_obd(load_obd(campaign=campaign, policy="random"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = evaluate_policies(
            fb, {"zozotown_bts": zozotown_bts_policy(campaign)}, n_bootstrap=200, n_draws=100_000, replay_learning=False
        )
    return time.perf_counter() - start, ev


def end_to_end() -> Iterator[dict[str, Any]]:
    cold, _ = _end_to_end("all")  # the first run of the process: numba kernels, scikit-learn, lazy imports
    for campaign in CAMPAIGNS:
        runs = [_end_to_end(campaign) for _ in range(5)]
        seconds = statistics.median(s for s, _ in runs)
        ev = runs[0][1]
        p = ev.policies[0]
        _log(f"end to end {campaign}: {seconds:.2f} s")
        yield {
            "workload": "ope",
            "part": "end_to_end",
            "campaign": campaign,
            "seconds": round(seconds, 3),
            "seconds_runs": [round(s, 3) for s, _ in runs],
            "cold_seconds_first_run": round(cold, 3) if campaign == "all" else None,
            "chosen": p.selection.chosen if p.selection else None,
            "estimates": {r.estimator: r.value for r in p.estimates},
            "truth": _truth(campaign),
        }
        if campaign == "all":
            yield {
                "workload": "ope",
                "part": "estimates",
                "campaign": "all",
                "n_draws": 100_000,
                "abrec": {r.estimator: r.value for r in p.estimates},
                "abrec_ci": {r.estimator: [r.ci_low, r.ci_high] for r in p.estimates},
                "obp": OBP_ESTIMATES,
                "truth": _truth("all"),
                "chosen": p.selection.chosen if p.selection else None,
                "reason": p.selection.reason if p.selection else None,
            }


def resamples() -> Iterator[dict[str, Any]]:
    truth = _truth("all")
    fb = LoggedFeedback.from_obd(load_obd(campaign="all", policy="random"))
    start = time.perf_counter()
    dist = zozotown_bts_action_distribution("all", n_draws=1_000_000, seed=0)  # one table for every row
    _log(f"1,000,000-draw BTS distribution: {time.perf_counter() - start:.1f} s")
    names = [n for n in registered_estimators() if n != "replay"] + ["replay"]
    methods = ("slope", "mse", "slope_fixed_model")
    errors: dict[str, list[float]] = {n: [] for n in [*names, *(f"selected_{m}" for m in methods)]}
    picks: dict[str, Counter[str]] = {m: Counter() for m in methods}
    dm_values, dm_se, dm_se_fixed = [], [], []
    n = fb.n_rows
    start = time.perf_counter()
    for b in range(N_RESAMPLES):
        rows = np.random.RandomState(b).choice(n, n, replace=True)
        sample = fb.take(rows)
        fitted = cross_fit_rewards(sample, seed=b)
        q = fitted.values
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name in names:
                value = make_estimator(name, n_bootstrap=0).value(sample, dist, q)
                errors[name].append(abs(value - truth) / truth)
            dm = make_estimator("dm", n_bootstrap=0)
            dm_values.append(dm.value(sample, dist, q))
            dm_se.append(dm.estimate(sample, dist, fitted).standard_error)
            dm_se_fixed.append(dm.estimate(sample, dist, q).standard_error)
            for method in methods:
                rewards = q if method.endswith("_fixed_model") else fitted
                choice = select_estimator(sample, dist, rewards, method=method.split("_")[0], seed=b)
                picks[method][choice.chosen] += 1
                errors[f"selected_{method}"].append(abs(choice.result.value - truth) / truth)
        _log(f"resample {b + 1}/{N_RESAMPLES}")
    seconds = time.perf_counter() - start
    summary = {
        name: {"mean": round(float(np.mean(v)), 4), "sd": round(float(np.std(v, ddof=1)), 4)}
        for name, v in errors.items()
    }
    yield {
        "workload": "ope",
        "part": "resamples",
        "campaign": "all",
        "n_resamples": N_RESAMPLES,
        "truth": truth,
        "relative_error": summary,
        "obp_relative_error": {k: {"mean": m, "sd": s} for k, (m, s) in OBP_RELATIVE_ERRORS.items()},
        "selected_counts": {m: dict(c.most_common()) for m, c in picks.items()},
        "target_selected_mean": 0.15,
        "meets_target": {m: summary[f"selected_{m}"]["mean"] <= 0.15 for m in methods},
        "dm_standard_error": {
            "spread_over_resamples": float(np.std(dm_values, ddof=1)),
            "with_model_influence_rms": float(np.sqrt(np.mean(np.square(dm_se)))),
            "model_held_fixed_rms": float(np.sqrt(np.mean(np.square(dm_se_fixed)))),
        },
        "seconds": round(seconds, 1),
    }


def run(options: w1.Options) -> Iterator[dict[str, Any]]:
    """W2 (``options`` are not used: the workload is fixed by the protocol)."""
    yield from obp_reference()
    yield from end_to_end()
    yield from resamples()
