"""A Python client of the abrec decision service (``abrec serve``): sync :class:`Client` and async :class:`AsyncClient`.

Both retry what is safe to retry (a connection error, a timeout, a 429, 502, 503 or 504) with exponential
backoff and jitter. Retrying is safe because the service makes every write idempotent: a decision carries a
client request id (generated here when not given), so a retried decide returns the stored decision instead
of deciding twice, and a reward is stored once per (event, item, kind), a retry coming back as
``duplicate``. Any other error answer raises :class:`ServiceError` with the service's message.

Examples
--------
>>> from abrec.client import Client
>>> client = Client("http://127.0.0.1:8000", timeout=2.0)  # doctest: +SKIP
>>> d = client.decide("homepage", unit="user-1", candidates=["a", "b", "c"], k=2)  # doctest: +SKIP
>>> client.reward(d.event_id, d.items[0], value=1.0)  # doctest: +SKIP
RewardStatus(event_id='...', item='a', kind='click', status='stored', position=0, message='')

The client imports nothing of abrec but its errors, so an application needs only ``httpx``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ._ids import time_ordered_ids
from .errors import AbrecError

__all__ = ["AsyncClient", "Client", "Decision", "RewardStatus", "ServiceError"]

_RETRY_STATUS = frozenset({429, 502, 503, 504})


class ServiceError(AbrecError, RuntimeError):
    """The service refused a request (``status``: its HTTP status) or could not be reached (``status`` None).

    ``message`` is the service's explanation; ``body`` the decoded JSON answer (for a rewards call, each
    reward's status).
    """

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body

    def __str__(self) -> str:
        return self.message if self.status is None else f"{self.status}: {self.message}"


@dataclass(frozen=True, slots=True)
class Decision:
    """A decision of the service: send its ``event_id`` with the rewards of its ``items``."""

    event_id: str
    experiment: str
    unit: str
    variant: str
    items: tuple[str, ...]
    propensities: tuple[float, ...]
    scores: tuple[float | None, ...]
    policy: str
    policy_version: str
    snapshot_version: int
    period: int
    assignment_p: float
    request_id: str | None
    replayed: bool
    window_closes_at: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Decision:
        slate = sorted(data["slate"], key=lambda s: s["position"])
        return cls(
            event_id=data["event_id"],
            experiment=data["experiment"],
            unit=data["unit"],
            variant=data["variant"],
            items=tuple(s["item"] for s in slate),
            propensities=tuple(float(s["propensity"]) for s in slate),
            scores=tuple(s.get("score") for s in slate),
            policy=data["policy"],
            policy_version=data["policy_version"],
            snapshot_version=int(data["snapshot_version"]),
            period=int(data["period"]),
            assignment_p=float(data["assignment_p"]),
            request_id=data.get("request_id"),
            replayed=bool(data["replayed"]),
            window_closes_at=data["window_closes_at"],
        )


@dataclass(frozen=True, slots=True)
class RewardStatus:
    """What the service did with one reward: stored, late, duplicate (or conflict, unknown_event, wrong_item)."""

    event_id: str
    item: str
    kind: str
    status: str
    position: int | None
    message: str

    @property
    def ok(self) -> bool:
        """Whether the reward is stored (now, late, or before: a duplicate)."""
        return self.status in ("stored", "late", "duplicate")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RewardStatus:
        return cls(
            data["event_id"], data["item"], data["kind"], data["status"], data.get("position"), data.get("message", "")
        )


def _decide_body(
    experiment: str,
    unit: str,
    candidates: Sequence[str | Mapping[str, str]],
    k: int,
    context: Sequence[float] | None,
    history: Sequence[str] | None,
    request_id: str | None,
    session_id: str,
    step: int,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "experiment": experiment,
        "unit": unit,
        "candidates": [c if isinstance(c, str) else dict(c) for c in candidates],
        "k": k,
        "request_id": request_id or time_ordered_ids(1)[0],
    }
    if context is not None:
        body["context"] = [float(x) for x in context]
    if history is not None:
        body["history"] = list(history)
    if session_id:
        body["session_id"] = session_id
    if step:
        body["step"] = step
    return body


def _reward_body(event_id: str, item: str, value: float, kind: str, position: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"event_id": event_id, "item": item, "kind": kind, "value": float(value)}
    if position is not None:
        body["position"] = position
    return body


def _with_request_ids(requests: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    fresh = iter(time_ordered_ids(len(requests)))
    return [{**r, "request_id": r.get("request_id") or next(fresh)} for r in requests]


def _raise_for(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success:
        return body
    message = body.get("message") if isinstance(body, dict) else None
    raise ServiceError(
        message or f"{response.request.method} {response.request.url.path}: {response.text[:200]}",
        status=response.status_code,
        body=body,
    )


class _Base:
    def __init__(self, retries: int, backoff: float, max_backoff: float) -> None:
        if retries < 0 or backoff < 0 or max_backoff < 0:
            raise ValueError("retries, backoff and max_backoff must be >= 0.")
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter: uniform in [0, min(max_backoff, backoff * 2**attempt)]."""
        return random.uniform(0.0, min(self.max_backoff, self.backoff * 2.0**attempt))

    def _retry(self, attempt: int, response: httpx.Response | None) -> bool:
        return attempt < self.retries and (response is None or response.status_code in _RETRY_STATUS)


