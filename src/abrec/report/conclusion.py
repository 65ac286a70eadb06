"""The conclusion in words that opens every report: what was found, with its key interval, in one paragraph.

Pure functions of a result: :func:`readout_conclusion` reads an A/B test's
:class:`~abrec.abtest.readout.Readout`, :func:`evaluation_conclusion` an off-policy
:class:`~abrec.ope.Evaluation`. A variant "leads" or "beats" the control only when it is significant after
the readout's multiple-testing correction; the sentence quotes its relative lift with the fixed-horizon
interval and the absolute difference with the always-valid interval. A failed sample ratio check comes
first, as a warning, because it makes every comparison untrustworthy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..abtest.readout import Readout, VariantReadout
    from ..ope.evaluation import Evaluation, PolicyEvaluation

__all__ = ["Conclusion", "evaluation_conclusion", "readout_conclusion"]

_CORRECTION = {"holm": "Holm", "bh": "Benjamini-Hochberg"}
_MINUS = "\u2212"
_LISTED = 4  # at most this many variants are named in one clause; the rest are counted


@dataclass(frozen=True, slots=True)
class Conclusion:
    """A report's opening paragraph.

    Attributes
    ----------
    text : str
        One paragraph of plain text.
    warning : bool
        True when the results cannot be trusted as they stand (the text then opens with why).
    """

    text: str
    warning: bool = False


def _signed(text: str) -> str:
    return _MINUS + text[1:] if text.startswith("-") else text


def _pct(x: float) -> str:
    """A fraction as a signed percentage with 3 significant digits (at most 2 decimals): +75.7%, +105%, -0.05%."""
    if not math.isfinite(x):
        return "n/a"
    v = 100.0 * x
    digits = 1 if v == 0 else min(2, max(0, 2 - math.floor(math.log10(abs(v)))))
    return _signed(f"{v:+.{digits}f}%")


def _num(x: float, sign: bool = True) -> str:
    return "n/a" if not math.isfinite(x) else _signed(f"{x:+.3g}" if sign else f"{x:.3g}")


def _interval(low: float, high: float, fmt: str = "num") -> str:
    """``[low, high]``: ``fmt`` 'pct' (signed percent), 'num' (signed number) or 'abs' (unsigned number)."""
    if fmt == "pct":
        return f"[{_pct(low)}, {_pct(high)}]"
    return f"[{_num(low, sign=fmt == 'num')}, {_num(high, sign=fmt == 'num')}]"


def _names(names: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c', 'a, b, c, d and 3 others'."""
    shown = list(names[:_LISTED])
    rest = len(names) - len(shown)
    if rest:
        shown.append(f"{rest} other{'s' if rest > 1 else ''}")
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def _lift(v: VariantReadout, readout: Readout, *, full: bool) -> str:
    """The lift of ``v`` over the control in words with its interval; ``full``: naming the metric and the control,
    and adding the absolute difference with its always-valid interval."""
    level = f"{1 - readout.alpha:.0%}"
    over = f" {readout.metric} over {readout.control}" if full else ""
    if math.isfinite(v.relative) and all(math.isfinite(b) for b in v.relative_ci):
        head = f"{_pct(v.relative)}{over}, {level} CI {_interval(v.relative_ci.low, v.relative_ci.high, 'pct')}"
    else:
        base = next((c.mean for c in readout.variants if c.variant == readout.control), math.nan)
        ci = _interval(v.effect_ci.low, v.effect_ci.high)
        why = f"no relative lift: the control's mean is {_num(base, sign=False)}"
        head = f"{_num(v.effect)}{over} ({why}), {level} CI {ci}"
    low, high = v.sequential_ci
    if not full or not (math.isfinite(low) or math.isfinite(high)):
        return head
    tail = f"difference {_num(v.effect)}, always-valid {level} CI {_interval(low, high)}"
    if low <= 0.0 <= high:
        tail += ", which still includes zero: not yet conclusive if the results were watched as they came in"
    return f"{head} ({tail})"


