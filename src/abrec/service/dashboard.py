"""The live dashboard: HTML pages at ``/`` (the experiments) and ``/experiments/{name}`` (one experiment).

Read-only; open, or behind any API key when the setting ``dashboard_key`` is on (``?key=TOKEN``). The
numbers are those of ``/v1/experiments/{name}/results`` (the same :func:`~abrec.service.results.
experiment_results` call); the metric over time, the allocation periods, the most shown items, the recorded
offline estimates and the audit trail come from the store. The pages are laid out by
:mod:`abrec.report.dashboard` (inline SVG, no CDN) and refresh themselves while traffic flows
(``?refresh=SECONDS``, default 5; 0 turns it off).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from ..report.dashboard import ExperimentSummary, ExperimentView, conclusion, experiment_page, index_page
from ..store import admin as store_admin
from .auth import dashboard_key
from .results import experiment_results
from .runtime import ExperimentRuntime

__all__ = ["dashboard_router", "experiment_view", "metric_over_time"]

#: Points of the metric-over-time chart.
CHECKPOINTS = 40
Z95 = 1.959963984540054


def metric_over_time(
    frame: pd.DataFrame, variants: list[str], start: float, checkpoints: int = CHECKPOINTS
) -> tuple[list[float], dict[str, list[float]], dict[str, list[float]], dict[str, list[float]]]:
    """Each variant's mean reward per unit (units seen so far, their totals so far) and its 95% band over time.

    ``frame`` is an exported log (``unit``, ``variant``, ``timestamp``, ``reward``); times are seconds since
    ``start``. The band is the normal interval of the mean of the units' totals (``mean +- 1.96 sd / sqrt(n)``).
    """
    if frame.empty:
        return [], {}, {}, {}
    column = frame["timestamp"]
    if pd.api.types.is_numeric_dtype(column):
        absolute = column.to_numpy(dtype=np.float64)
    else:
        since = pd.to_datetime(column, utc=True) - pd.Timestamp(0, tz="UTC")
        absolute = (since / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)
    seconds = np.asarray(absolute - start, dtype=np.float64)
    reward = frame["reward"].to_numpy(dtype=np.float64)
    variant = frame["variant"].astype(str).to_numpy()
    unit = frame["unit"].astype(str).to_numpy()
    grid = np.linspace(float(seconds.min()), float(seconds.max()), checkpoints)
    means: dict[str, list[float]] = {}
    lows: dict[str, list[float]] = {}
    highs: dict[str, list[float]] = {}
    for v in variants:
        mask = variant == v
        order = np.argsort(seconds[mask], kind="stable")
        t, y = seconds[mask][order], reward[mask][order]
        codes, uniques = pd.factorize(unit[mask][order])
        m, lo, hi = [], [], []
        for g in grid:
            idx = int(np.searchsorted(t, g, side="right"))
            seen = np.bincount(codes[:idx], minlength=len(uniques)) > 0
            n = int(seen.sum())
            if n < 2:
                m.append(np.nan)
                lo.append(np.nan)
                hi.append(np.nan)
                continue
            totals = np.bincount(codes[:idx], weights=y[:idx], minlength=len(uniques))[seen]
            mean, half = float(totals.mean()), Z95 * float(totals.std(ddof=1)) / np.sqrt(n)
            m.append(mean)
            lo.append(mean - half)
            hi.append(mean + half)
        means[v], lows[v], highs[v] = m, lo, hi
    return grid.tolist(), means, lows, highs


def _top_items(frame: pd.DataFrame, n: int = 5) -> dict[str, list[tuple[str, int, float]]]:
    if frame.empty:
        return {}
    grouped = frame.assign(item=frame["item"].astype(str)).groupby(["variant", "item"], sort=False)["reward"]
    stats = grouped.agg(["count", "sum"]).reset_index()
    out: dict[str, list[tuple[str, int, float]]] = {}
    for v, part in stats.groupby("variant", sort=True):
        top = part.sort_values(["count", "item"], ascending=[False, True]).head(n)
        out[str(v)] = [
            (str(i), int(c), float(s)) for i, c, s in zip(top["item"], top["count"], top["sum"], strict=True)
        ]
    return out


def _offline(store: Any, experiment: str, variants: list[str]) -> dict[str, Mapping[str, Any]]:
    """The latest recorded offline estimates, in the experiment's variant order."""
    for entry in store_admin.audit_log(store, experiment, limit=1, actions=["offline"]):
        if entry.action == "offline":
            estimates: dict[str, Mapping[str, Any]] = dict(entry.details.get("estimates") or {})
            return {v: estimates[v] for v in variants if v in estimates}
    return {}


