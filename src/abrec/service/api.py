"""The HTTP routes: thin routers over the runtime and the store, one per area.

Every write goes through the store's group committer and is answered only after its COMMIT. Concurrent single
decides (and reward calls) are served in micro-batches (:mod:`._batching`): one ``Policy.decide`` per variant and
one group commit for all that arrived together, each request answered on its own (a bad one fails alone).
Answers are written as compact JSON directly (the shapes of :mod:`.models`' response models). Errors are
mapped to HTTP in one place (:func:`install_error_handlers`): an unknown experiment 404, a rejected reward
404 (unknown event), 409 (conflicting value) or 422 (wrong item), a malformed body or a value abrec refuses
422, an oversized batch or body 413; every error body has a ``message`` that says what was wrong.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from ..errors import AbrecError, InputError
from ..store.records import DecisionRow, RewardOutcome, RewardRow, WriteBatch, WriteResult
from ._assign import assignment_periods
from ._batching import Batcher, dumps
from .features import UnknownItems
from .models import (
    DecideBatchRequest,
    DecideBatchResponse,
    DecideRequest,
    DecideResponse,
    ErrorResponse,
    ExperimentInfo,
    ExperimentsResponse,
    Health,
    ResultsResponse,
    RewardsRequest,
    RewardsResponse,
)
from .results import experiment_results
from .runtime import DecideInput, ExperimentRuntime
from .state import Service, UnknownExperiment

__all__ = ["ApiError", "decide_many", "decide_one", "install_error_handlers", "routers", "store_rewards"]

_REWARD_STATUS = {"unknown_event": 404, "conflict": 409, "wrong_item": 422}


class ApiError(Exception):
    """An error answered with ``status`` and a ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorResponse, "description": description}}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        404: "Unknown experiment.",
        413: "Too many requests in one batch, or the body is too large.",
        422: "A malformed body (wrong types, NaN or infinity, unknown keys), or a request abrec refuses "
        "(an unknown item without its text, a context of the wrong length).",
        503: "Not ready: the database is unreachable or the policies are not loaded yet.",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        out.update(_error(code, text[code]))
    return out


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _input(body: DecideRequest) -> DecideInput:
    ids = tuple(body.candidates)
    texts = {}
    if not all(type(c) is str for c in ids):  # some candidates carry their text
        ids = tuple(c if isinstance(c, str) else c.id for c in body.candidates)
        texts = {c.id: c.text for c in body.candidates if not isinstance(c, str)}
    return DecideInput(
        experiment=body.experiment,
        unit=body.unit,
        candidates=ids,  # type: ignore[arg-type]
        k=body.k,
        texts=texts,
        context=None if body.context is None else tuple(body.context),
        history=None if body.history is None else tuple(body.history),
        request_id=body.request_id,
        session_id=body.session_id,
        step=body.step,
    )