def _details(variants: Sequence[VariantReadout], readout: Readout) -> str:
    """The lift of one variant, or 'a +x%, CI; b +y%, CI' of several."""
    if len(variants) == 1:
        return _lift(variants[0], readout, full=False)
    return "; ".join(f"{v.variant} {_lift(v, readout, full=False)}" for v in variants)


def readout_conclusion(readout: Readout) -> Conclusion:
    """The opening paragraph of an A/B test's report: who leads, by how much, and how sure that is.

    Examples
    --------
    >>> import numpy as np
    >>> from abrec.abtest.readout import analyze_log
    >>> from abrec.data import InteractionLog
    >>> rng = np.random.default_rng(0)
    >>> arm = np.array(["random", "ts"])[rng.integers(0, 2, 4000)]
    >>> click = (rng.random(4000) < np.where(arm == "ts", 0.15, 0.1)).astype(float)
    >>> log = InteractionLog.from_arrays(unit=np.arange(4000), item=0, timestamp=np.arange(4000), reward=click,
    ...                                  variant=arm)
    >>> print(readout_conclusion(analyze_log(log, control="random")).text)  # doctest: +NORMALIZE_WHITESPACE
    ts leads: +50.4% reward per unit (mean) over random, 95% CI [+25.9%, +74.9%] (difference +0.0532,
    always-valid 95% CI [+0.0208, +0.0855]).
    """
    control = readout.control
    treatments = [v for v in readout.variants if v.variant != control]
    sentences = []
    srm = readout.srm
    warning = bool(srm.mismatch())
    if warning:
        sentences.append(
            f"Results untrustworthy: the sample ratio check failed (p = {srm.p_value:.2g}), so units were not "
            "split as the allocation intended and every comparison below may be biased; find the cause before "
            "acting on them."
        )
    if not treatments:
        sentences.append(f"Only {control} has units, so there is nothing to compare.")
        return Conclusion(" ".join(sentences), warning)
    up = sorted((v for v in treatments if v.significant and v.effect > 0), key=lambda v: -v.effect)
    down = [v for v in treatments if v.significant and not v.effect > 0]
    flat = [v for v in treatments if not v.significant]
    clauses = []
    if up:
        clauses.append(f"{up[0].variant} leads: {_lift(up[0], readout, full=True)}")
        if len(up) > 1:
            also = _details(up[1:], readout)
            verb = "beats" if len(up) == 2 else "beat"
            others = _names([v.variant for v in up[1:]])
            clauses.append(f"{others} also {verb} {control} ({also}), compared with {control} only")
    if down:
        verb = "is" if len(down) == 1 else "are"
        worse = _details(down, readout)
        clauses.append(f"{_names([v.variant for v in down])} {verb} worse than {control} ({worse})")
    if flat and (up or down):
        verb = "is" if len(flat) == 1 else "are"
        clauses.append(f"{_names([v.variant for v in flat])} {verb} not distinguishable from {control}")
    elif flat:
        correction = _CORRECTION.get(readout.correction)
        how = f"{correction} correction across {len(treatments)} treatments" if correction else "no correction"
        if len(treatments) == 1:
            how = "one treatment"
        best = max(flat, key=lambda v: v.effect if math.isfinite(v.effect) else -math.inf)
        clauses.append(
            f"no variant is distinguishable from {control} on {readout.metric} at {1 - readout.alpha:.0%} ({how}); "
            f"the largest lift, for {best.variant}, is {_lift(best, readout, full=False)}"
        )
    text = "; ".join(clauses) + "."
    if warning:
        text = "As measured, " + text
    elif not (up or down):  # the paragraph opens with "no variant", not with a variant's name
        text = text[:1].upper() + text[1:]
    sentences.append(text)
    return Conclusion(" ".join(sentences), warning)


