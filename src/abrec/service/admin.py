"""The admin API (``/v1/admin/...``): change experiments while they run, every change audited.

Every endpoint needs an admin key (:func:`abrec.service.auth.admin_key`). Each change is one database
transaction together with its audit row (who: the key's name; what; when; the details), and every worker
process applies it within ``allocation_poll`` seconds (:func:`sync_admin`); the worker that answers applies it
before answering.

- ``POST /v1/admin/experiments``: create an experiment from a config (the YAML entry of one experiment).
- ``POST /v1/admin/experiments/{name}/weights``: new weights from now on (a new allocation period); units
  already assigned keep their variant (sticky assignment), new units follow the new weights.
- ``POST .../pause``: every unit is served by one variant's policy (``serve``, default the control) and every
  decision is still logged, under the unit's assigned variant with the policy that served it, so the readout
  stays valid (intention to treat: a long pause pulls the lifts toward 0) and rewards keep being accepted.
- ``POST .../resume``: each variant serves its own units again.
- ``POST .../stop``: like a pause, for good; the answer and the audit row carry the final readout.
- ``POST .../rollback``: serve an earlier policy snapshot of a variant again (a new snapshot version with its
  state; learning goes on from it).
- ``POST .../offline``: record pre-launch offline estimates of variants (shown on the dashboard).
- ``GET /v1/admin/audit``: the audit trail, newest first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat

from ..errors import AbrecError, InputError, UnknownNameError
from ..store import admin as store_admin
from ..store.admin import ApiKey, AuditEntry
from ..store.records import AllocationRow
from .api import ApiError, service_of
from .auth import AuthError, actor, admin_key, auth_error_response
from .config import ServiceConfig, ServiceExperiment
from .results import experiment_results
from .runtime import ExperimentRuntime, initial_experiment

__all__ = ["admin_router", "install_operations", "sync_admin"]

AdminKey = Annotated[ApiKey, Depends(admin_key)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateExperiment(_Strict):
    """One experiment as in the service's YAML config (``name``, ``variants``, ``control``, ``reward``, ...)."""

    config: dict[str, Any]


class Weights(_Strict):
    """A weight for every variant (normalised; 0 stops new units going to a variant)."""

    weights: dict[str, FiniteFloat]


class Serve(_Strict):
    """The variant whose policy serves every unit while paused or stopped (default: the control)."""

    serve: str | None = Field(default=None, min_length=1, max_length=200)


class Rollback(_Strict):
    """Serve snapshot ``version`` of ``variant`` again."""

    variant: str = Field(min_length=1, max_length=200)
    version: int = Field(ge=1, le=2**62)


class OfflineEstimate(_Strict):
    """A variant's pre-launch off-policy estimate of the reward (e.g. from ``abrec evaluate``)."""

    value: FiniteFloat
    low: FiniteFloat | None = None
    high: FiniteFloat | None = None
    estimator: str = Field(default="", max_length=200)


class Offline(_Strict):
    """The pre-launch offline estimates of some of the experiment's variants (shown on the dashboard)."""

    estimates: dict[str, OfflineEstimate] = Field(min_length=1)


class Change(BaseModel):
    """What a change did: the experiment's status afterwards and the details written to the audit table."""

    experiment: str
    action: str
    status: Literal["running", "paused", "stopped"]
    at: datetime
    details: dict[str, Any] = Field(default_factory=dict)
    readout: dict[str, Any] | None = None