@functools.lru_cache(maxsize=64)  # the rows of one batch share their two times
def _time(moment: datetime) -> str:
    """A UTC time as pydantic writes it (``2026-01-05T10:00:00.123456Z``)."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _response(row: DecisionRow, replayed: bool) -> dict[str, Any]:
    """The :class:`DecideResponse` of a decision, as the JSON-ready mapping FastAPI would write for it."""
    scores: tuple[float | None, ...] = row.scores or (None,) * len(row.items)
    return {
        "event_id": row.event_id,
        "experiment": row.experiment,
        "unit": row.unit,
        "variant": row.variant,
        "period": row.period,
        "assignment_p": row.assignment_p,
        "policy": row.policy,
        "policy_version": row.policy_version,
        "snapshot_version": row.snapshot_version,
        "propensity_draws": row.propensity_draws,
        "slate": [
            {"item": item, "position": i, "propensity": p, "score": s}
            for i, (item, p, s) in enumerate(zip(row.items, row.propensities, scores, strict=True))
        ],
        "created_at": _time(row.created_at),
        "window_closes_at": _time(row.window_closes_at),
        "request_id": row.client_request_id,
        "replayed": replayed,
    }


def _json(content: Any, status: int = 200) -> Response:
    return Response(content=dumps(content), status_code=status, media_type="application/json")


async def _prepare(service: Service, runtime: ExperimentRuntime, inputs: list[DecideInput]) -> None:
    """The rare database reads before deciding: sticky units after a reweighting, items first seen elsewhere."""
    units = runtime.cached_units([i.unit for i in inputs])
    if units:
        runtime.remember(await run_in_threadpool(service.store.assignments, runtime.spec.name, units))
    units = runtime.zero_weight_units([i.unit for i in inputs])
    if units:  # sticky units of a variant reweighted to 0: their assignment period gives their assignment_p
        periods = await run_in_threadpool(assignment_periods, service.store, runtime.spec.name, units)
        if any(p not in runtime.period_weights for p in periods.values()):
            runtime.add_allocations(await run_in_threadpool(service.store.allocations, runtime.spec.name))
        runtime.remember({}, periods)
    if runtime.sessions is not None:  # agents' session reads (a query per batch): off the event loop
        await run_in_threadpool(runtime.sessions.prefetch, inputs)
    space = runtime.features
    if space is not None:
        given = {item: text for i in inputs for item, text in i.texts.items() if item not in space}
        if given:  # encoding may take a while (a model call): off the event loop
            await run_in_threadpool(space.add, given)
        missing = space.missing(sorted({c for i in inputs for c in i.candidates}))
        if missing:
            texts = await run_in_threadpool(service.store.item_texts, missing)
            if texts:
                await run_in_threadpool(space.add, texts)


async def _decide(service: Service, inputs: list[DecideInput]) -> list[dict[str, Any]]:
    by_experiment: dict[str, list[int]] = {}
    for i, inp in enumerate(inputs):
        by_experiment.setdefault(inp.experiment, []).append(i)
    runtimes = {name: service.runtime(name) for name in by_experiment}  # 404 before anything is decided
    rows: list[DecisionRow | None] = [None] * len(inputs)
    assignments: list[tuple[str, str, str, int]] = []
    items: list[tuple[str, str]] = []
    now = datetime.now(UTC)
    for name, members in by_experiment.items():
        runtime = runtimes[name]
        group = [inputs[i] for i in members]
        await _prepare(service, runtime, group)
        decided = runtime.decide(group, now)
        for i, row in zip(members, decided.decisions, strict=True):
            rows[i] = row
        assignments.extend(decided.assignments)
        items.extend(decided.items)
    batch = WriteBatch(decisions=[r for r in rows if r is not None], assignments=assignments, items=items)
    result = await service.committer.asubmit(batch)
    for name, runtime in runtimes.items():  # committed: the units keep these variants from now on
        mine = [(unit, variant, period) for exp, unit, variant, period in assignments if exp == name]
        runtime.remember({u: v for u, v, _ in mine}, {u: p for u, _, p in mine})
    return [_response(o.decision, o.status == "replayed") for o in result.decisions]


async def _decide_alone(service: Service, inputs: list[DecideInput]) -> list[dict[str, Any] | BaseException]:
    """Decide concurrent single requests together (one ``Policy.decide`` per variant, one group commit), each
    answered on its own: a request that fails alone gets its error, the others their decisions."""
    by_experiment: dict[str, list[int]] = {}
    out: list[dict[str, Any] | BaseException] = [InputError("not decided")] * len(inputs)
    for i, inp in enumerate(inputs):
        by_experiment.setdefault(inp.experiment, []).append(i)
    now = datetime.now(UTC)
    pending: list[tuple[int, ExperimentRuntime, WriteBatch]] = []
    for name, members in by_experiment.items():
        try:
            runtime = service.runtime(name)
        except Exception as exc:
            for i in members:
                out[i] = exc
            continue
        ok = []
        for i in members:
            try:
                runtime.check(inputs[i])
                ok.append(i)
            except Exception as exc:
                out[i] = exc
        if not ok:
            continue
        group = [inputs[i] for i in ok]
        try:
            await _prepare(service, runtime, group)
            decided = runtime.decide(group, now)
        except Exception as exc:
            if len(ok) == 1:
                out[ok[0]] = exc
                continue
            for i in ok:  # find the one that fails: each request on its own
                try:
                    await _prepare(service, runtime, [inputs[i]])
                    alone = runtime.decide([inputs[i]], now)
                except Exception as exc:
                    out[i] = exc
                else:
                    pending.append((i, runtime, WriteBatch(**_parts(alone, 0, inputs[i]))))
            continue
        for j, i in enumerate(ok):
            pending.append((i, runtime, WriteBatch(**_parts(decided, j, inputs[i]))))
    results = await service.committer.asubmit_many([batch for _, _, batch in pending])
    for (i, runtime, batch), result in zip(pending, results, strict=True):
        if isinstance(result, BaseException):
            out[i] = result
            continue
        runtime.remember({a[1]: a[2] for a in batch.assignments}, {a[1]: a[3] for a in batch.assignments})
        outcome = result.decisions[0]
        out[i] = _response(outcome.decision, outcome.status == "replayed")
    return out


def _parts(decided: Any, j: int, request: DecideInput) -> dict[str, Any]:
    """The records of the ``j``-th request of ``decided``: its decision, its unit's new assignment (with every
    request of that unit: insert-or-ignore, the first row wins) and the texts it brought."""
    row = decided.decisions[j]
    assignments = [a for a in decided.assignments if a[1] == row.unit]
    items = sorted(request.texts.items()) if decided.items else []
    return {"decisions": [row], "assignments": assignments, "items": items}


def decide_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["decide"])

    @router.post("/decide", response_model=DecideResponse, responses=_errors(404, 413, 422, 503))
    async def decide(body: DecideRequest, request: Request) -> Any:
        """Decide one slate: assign the unit to a variant (sticky), let its policy rank the candidates, store it.

        The answer comes after the decision is committed. A retry with the same ``request_id`` returns the
        stored decision and writes nothing.
        """
        return await decide_one(service_of(request), body)

    @router.post("/decide/batch", response_model=DecideBatchResponse, responses=_errors(404, 413, 422, 503))
    async def decide_batch(body: DecideBatchRequest, request: Request) -> Any:
        """Decide many requests in one call (vectorised per variant, one transaction). All or nothing: one bad
        request rejects the call and nothing is stored."""
        return await decide_many(service_of(request), body)

    return router


async def decide_one(service: Service, body: DecideRequest) -> Response:
    """The answer of ``POST /v1/decide`` to a valid ``body`` (raises the errors the handlers map)."""
    inp = _input(body)
    service.runtime(inp.experiment)  # 404 at once
    return _json(await _batcher(service, "decide", _decide_alone).submit(inp))


async def decide_many(service: Service, body: DecideBatchRequest) -> Response:
    """The answer of ``POST /v1/decide/batch`` to a valid ``body`` (raises the errors the handlers map)."""
    if len(body.requests) > service.settings.max_batch:
        raise ApiError(
            413, f"{len(body.requests)} requests in one batch; at most {service.settings.max_batch} (max_batch)."
        )
    return _json({"decisions": await _decide(service, [_input(r) for r in body.requests])})


def rewards_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["rewards"])
    rejected: dict[int | str, dict[str, Any]] = {
        404: {"model": RewardsResponse, "description": "A reward names an unknown event id (nothing stored for it)."},
        409: {"model": RewardsResponse, "description": "Another value is stored for this event, item and kind."},
        422: {"description": "A malformed body, or a reward for an item that is not in the slate (wrong_item)."},
    }

    @router.post(
        "/rewards",
        response_model=RewardsResponse,
        responses={**rejected, **_errors(413, 503)},
    )
    async def rewards(body: RewardsRequest, request: Request) -> Any:
        """Store rewards, each idempotent on (event_id, item, kind): a retry is a ``duplicate``, never counted twice.

        Each reward is its own operation: the accepted ones (stored, late, duplicate) are committed before the
        answer; a rejected one (unknown_event 404, conflict 409, wrong_item 422) stores nothing, and the call's
        status is that of the first rejected reward. Retrying the whole call is always safe.
        """
        return await store_rewards(service_of(request), body)

    return router


async def store_rewards(service: Service, body: RewardsRequest) -> Response:
    """The answer of ``POST /v1/rewards`` to a valid ``body`` (raises the errors the handlers map)."""
    if len(body.rewards) > service.settings.max_batch:
        raise ApiError(413, f"{len(body.rewards)} rewards in one call; at most {service.settings.max_batch}.")
    now = datetime.now(UTC)
    rows = [
        RewardRow(event_id=r.event_id, item=r.item, kind=r.kind, value=r.value, position=r.position, received_at=now)
        for r in body.rewards
    ]
    result = await _batcher(service, "rewards", _write_rewards).submit(WriteBatch(rewards=rows))
    out = [
        {
            "event_id": o.reward.event_id,
            "item": o.reward.item,
            "kind": o.reward.kind,
            "status": o.status,
            "position": o.reward.position,
            "message": o.message,
        }
        for o in result.rewards
    ]
    bad = [o for o in result.rewards if o.status in _REWARD_STATUS]
    message = "; ".join(_bad(o) for o in bad[:5])
    response = {"rewards": out, "accepted": len(out) - len(bad), "rejected": len(bad), "message": message}
    return _json(response, _REWARD_STATUS[bad[0].status] if bad else 200)


def _bad(o: RewardOutcome) -> str:
    return o.message or f"{o.reward.event_id}/{o.reward.item}: {o.status}"


async def _write_rewards(service: Service, batches: list[WriteBatch]) -> list[WriteResult | BaseException]:
    """Commit the reward batches of concurrent calls in one group (each its own outcome)."""
    results: list[WriteResult | BaseException] = await service.committer.asubmit_many(batches)
    return results


def _batcher(service: Service, name: str, run: Any) -> Batcher[Any, Any]:
    """The service's micro-batcher ``name`` (built on first use), running ``run(service, items)``."""
    batcher = service.batchers.get(name)
    if batcher is None:
        batcher = service.batchers[name] = Batcher(lambda items: run(service, items))
    return batcher