def _value(p: PolicyEvaluation) -> tuple[float, float, float, str] | None:
    """The chosen estimate of ``p``: (value, low, high, estimator), or None."""
    c = p.chosen
    if c is None or not math.isfinite(c.value):
        return None
    return c.value, c.ci_low, c.ci_high, c.estimator


def evaluation_conclusion(evaluation: Evaluation) -> Conclusion:
    """The opening paragraph of an off-policy evaluation's report: which policy would beat the logging policy.

    Each policy's chosen estimate is compared with the logging policy's on-policy value: "beat" means
    its whole interval lies above it, "worse" below, otherwise "not distinguishable". A replay of a
    learning policy is quoted with how many rows it accepted, and as "no estimate" when it accepted none.

    Examples
    --------
    >>> from abrec.ope import LoggedFeedback, evaluate_policies
    >>> from abrec.policies import UniformRandom
    >>> log = LoggedFeedback.from_arrays(action=[0, 1, 0, 1] * 50, reward=[1, 0, 0, 0] * 50, propensity=0.5)
    >>> ev = evaluate_policies(log, {"uniform": UniformRandom()}, n_bootstrap=20)
    >>> print(evaluation_conclusion(ev).text)  # doctest: +ELLIPSIS
    No policy would clearly beat the logging policy's 0.25 per logged action (95% CI [0.19, 0.31]): uniform ...
    """
    ev = evaluation
    level = f"{1 - ev.alpha:.0%}"
    base = ev.logging_value
    blo, bhi = ev.logging_ci()
    against = (
        f"the logging policy's {_num(base, sign=False)} per logged action ({level} CI {_interval(blo, bhi, 'abs')})"
    )
    found = {p.name: v for p in ev.policies if (v := _value(p)) is not None}

    def said(name: str) -> str:
        value, low, high, estimator = found[name]
        rel = f"{_pct(value / base - 1.0)}, " if base > 0 else ""
        return f"{name} {_num(value, sign=False)} ({rel}{level} CI {_interval(low, high, 'abs')}, by {estimator})"

    above = sorted((n for n, v in found.items() if v[1] > base), key=lambda n: -found[n][0])
    below = [n for n, v in found.items() if v[2] < base]
    level_with = [n for n in found if n not in above and n not in below]
    clauses = []
    if above:
        clauses.append(f"Against {against}, {said(above[0])} would do best")
        if len(above) > 1:
            clauses.append(f"{'; '.join(said(n) for n in above[1:])} would also beat it")
    elif found:
        clauses.append(f"No policy would clearly beat {against}")
    else:
        clauses.append("No policy could be evaluated on this log (see the notes below)")
    if level_with:
        lead = "" if above else ": "
        text = "; ".join(said(n) for n in level_with)
        clauses.append(f"{lead}{text} {'is' if len(level_with) == 1 else 'are'} not distinguishable from it")
    if below:
        clauses.append(f"{'; '.join(said(n) for n in below)} would do worse")
    missing = [p.name for p in ev.policies if p.name not in found]
    if missing and found:
        clauses.append(f"no estimate for {_names(missing)}")
    text = clauses[0] + "".join(c if c.startswith(":") else "; " + c for c in clauses[1:]) + "."
    replays = []
    for p in ev.policies:
        r = p.replay
        if r is None:
            continue
        if r.n_accepted == 0 or not math.isfinite(r.value):
            replays.append(f"{p.name}: no estimate (none of the {r.n_rows:,} rows was accepted)")
        else:
            low, high = r.confidence_interval(1.0 - ev.alpha)
            replays.append(
                f"{p.name} {_num(r.value, sign=False)} ({level} CI {_interval(low, high, 'abs')}) over "
                f"{r.n_accepted:,} accepted of {r.n_rows:,} rows"
            )
    if replays:
        text += " Learning included (replay): " + "; ".join(replays) + "."
    if ev.notes or any(p.notes for p in ev.policies):
        text += " Read the warnings below before relying on these numbers."
    return Conclusion(text)