class Client(_Base):
    """A synchronous client of the decision service.

    Parameters
    ----------
    base_url : the service's URL, e.g. ``http://127.0.0.1:8000``.
    timeout : seconds per attempt (connect, read, write).
    retries : retries after the first attempt, of what is safe to retry (see the module docstring).
    backoff, max_backoff : the first retry waits up to ``backoff`` seconds, doubling up to ``max_backoff``.
    transport : an httpx transport (tests pass ``httpx.ASGITransport`` or ``httpx.MockTransport``).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(retries, backoff, max_backoff)
        self._http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport, headers=headers)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, json=body)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if not self._retry(attempt, None):
                    raise ServiceError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
            else:
                if not self._retry(attempt, response):
                    return _raise_for(response)
            time.sleep(self._delay(attempt))
            attempt += 1

    def decide(
        self,
        experiment: str,
        *,
        unit: str,
        candidates: Sequence[str | Mapping[str, str]],
        k: int = 1,
        context: Sequence[float] | None = None,
        history: Sequence[str] | None = None,
        request_id: str | None = None,
        session_id: str = "",
        step: int = 0,
    ) -> Decision:
        """One decision; ``candidates`` are ids, or ``{"id": ..., "text": ...}`` for items never seen before."""
        body = _decide_body(experiment, unit, candidates, k, context, history, request_id, session_id, step)
        return Decision.from_json(self._call("POST", "/v1/decide", body))

    def decide_batch(self, requests: Sequence[Mapping[str, Any]]) -> list[Decision]:
        """Many decisions in one call; each request is a decide body (``experiment``, ``unit``, ``candidates``, ...)."""
        data = self._call("POST", "/v1/decide/batch", {"requests": _with_request_ids(requests)})
        return [Decision.from_json(d) for d in data["decisions"]]

    def reward(
        self, event_id: str, item: str, value: float = 1.0, *, kind: str = "click", position: int | None = None
    ) -> RewardStatus:
        """One reward (idempotent on event, item and kind)."""
        data = self._call("POST", "/v1/rewards", {"rewards": [_reward_body(event_id, item, value, kind, position)]})
        return RewardStatus.from_json(data["rewards"][0])

    def rewards(self, rewards: Sequence[Mapping[str, Any]]) -> list[RewardStatus]:
        """Many rewards (each ``{event_id, item, value, kind, position}``); raises if any is rejected."""
        data = self._call("POST", "/v1/rewards", {"rewards": [dict(r) for r in rewards]})
        return [RewardStatus.from_json(r) for r in data["rewards"]]

    def results(self, experiment: str) -> dict[str, Any]:
        """The experiment's live readout and each variant's learning status."""
        out: dict[str, Any] = self._call("GET", f"/v1/experiments/{experiment}/results")
        return out

    def experiments(self) -> list[dict[str, Any]]:
        """The served experiments and the allocation in force."""
        out: list[dict[str, Any]] = self._call("GET", "/v1/experiments")["experiments"]
        return out

    def ready(self) -> bool:
        """Whether the service answers /readyz with 200 (no retries)."""
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False


class AsyncClient(_Base):
    """The asynchronous client: the same methods as :class:`Client`, awaited."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(retries, backoff, max_backoff)
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport, headers=headers)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, path, json=body)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if not self._retry(attempt, None):
                    raise ServiceError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
            else:
                if not self._retry(attempt, response):
                    return _raise_for(response)
            await asyncio.sleep(self._delay(attempt))
            attempt += 1

    async def decide(
        self,
        experiment: str,
        *,
        unit: str,
        candidates: Sequence[str | Mapping[str, str]],
        k: int = 1,
        context: Sequence[float] | None = None,
        history: Sequence[str] | None = None,
        request_id: str | None = None,
        session_id: str = "",
        step: int = 0,
    ) -> Decision:
        """As :meth:`Client.decide`."""
        body = _decide_body(experiment, unit, candidates, k, context, history, request_id, session_id, step)
        return Decision.from_json(await self._call("POST", "/v1/decide", body))

    async def decide_batch(self, requests: Sequence[Mapping[str, Any]]) -> list[Decision]:
        """As :meth:`Client.decide_batch`."""
        data = await self._call("POST", "/v1/decide/batch", {"requests": _with_request_ids(requests)})
        return [Decision.from_json(d) for d in data["decisions"]]

    async def reward(
        self, event_id: str, item: str, value: float = 1.0, *, kind: str = "click", position: int | None = None
    ) -> RewardStatus:
        """As :meth:`Client.reward`."""
        body = {"rewards": [_reward_body(event_id, item, value, kind, position)]}
        return RewardStatus.from_json((await self._call("POST", "/v1/rewards", body))["rewards"][0])

    async def rewards(self, rewards: Sequence[Mapping[str, Any]]) -> list[RewardStatus]:
        """As :meth:`Client.rewards`."""
        data = await self._call("POST", "/v1/rewards", {"rewards": [dict(r) for r in rewards]})
        return [RewardStatus.from_json(r) for r in data["rewards"]]

    async def results(self, experiment: str) -> dict[str, Any]:
        """As :meth:`Client.results`."""
        out: dict[str, Any] = await self._call("GET", f"/v1/experiments/{experiment}/results")
        return out

    async def experiments(self) -> list[dict[str, Any]]:
        """As :meth:`Client.experiments`."""
        out: list[dict[str, Any]] = (await self._call("GET", "/v1/experiments"))["experiments"]
        return out

    async def ready(self) -> bool:
        """As :meth:`Client.ready`."""
        try:
            return (await self._http.get("/readyz")).status_code == 200
        except httpx.HTTPError:
            return False