def experiments_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["experiments"])

    @router.get("/experiments", response_model=ExperimentsResponse, responses=_errors(503))
    async def experiments(request: Request) -> ExperimentsResponse:
        """The served experiments: their variants, reward definition and the allocation in force."""
        service = service_of(request)
        out = []
        for name, runtime in service.runtimes.items():
            config = runtime.spec.to_dict()
            out.append(
                ExperimentInfo(
                    name=name,
                    status=runtime.status,
                    control=runtime.spec.config.control,
                    variants=config["variants"],
                    reward=config["reward"],
                    allocation=config["allocation"],
                    period=runtime.period,
                    weights=runtime.weights,
                    period_started_at=runtime.allocation.started_at,
                )
            )
        return ExperimentsResponse(experiments=out)

    @router.get("/experiments/{name}/results", response_model=ResultsResponse, responses=_errors(404, 503))
    def results(name: str, request: Request) -> ResultsResponse:
        """The live readout (``abrec analyze``'s numbers on the exported log) and each variant's learning status."""
        service = service_of(request)
        return experiment_results(service.store, service.runtime(name))

    return router


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        """The process is up."""
        return Health(status="ok")

    @router.get("/readyz", response_model=Health, responses={503: {"model": Health, "description": "Not ready."}})
    async def readyz(request: Request) -> Any:
        """The database answers and the policies are loaded."""
        service = getattr(request.app.state, "service", None)
        if service is None or not service.ready:
            return JSONResponse(status_code=503, content={"status": "starting", "detail": "policies not loaded yet"})
        try:
            await asyncio.wait_for(run_in_threadpool(service.store.ping), timeout=5.0)
        except Exception as exc:
            return JSONResponse(status_code=503, content={"status": "unavailable", "detail": f"database: {exc}"})
        learner = service.learner
        holding = learner is not None and learner.holding
        return Health(status="ok", detail="learner here" if holding else "serving")

    return router


def routers() -> list[APIRouter]:
    return [decide_router(), rewards_router(), experiments_router(), health_router()]


def _message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    more = len(exc.errors()) - 5
    return "Invalid request: " + "; ".join(parts) + (f" (and {more} more)" if more > 0 else "") + "."


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to its status and a body with a ``message`` (see the module docstring)."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return JSONResponse(status_code=422, content={"message": _message(exc), "detail": detail})

    @app.exception_handler(ApiError)
    async def _api(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"message": exc.message})

    @app.exception_handler(UnknownExperiment)
    async def _unknown(_request: Request, exc: UnknownExperiment) -> JSONResponse:
        return JSONResponse(status_code=404, content={"message": exc.message})

    @app.exception_handler(UnknownItems)
    async def _items(_request: Request, exc: UnknownItems) -> JSONResponse:
        return JSONResponse(status_code=422, content={"message": str(exc)})

    @app.exception_handler(InputError)
    async def _input_error(_request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"message": str(exc)})

    @app.exception_handler(AbrecError)
    async def _abrec(_request: Request, exc: AbrecError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"message": f"{type(exc).__name__}: {exc}"})
