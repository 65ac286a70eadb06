"""``/metrics`` in the Prometheus text format (``prometheus-client``).

- **Requests and latency per endpoint** (``abrec_http_requests_total{method,route,status}``,
  ``abrec_http_request_duration_seconds{method,route}``), counted by an ASGI middleware under the route's
  template (``/v1/experiments/{name}/results``), never the raw path. With several uvicorn workers, set
  ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder before the server starts: every worker then counts into it
  and any worker's ``/metrics`` adds them up (prometheus-client's multiprocess mode).
- **Decisions, rewards, late and defaulted rewards per experiment and variant**, and the shown items waiting
  for their reward: read from the database at each scrape, so they are the same from every worker and survive
  restarts (counters that never go back).
- **Learner lag**: seconds since the oldest event the learner has not joined yet although it could (an on-time
  reward not learned, or a shown item whose wait window closed); 0 when it is up to date.
- **Snapshot age** and version of the policy each variant serves in this process.

The same middleware writes each request's access log line (:func:`~abrec.service.logging_json.log_access`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logging_json import ACCESS, log_access

__all__ = ["MetricsMiddleware", "ServiceCollector", "install_metrics", "metrics_router"]

_REQUESTS = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "abrec_http_requests",
    "HTTP requests answered, by method, route and status.",
    ["method", "route", "status"],
    registry=_REQUESTS,
)
LATENCY = Histogram(
    "abrec_http_request_duration_seconds",
    "Time to answer an HTTP request (seconds), by method and route.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=_REQUESTS,
)


class MetricsMiddleware:
    """Count every HTTP request and its latency under its route template (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = str(scope.get("method", ""))
            seconds = time.perf_counter() - start
            REQUESTS.labels(method, path, str(status)).inc()
            LATENCY.labels(method, path).observe(seconds)
            if ACCESS.isEnabledFor(logging.INFO):  # the access line (logging_json.py), when logging is configured
                client = scope.get("client")
                params = scope.get("path_params") or {}
                experiment = params.get("name") if "{name}" in path else None
                log_access(
                    method, scope.get("path", ""), path, status, seconds, client[0] if client else None, experiment
                )


class ServiceCollector(Collector):
    """The service's state at scrape time: counts from the database, lag, the policies in service."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def collect(self) -> Iterator[Any]:
        service = self.service
        store = getattr(service, "store", None)
        if store is None:
            return
        names = ("decisions", "rewards", "late", "defaulted")
        helps = {
            "decisions": "Decisions stored.",
            "rewards": "Rewards stored (every kind, late ones included).",
            "late": "Rewards stored after their wait window (not learned).",
            "defaulted": "Shown items learned with the default reward (no reward within the window).",
        }
        families = {n: CounterMetricFamily(f"abrec_{n}", helps[n], labels=["experiment", "variant"]) for n in names}
        waiting = GaugeMetricFamily(
            "abrec_waiting_items", "Shown items not learned yet.", labels=["experiment", "variant"]
        )
        version = GaugeMetricFamily(
            "abrec_policy_version",
            "Snapshot version each variant serves here (0: fresh).",
            labels=["experiment", "variant"],
        )
        age = GaugeMetricFamily(
            "abrec_snapshot_age_seconds",
            "Seconds since the served snapshot was built.",
            labels=["experiment", "variant"],
        )
        paused = GaugeMetricFamily(
            "abrec_experiment_running", "1 while the experiment runs, 0 when paused or stopped.", labels=["experiment"]
        )
        now = datetime.now(UTC)
        for name, runtime in sorted(service.runtimes.items()):
            for variant, counts in sorted(store.counts(name).items()):
                for n in names:
                    families[n].add_metric([name, variant], float(counts.get(n, 0)))
                waiting.add_metric([name, variant], float(counts.get("waiting", 0)))
            for variant, serving in sorted(runtime.serving.items()):
                version.add_metric([name, variant], float(serving.version))
                if serving.built_at is not None:
                    age.add_metric([name, variant], (now - serving.built_at).total_seconds())
            paused.add_metric([name], 1.0 if getattr(runtime, "status", "running") == "running" else 0.0)
        yield from families.values()
        yield from (waiting, version, age, paused)
        lag = GaugeMetricFamily(
            "abrec_learner_lag_seconds", "Seconds since the oldest event the learner could join but has not (0: none)."
        )
        lag.add_metric([], learner_lag(store, now))
        yield lag


def learner_lag(store: Any, now: datetime) -> float:
    """Seconds since the oldest joinable event: an on-time reward not learned, or a closed window not defaulted."""
    from .learner import GRACE

    oldest: list[float] = []
    rewards = store.unjournaled_rewards(0, 1)
    if rewards:
        oldest.append((now - rewards[0].received_at).total_seconds())
    closed = store.closed_unrewarded(now - GRACE, 1)
    if closed:
        oldest.append((now - closed[0][0].window_closes_at).total_seconds())
    return max([0.0, *oldest])


def _scrape(service: Any) -> bytes:
    registry = CollectorRegistry()
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Requests())
    registry.register(ServiceCollector(service))
    return generate_latest(registry)


class _Requests(Collector):
    def collect(self) -> Iterator[Any]:
        yield from _REQUESTS.collect()


def metrics_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", response_class=Response, include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """The Prometheus metrics (text exposition format)."""
        service = getattr(request.app.state, "service", None)
        body = await run_in_threadpool(_scrape, service)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router


def install_metrics(app: FastAPI) -> None:
    """Add ``/metrics`` and the request-counting middleware to ``app``."""
    app.include_router(metrics_router())
    app.add_middleware(MetricsMiddleware)
