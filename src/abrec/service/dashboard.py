"""The live dashboard: HTML pages at ``/`` (the experiments) and ``/experiments/{name}`` (one experiment).

Read-only; open, or behind any API key when the setting ``dashboard_key`` is on (``?key=TOKEN``). The
numbers are those of ``/v1/experiments/{name}/results`` (the same :func:`~abrec.service.results.
experiment_results` call, read from the store's sufficient statistics); the metric over time (the statistics'
history), the allocation periods, the most shown items (kept with the statistics), the recorded offline
estimates and the audit trail come from the store: a page never scans the log. The pages are laid out by
:mod:`abrec.report.dashboard` (inline SVG, no CDN) and refresh themselves while traffic flows
(``?refresh=SECONDS``, default 5; 0 turns it off).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import numpy as np
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
    history: Sequence[tuple[str, float, float, float, float]],
    variants: list[str],
    start: float,
    checkpoints: int = CHECKPOINTS,
) -> tuple[list[float], dict[str, list[float]], dict[str, list[float]], dict[str, list[float]]]:
    """Each variant's mean reward per unit (units seen so far, their totals so far) and its 95% band over time.

    ``history`` is the store's metric history (:meth:`~abrec.store.EventStore.metric_history`: rows
    ``(variant, at, units, total, total_sq)``, the unit sums of the primary metric as they stood at ``at``);
    times are seconds since ``start``, at most ``checkpoints`` of them, evenly spread over the history. The band
    is the normal interval of the mean of the units' totals (``mean +- 1.96 sd / sqrt(n)``); NaN below 2 units.
    """
    at = sorted({row[1] for row in history})
    if not at:
        return [], {}, {}, {}
    keep = [at[int(i)] for i in np.unique(np.linspace(0, len(at) - 1, min(checkpoints, len(at))).round())]
    index = {t: i for i, t in enumerate(keep)}
    means = {v: [math.nan] * len(keep) for v in variants}
    lows = {v: [math.nan] * len(keep) for v in variants}
    highs = {v: [math.nan] * len(keep) for v in variants}
    for variant, t, n, total, total_sq in history:
        i = index.get(t)
        if i is None or variant not in means or n < 2:
            continue
        mean = total / n
        sd = math.sqrt(max(total_sq - total * mean, 0.0) / (n - 1))
        half = Z95 * sd / math.sqrt(n)
        means[variant][i], lows[variant][i], highs[variant][i] = mean, mean - half, mean + half
    return [t - start for t in keep], means, lows, highs


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
    stats = store.stats(spec.name, refresh=False)  # folded by experiment_results just now
    now = datetime.now(UTC).timestamp()
    live = [(v, now, *stats.primary_sums(v)) for v in stats.variants]  # the chart ends at the numbers shown
    times, means, lows, highs = metric_over_time(
        [*store.metric_history(spec.name), *live], list(spec.variant_names), start
    )
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
        top_items=store.top_items(spec.name),
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