class AuditRow(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    experiment: str | None
    details: dict[str, Any]


class AuditResponse(BaseModel):
    entries: list[AuditRow]


def _errors() -> dict[int | str, dict[str, Any]]:
    from .models import ErrorResponse

    text = {
        401: "No API key, or an unknown or revoked one.",
        403: "A client key: changing experiments needs an admin key.",
        404: "Unknown experiment, variant or snapshot version.",
        409: "The change does not apply in the experiment's state (e.g. resuming a stopped experiment).",
        422: "A malformed body, or values abrec refuses (the message says which).",
    }
    return {code: {"model": ErrorResponse, "description": d} for code, d in text.items()}


# -- applying the database's state in this process ------------------------------------------------------------


def _apply(runtime: ExperimentRuntime, status: str, serve: str | None) -> None:
    """Set the runtime's status and the variant serving every unit (None: each its own)."""
    if status == "running":
        serve = None
    elif serve is None or serve not in runtime.serving:
        serve = runtime.spec.config.control
    # attributes the runtime reads in decide() (see the module docstring)
    setattr(runtime, "status", status)  # noqa: B010
    setattr(runtime, "serve_with", serve)  # noqa: B010


def spec_from_config(config: dict[str, Any]) -> ServiceExperiment:
    """The checked experiment of one config entry (the YAML vocabulary of ``abrec serve``)."""
    return ServiceConfig.from_mapping({"experiments": [config]}).experiments[0]


def sync_admin(service: Any) -> None:
    """Bring this process up to date with the admin changes in the database (called by the service's poller).

    Statuses and paused variants are applied to the runtimes; experiments created through the admin API are
    added with ``service.add_experiment(spec)`` where the service provides it.
    """
    states = store_admin.serving_states(service.store)
    unknown = [name for name in states if name not in service.runtimes]
    add = getattr(service, "add_experiment", None)
    if unknown and add is not None:
        configs = {row.name: row.config for row in service.store.experiments() if row.name in unknown}
        for name in unknown:
            try:
                add(spec_from_config(dict(configs[name])))
            except AbrecError as exc:
                service.notify(f"admin: cannot serve experiment {name!r}: {exc}")
    for name, (status, serve) in states.items():
        runtime = service.runtimes.get(name)
        if runtime is not None:
            _apply(runtime, status, serve)


# -- the router ------------------------------------------------------------------------------------------------


def _runtime(service: Any, name: str) -> ExperimentRuntime:
    runtime: ExperimentRuntime = service.runtime(name)  # 404 for an unknown experiment
    return runtime


def _status(runtime: ExperimentRuntime) -> Literal["running", "paused", "stopped"]:
    status = str(getattr(runtime, "status", "running"))
    if status == "paused":
        return "paused"
    return "stopped" if status == "stopped" else "running"


def _variant(runtime: ExperimentRuntime, variant: str | None, what: str) -> str:
    if variant is None:
        return runtime.spec.config.control
    if variant not in runtime.serving:
        names = ", ".join(runtime.serving)
        raise ApiError(404, f"{what}: experiment {runtime.spec.name!r} has no variant {variant!r} (it has {names}).")
    return variant


async def _last(service: Any, name: str) -> AuditEntry:
    entries = await run_in_threadpool(store_admin.audit_log, service.store, name, limit=1)
    return entries[0]


def _change(entry: AuditEntry, status: str, readout: dict[str, Any] | None = None) -> Change:
    return Change(
        experiment=entry.experiment or "",
        action=entry.action,
        status=status,  # type: ignore[arg-type]
        at=entry.at,
        details=dict(entry.details),
        readout=readout,
    )


def admin_router() -> APIRouter:
    router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(admin_key)])

    @router.post("/experiments", response_model=Change, status_code=201, responses=_errors())
    async def create(body: CreateExperiment, request: Request, key: AdminKey) -> Change:
        """Create an experiment from its config (as one entry of the YAML ``experiments`` list)."""
        service = service_of(request)
        try:
            spec = spec_from_config(body.config)
        except (AbrecError, KeyError, TypeError, ValueError) as exc:
            raise ApiError(422, f"Invalid experiment config: {exc}") from exc
        if spec.name in service.runtimes:
            raise ApiError(409, f"Experiment {spec.name!r} exists already; give the new one another name.")
        now = datetime.now(UTC)
        first = AllocationRow.from_experiment(initial_experiment(spec), period=0, started_at=now)
        try:
            await run_in_threadpool(
                store_admin.create_experiment,
                service.store,
                spec.name,
                spec.to_dict(),
                first,
                reward_kind=spec.reward.kind,
                actor=actor(key),
            )
        except InputError as exc:
            raise ApiError(409, str(exc)) from exc
        await run_in_threadpool(sync_admin, service)
        return _change(await _last(service, spec.name), "running")

    @router.post("/experiments/{name}/weights", response_model=Change, responses=_errors())
    async def weights(name: str, body: Weights, request: Request, key: AdminKey) -> Change:
        """Use new weights from now on (a new allocation period); assigned units keep their variant."""
        service = service_of(request)
        runtime = _runtime(service, name)
        if runtime.spec.adaptive:
            method = runtime.spec.config.allocation.get("method")
            raise ApiError(409, f"Experiment {name!r} allocates adaptively ({method}): its learner sets the weights.")
        if _status(runtime) == "stopped":
            raise ApiError(409, f"Experiment {name!r} is stopped; its weights no longer change.")
        row = await run_in_threadpool(store_admin.set_weights, service.store, name, body.weights, actor=actor(key))
        runtime.set_allocation(row)
        return _change(await _last(service, name), _status(runtime))

    async def _set(
        request: Request, name: str, key: ApiKey, status: str, action: str, serve: str | None
    ) -> tuple[Any, ExperimentRuntime]:
        service = service_of(request)
        runtime = _runtime(service, name)
        current = _status(runtime)
        if current == "stopped":
            raise ApiError(409, f"Experiment {name!r} is stopped for good; start a new experiment instead.")
        details = {} if serve is None else {"serve": serve}
        await run_in_threadpool(
            store_admin.set_status,
            service.store,
            name,
            status,  # type: ignore[arg-type]
            action=action,
            actor=actor(key),
            details=details,
        )
        _apply(runtime, status, serve)
        return service, runtime

    @router.post("/experiments/{name}/pause", response_model=Change, responses=_errors())
    async def pause(name: str, request: Request, key: AdminKey, body: Serve | None = None) -> Change:
        """Serve every unit with one variant's policy (default the control); keep logging every decision."""
        runtime = _runtime(service_of(request), name)
        serve = _variant(runtime, (body or Serve()).serve, "pause")
        service, _ = await _set(request, name, key, "paused", "pause", serve)
        return _change(await _last(service, name), "paused")

    @router.post("/experiments/{name}/resume", response_model=Change, responses=_errors())
    async def resume(name: str, request: Request, key: AdminKey) -> Change:
        """Serve each variant's own units with its own policy again."""
        service, _ = await _set(request, name, key, "running", "resume", None)
        return _change(await _last(service, name), "running")

    @router.post("/experiments/{name}/stop", response_model=Change, responses=_errors())
    async def stop(name: str, request: Request, key: AdminKey, body: Serve | None = None) -> Change:
        """Stop for good: one variant's policy (default the control) serves everyone; returns the final readout."""
        service = service_of(request)
        runtime = _runtime(service, name)
        serve = _variant(runtime, (body or Serve()).serve, "stop")
        if _status(runtime) == "stopped":
            raise ApiError(409, f"Experiment {name!r} is stopped already.")
        final = await run_in_threadpool(experiment_results, service.store, runtime)
        readout = final.model_dump(mode="json")
        details = {"serve": serve, "final": readout}
        await run_in_threadpool(
            store_admin.set_status,
            service.store,
            name,
            "stopped",
            action="stop",
            actor=actor(key),
            details=details,
        )
        _apply(runtime, "stopped", serve)
        entry = await _last(service, name)
        return _change(entry, "stopped", readout)

    @router.post("/experiments/{name}/rollback", response_model=Change, responses=_errors())
    async def rollback(name: str, body: Rollback, request: Request, key: AdminKey) -> Change:
        """Serve an earlier snapshot of a variant's policy again; learning goes on from it."""
        service = service_of(request)
        runtime = _runtime(service, name)
        variant = _variant(runtime, body.variant, "rollback")
        try:
            await run_in_threadpool(
                store_admin.rollback_policy, service.store, name, variant, body.version, actor=actor(key)
            )
        except UnknownNameError as exc:
            raise ApiError(404, str(exc)) from exc
        await run_in_threadpool(service.refresh_policies)
        return _change(await _last(service, name), _status(runtime))

    @router.post("/experiments/{name}/offline", response_model=Change, responses=_errors())
    async def offline(name: str, body: Offline, request: Request, key: AdminKey) -> Change:
        """Record the pre-launch offline estimates of variants, to show them next to the live numbers."""
        service = service_of(request)
        runtime = _runtime(service, name)
        for variant in body.estimates:
            _variant(runtime, variant, "offline")
        details = {"estimates": {v: e.model_dump() for v, e in body.estimates.items()}}
        await run_in_threadpool(store_admin.record, service.store, name, "offline", details, actor=actor(key))
        return _change(await _last(service, name), _status(runtime))

    @router.get("/audit", response_model=AuditResponse, responses=_errors())
    async def audit(
        request: Request,
        experiment: str | None = Query(default=None, max_length=200),
        limit: int = Query(default=100, ge=1, le=10_000),
    ) -> AuditResponse:
        """Every change (who, what, when), newest first."""
        service = service_of(request)
        entries = await run_in_threadpool(store_admin.audit_log, service.store, experiment, limit=limit)
        return AuditResponse(entries=[AuditRow(**e.to_dict()) for e in entries])

    return router


def install_operations(app: FastAPI) -> None:
    """Add the admin API, the dashboard and ``/metrics`` to the service's app (one call in ``create_app``)."""
    from . import dashboard, metrics

    @app.exception_handler(AuthError)
    async def _auth(_request: Request, exc: AuthError) -> Any:
        return auth_error_response(exc)

    app.include_router(admin_router())
    app.include_router(dashboard.dashboard_router())
    metrics.install_metrics(app)
