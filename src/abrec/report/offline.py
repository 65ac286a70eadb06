"""The offline-vs-online section of a simulation report: each variant's replay estimate next to what it earned.

The replay (Li et al. 2011) of a variant's policy on the uniformly random control's logs estimates the clicks
per shown item of that policy *started fresh and learning only from the accepted positions*; online the same
variant learned from all of its own traffic. The two differ for a policy that learns, and
:func:`offline_explanation` says so in one sentence per variant, flagging an online value outside the offline
interval and showing a replay that accepted nothing as "no estimate" (never as 0 [0, 0]).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .._interval import ConfidenceInterval
from ..experiments.offline import OfflineEstimate
from ..experiments.simulation import SimulationResult
from .html import Report
from .svg import interval_chart

__all__ = ["offline_explanation", "offline_section"]

_PAIR = re.compile(r"^\[\s*([^,\]]+)\s*,\s*([^\]]+)\]$")


def _as_estimate(row: OfflineEstimate | Mapping[str, Any]) -> OfflineEstimate:
    """An :class:`OfflineEstimate`, from itself or from its :meth:`~OfflineEstimate.as_row` dict."""
    if isinstance(row, OfflineEstimate):
        return row
    online_ci = ConfidenceInterval.undefined(0.95)
    match = _PAIR.match(str(row.get("online CI", "")))
    if match:
        low, high = (float(v) for v in match.groups())
        if low <= high:
            online_ci = ConfidenceInterval(low, high, 0.95)
    accepted = row.get("accepted positions", row.get("accepted", 0))
    return OfflineEstimate(
        variant=str(row["variant"]),
        policy=str(row.get("policy", "")),
        estimate=float(row["estimate"]),
        ci=ConfidenceInterval(float(row["ci_low"]), float(row["ci_high"]), 0.95),
        accepted=int(accepted),
        online=float(row["online"]),
        online_ci=online_ci,
    )


def _has_estimate(e: OfflineEstimate) -> bool:
    return e.accepted > 0 and math.isfinite(e.estimate)


def _where(e: OfflineEstimate) -> str:
    """'inside', 'above' or 'below': the online value against the offline interval ('' when either is missing)."""
    low, high = e.ci
    if not (_has_estimate(e) and math.isfinite(e.online) and math.isfinite(low) and math.isfinite(high)):
        return ""
    return "above" if e.online > high else "below" if e.online < low else "inside"


def offline_explanation(e: OfflineEstimate, *, learns: bool, logged_positions: int, online_items: int) -> str:
    """One sentence (or two) that says what the replay estimated for ``e`` and why it may differ from online.

    ``learns``: whether the variant's policy learns from feedback; ``logged_positions``: the shown positions
    in the logs that were replayed (the control's); ``online_items``: the items the variant showed online.

    Examples
    --------
    >>> from abrec._interval import ConfidenceInterval as CI
    >>> e = OfflineEstimate("ts", "bernoulli_ts", 0.019, CI(0.004, 0.035, 0.95), 137, 0.055, CI(0.05, 0.06, 0.95))
    >>> print(offline_explanation(e, learns=True, logged_positions=6000, online_items=20000))
    ... # doctest: +NORMALIZE_WHITESPACE
    ts: the replay accepted 137 of the control's 6,000 shown positions (2.3%) and estimates 0.019 clicks per
    shown item, 95% CI [0.004, 0.035], for bernoulli_ts started fresh and learning only from those 137
    positions; online, ts earned 0.055 from 20,000 shown items, learning from all of them. Online lies above
    the offline interval: expected for a policy that learns, as it learned from 146 times as much feedback
    online, so the replay measures an earlier, less trained policy.
    """
    level = f"{e.ci.level:.0%}"
    online = f"{e.online:.3g}" if math.isfinite(e.online) else "n/a"
    if not _has_estimate(e):
        return (
            f"{e.variant}: no estimate: the replay accepted none of the control's {logged_positions:,} shown "
            f"positions ({e.policy} never put the logged item where the log had it), so nothing offline compares "
            f"with the {online} clicks per shown item it earned online."
        )
    low, high = e.ci
    share = f" ({e.accepted / logged_positions:.1%})" if logged_positions else ""
    text = (
        f"{e.variant}: the replay accepted {e.accepted:,} of the control's {logged_positions:,} shown positions"
        f"{share} and estimates {e.estimate:.3g} clicks per shown item, {level} CI [{low:.3g}, {high:.3g}], for "
        + (
            f"{e.policy} started fresh and learning only from those {e.accepted:,} positions; online, {e.variant} "
            f"earned {online} from {online_items:,} shown items, learning from all of them."
            if learns
            else f"{e.policy}, which does not learn; online, {e.variant} earned {online} from {online_items:,} "
            "shown items."
        )
    )
    where = _where(e)
    if where == "inside":
        wide = f", though the interval is wide: only {e.accepted:,} positions were accepted" if e.accepted < 100 else ""
        return text + f" Online lies inside the offline interval: no disagreement{wide}."
    if where == "above" and learns:
        ratio = online_items / e.accepted
        return text + (
            f" Online lies above the offline interval: expected for a policy that learns, as it learned from "
            f"{ratio:,.0f} times as much feedback online, so the replay measures an earlier, less trained policy."
            if ratio >= 1.5
            else " Online lies above the offline interval, though the replay saw about as much feedback: "
            f"a {level} interval misses about 1 time in {round(1 / (1 - e.ci.level))}."
        )
    if where:
        cause = (
            f"{e.policy} does not learn, so both measure the same thing"
            if not learns
            else "learning from less feedback offline does not explain this"
        )
        return text + (
            f" Online lies {where} the offline interval; {cause}: a {level} interval misses about 1 time in "
            f"{round(1 / (1 - e.ci.level))}, else look for a difference between the replayed and the online policy."
        )
    return text


def offline_section(
    report: Report,
    result: SimulationResult,
    offline: Sequence[OfflineEstimate | Mapping[str, Any]],
    note: str = "",
) -> None:
    """Add the section: what the replay estimates, a table and a chart with the online values, one sentence each."""
    estimates = [_as_estimate(row) for row in offline]
    if not estimates:
        return
    control = result.config.control
    shown = result.log.frame["variant"].value_counts()
    logged = int(shown.get(control, 0))
    report.heading("Offline replay on the control's logs vs online")
    report.paragraph(
        note
        or (
            "Each variant's policy, started fresh, is replayed on the uniformly random control's logs (Li et al. "
            "2011, position-wise: a shown position counts when the policy would have put the same item there, and "
            "the policy learns only from those positions)."
        )
    )
    level = f"{estimates[0].ci.level:.0%}"
    rows = []
    for e in estimates:
        found = _has_estimate(e)
        rows.append(
            [
                e.variant,
                e.policy,
                e.estimate if found else "no estimate",
                f"[{e.ci_low:.4g}, {e.ci_high:.4g}]" if found else "",
                e.accepted,
                e.online,
                f"[{e.online_ci_low:.4g}, {e.online_ci_high:.4g}]" if math.isfinite(e.online_ci_low) else "",
                {"inside": "yes", "above": "no (above)", "below": "no (below)", "": ""}[_where(e)],
            ]
        )
    report.table(
        rows,
        [
            "variant",
            "policy",
            "offline",
            f"offline {level} CI",
            "accepted positions",
            "online",
            "online 95% CI",
            "online inside offline CI",
        ],
    )
    report.figure(
        interval_chart(
            [e.variant for e in estimates],
            [e.estimate if _has_estimate(e) else math.nan for e in estimates],
            [e.ci_low if _has_estimate(e) else math.nan for e in estimates],
            [e.ci_high if _has_estimate(e) else math.nan for e in estimates],
            reference=None,
            markers=[e.online for e in estimates],
            marker_label="online",
            x_label="clicks per shown item",
            title=f"Offline replay estimate ({level} CI) and online value per variant",
        ),
        caption="Dots and lines: the replay's estimate and interval; diamonds: what each variant earned online.",
    )
    for e in estimates:
        learns = bool(result.policies[e.variant].learns) if e.variant in result.policies else True
        text = offline_explanation(e, learns=learns, logged_positions=logged, online_items=int(shown.get(e.variant, 0)))
        where = _where(e)
        if where == "below" or (where == "above" and not learns):
            report.note(text, kind="warning")
        elif where == "above" or not _has_estimate(e):
            report.note(text, kind="info")
        else:
            report.paragraph(text)