def experiment_view(service: Any, runtime: ExperimentRuntime) -> ExperimentView:
    """Gather one experiment's page (blocking: reads the store)."""
    store, spec = service.store, runtime.spec
    results = experiment_results(store, runtime).model_dump(mode="json")
    allocations = store.allocations(spec.name)
    start = allocations[0].started_at.timestamp()
    log = store.export_log(spec.name, reward_kind=spec.reward.kind)
    frame = log.frame
    times, means, lows, highs = metric_over_time(frame, list(spec.variant_names), start)
    audit = store_admin.audit_log(store, spec.name, limit=50)
    status = str(getattr(runtime, "status", "running"))
    serve_with = getattr(runtime, "serve_with", None)
    metric = "reward per unit"
    readout = results.get("readout") or {}
    if readout.get("metrics"):
        metric = str(readout["metrics"][0].get("measure") or metric)
    totals = [(v["decisions"], v["rewards"], v["joined"], v["snapshot_version"]) for v in results["variants"]]
    stamp = f"{status}|{results['period']}|{totals}|{audit[0].seq if audit else 0}"
    return ExperimentView(
        name=spec.name,
        status=status,
        serve_with=serve_with,
        results=results,
        metric=metric,
        times=times,
        means=means,
        lows=lows,
        highs=highs,
        allocations=[(a.started_at.timestamp() - start, dict(a.weights)) for a in allocations],
        offline=_offline(store, spec.name, list(spec.variant_names)),
        top_items=_top_items(frame),
        audit=[e.to_dict() for e in audit],
        stamp=stamp,
        generated_at=datetime.now(UTC),
    )


def _summaries(service: Any) -> tuple[list[ExperimentSummary], str]:
    out = []
    for name, runtime in sorted(service.runtimes.items()):
        results = experiment_results(service.store, runtime).model_dump(mode="json")
        text, _ = conclusion(results)
        decisions = sum(int(v["decisions"]) for v in results["variants"])
        status = str(getattr(runtime, "status", "running"))
        out.append(ExperimentSummary(name, status, list(runtime.spec.variant_names), decisions, text))
    stamp = "|".join(f"{e.name}:{e.status}:{e.decisions}:{e.conclusion}" for e in out)
    return out, stamp


def _query(request: Request) -> str:
    key = request.query_params.get("key")
    refresh = request.query_params.get("refresh")
    params = {k: v for k, v in (("key", key), ("refresh", refresh)) if v}
    return "?" + urlencode(params) if params else ""


def dashboard_router() -> APIRouter:
    router = APIRouter(tags=["dashboard"], dependencies=[Depends(dashboard_key)], include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    async def index(request: Request, refresh: int = Query(default=5, ge=0, le=3600)) -> HTMLResponse:
        service = request.app.state.service
        summaries, stamp = await run_in_threadpool(_summaries, service)
        return HTMLResponse(index_page(summaries, refresh=refresh, query=_query(request), stamp=stamp))

    @router.get("/experiments/{name}", response_class=HTMLResponse)
    async def experiment(name: str, request: Request, refresh: int = Query(default=5, ge=0, le=3600)) -> HTMLResponse:
        service = request.app.state.service
        runtime = service.runtime(name)  # 404 for an unknown experiment
        view = await run_in_threadpool(experiment_view, service, runtime)
        return HTMLResponse(experiment_page(view, refresh=refresh, query=_query(request)))

    return router
