"""The conclusion in words that opens every report: one sentence per situation, the key interval in it."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest

from abrec._interval import ConfidenceInterval
from abrec.abtest.readout import Readout, VariantReadout
from abrec.abtest.srm import SRMResult
from abrec.ope import LoggedFeedback, ReplayResult, evaluate_policies
from abrec.policies import BernoulliThompson, UniformRandom
from abrec.report.conclusion import Conclusion, evaluation_conclusion, readout_conclusion
from abrec.report.evaluation import evaluation_report

CI = ConfidenceInterval
FINE = SRMResult(1.0, 0.6, 2, (100, 100, 100), (100.0, 100.0, 100.0))
BROKEN = SRMResult(40.0, 2e-9, 2, (100, 160, 100), (120.0, 120.0, 120.0))


def control(name: str = "random", mean: float = 0.5) -> VariantReadout:
    return VariantReadout(name, 1000, mean, CI(mean - 0.03, mean + 0.03, 0.95))


def treatment(
    name: str,
    relative: float,
    relative_ci: tuple[float, float],
    *,
    significant: bool,
    sequential: tuple[float, float] = (0.1, 0.6),
    base: float = 0.5,
) -> VariantReadout:
    effect = relative * base if math.isfinite(relative) else 0.2
    return VariantReadout(
        name,
        1000,
        base + effect,
        CI(base + effect - 0.03, base + effect + 0.03, 0.95),
        effect=effect,
        effect_ci=CI(effect - 0.1, effect + 0.1, 0.95),
        relative=relative,
        relative_ci=CI(*relative_ci, 0.95),
        p_value=0.001 if significant else 0.4,
        p_adjusted=0.002 if significant else 0.8,
        significant=significant,
        sequential_ci=CI(*sequential, 0.95),
        chance_to_win=0.99 if significant else 0.6,
    )


def readout(*variants: VariantReadout, srm: SRMResult = FINE, correction: str = "holm") -> Readout:
    return Readout(variants[0].variant, "clicks per user", "welch-t", 0.05, correction, variants, srm, 3000.0)


HYBRID = treatment("hybrid LinUCB", 0.031, (-0.08, 0.14), significant=False)


def test_a_winner_leads_with_its_relative_lift_and_always_valid_interval() -> None:
    winner = treatment("text-prior TS", 0.757, (0.46, 1.05), significant=True, sequential=(0.21, 0.55))
    found = readout_conclusion(readout(control(), winner, HYBRID))
    assert found == Conclusion(
        "text-prior TS leads: +75.7% clicks per user over random, 95% CI [+46.0%, +105%] (difference +0.379, "
        "always-valid 95% CI [+0.21, +0.55]); hybrid LinUCB is not distinguishable from random."
    )


def test_no_winner_says_so_with_the_largest_lift_and_the_correction() -> None:
    other = treatment("ucb", -0.02, (-0.12, 0.09), significant=False)
    text = readout_conclusion(readout(control(), HYBRID, other)).text
    assert text == (
        "No variant is distinguishable from random on clicks per user at 95% (Holm correction across 2 "
        "treatments); the largest lift, for hybrid LinUCB, is +3.10%, 95% CI [\u22128.00%, +14.0%]."
    )
    single = readout_conclusion(readout(control(), HYBRID, correction="none")).text
    assert "at 95% (one treatment)" in single


def test_several_significant_name_the_leader_first_and_the_others_after() -> None:
    a = treatment("a", 0.2, (0.05, 0.35), significant=True)
    b = treatment("b", 0.4, (0.2, 0.6), significant=True)
    c = treatment("c", 0.1, (0.01, 0.2), significant=True)
    text = readout_conclusion(readout(control(), a, b, c)).text
    assert text.startswith("b leads: +40.0% clicks per user over random")
    assert "; a and c also beat random (a +20.0%, 95% CI [+5.00%, +35.0%]; c +10.0%," in text
    assert "compared with random only" in text
    two = readout_conclusion(readout(control(), a, b)).text
    assert "; a also beats random (+20.0%, 95% CI [+5.00%, +35.0%]), compared with random only." in two


def test_a_significant_loss_is_called_worse() -> None:
    loser = treatment("greedy", -0.3, (-0.45, -0.15), significant=True, sequential=(-0.3, -0.05))
    text = readout_conclusion(readout(control(), loser, HYBRID)).text
    assert text.startswith("greedy is worse than random (\u221230.0%, 95% CI [\u221245.0%, \u221215.0%])")
    assert text.endswith("hybrid LinUCB is not distinguishable from random.")


def test_a_sample_ratio_mismatch_leads_as_a_warning() -> None:
    winner = treatment("ts", 0.3, (0.1, 0.5), significant=True)
    found = readout_conclusion(readout(control(), winner, srm=BROKEN))
    assert found.warning
    assert found.text.startswith("Results untrustworthy: the sample ratio check failed (p = 2e-09)")
    assert "As measured, ts leads: +30.0%" in found.text
    html = _render(found)
    assert 'class="conclusion warning"' in html


def test_an_undefined_relative_lift_falls_back_to_the_difference() -> None:
    zero = treatment("ts", math.nan, (math.nan, math.nan), significant=True, base=0.0)
    text = readout_conclusion(readout(control(mean=0.0), zero)).text
    assert text.startswith(
        "ts leads: +0.2 clicks per user over random (no relative lift: the control's mean is 0), 95% CI [+0.1, +0.3]"
    )


def test_an_always_valid_interval_through_zero_is_pointed_out() -> None:
    early = treatment("ts", 0.3, (0.1, 0.5), significant=True, sequential=(-0.02, 0.4))
    text = readout_conclusion(readout(control(), early)).text
    assert "which still includes zero: not yet conclusive if the results were watched as they came in" in text


def test_many_variants_are_counted_not_all_named() -> None:
    flat = [treatment(f"v{i}", 0.01, (-0.1, 0.12), significant=False) for i in range(7)]
    winner = treatment("w", 0.5, (0.2, 0.8), significant=True)
    text = readout_conclusion(readout(control(), winner, *flat)).text
    assert "v0, v1, v2, v3 and 3 others are not distinguishable from random." in text


def test_only_a_control() -> None:
    assert readout_conclusion(readout(control())).text == "Only random has units, so there is nothing to compare."


def _render(c: Conclusion) -> str:
    from abrec.report import Report

    r = Report("t")
    r.conclusion(c.text, warning=c.warning)
    return r.render()


@pytest.fixture(scope="module")
def evaluation() -> object:
    rng = np.random.default_rng(3)
    n = 4000
    action = rng.integers(0, 4, n)
    reward = (rng.random(n) < np.array([0.05, 0.1, 0.1, 0.4])[action]).astype(float)
    log = LoggedFeedback.from_arrays(action=action, reward=reward, propensity=0.25, n_actions=4)
    dists = {"best": np.array([[0.0], [0.0], [0.0], [1.0]]), "worst": np.array([[1.0], [0.0], [0.0], [0.0]])}
    policies = {"uniform": UniformRandom(), "thompson": BernoulliThompson()}
    return evaluate_policies(log, policies, dists=dists, n_bootstrap=50, seed=1)


def test_evaluation_conclusion_compares_every_policy_with_the_logging_policy(evaluation: object) -> None:
    ev = evaluation
    text = evaluation_conclusion(ev).text  # type: ignore[arg-type]
    assert re.match(
        r"Against the logging policy's 0\.168 per logged action \(95% CI \[0\.157, 0\.18\]\), best 0\.398 \(\+137%, "
        r"95% CI \[0\.368, 0\.428\], by \w+\) would do best; uniform 0\.17\d \(.*\); thompson .* are not "
        r"distinguishable from it; worst 0\.06\d+ \(\u221261\.\d%, .*\) would do worse\. "
        r"Learning included \(replay\): thompson 0\.3\d+ \(95% CI \[.*\]\) over \d+ accepted of 4,000 rows\.$",
        text,
    ), text


def test_a_replay_that_accepted_nothing_is_no_estimate(evaluation: object) -> None:
    ev = evaluation
    empty = ReplayResult.from_rewards(np.zeros(0), np.zeros(0, dtype=np.int64), n_rows=4000, policy="thompson")
    policies = tuple(dataclasses.replace(p, replay=empty) if p.replay else p for p in ev.policies)  # type: ignore[attr-defined]
    broken = dataclasses.replace(ev, policies=policies)  # type: ignore[type-var]
    text = evaluation_conclusion(broken).text
    assert "thompson: no estimate (none of the 4,000 rows was accepted)" in text
    html = evaluation_report(broken).render()
    assert "Replay learning: no estimate" in html and ">no estimate</td>" in html
    assert "nan" not in html.lower().replace("n/a", "")


def test_a_replay_with_few_clicks_gets_an_honest_interval(evaluation: object) -> None:
    ev = evaluation
    two = ReplayResult.from_rewards(np.r_[np.ones(2), np.zeros(135)], np.arange(137), n_rows=4000, policy="thompson")
    low, high = two.ci
    assert two.binary and low > 0 and high > 0.04  # Wilson: not value -/+ 1.96 SE = [-0.005, 0.034]
    policies = tuple(dataclasses.replace(p, replay=two) if p.replay else p for p in ev.policies)  # type: ignore[attr-defined]
    html = evaluation_report(dataclasses.replace(ev, policies=policies)).render()  # type: ignore[type-var]
    assert f"0.0146 [{low:.4g}, {high:.4g}] (95% CI, Wilson score interval, rewards 0/1) over 137" in html
