"""The hot routes served below FastAPI's routing layer: the same answers, without its per-request machinery.

``POST /v1/decide``, ``/v1/decide/batch`` and ``/v1/rewards`` carry almost all of a service's traffic, and
FastAPI's routing, dependency solving and request handling took about a third of the event loop's time on
them. :class:`FastPath` is an ASGI middleware (inside the body limit and the metrics middleware, so both
still apply) that serves those three routes itself, the same way FastAPI does:

1. the body is read and parsed (orjson where installed) and validated by the route's own pydantic model
   (:mod:`.models`), in Python mode as FastAPI does;
2. the client key is checked by the same code as the route's dependency (:func:`.auth.client_key`) when keys
   are required;
3. the route's own function (:func:`.api.decide_one`, :func:`.api.decide_many`, :func:`.api.store_rewards`)
   answers, and an error it raises is answered by the app's exception handler for it.

Anything it does not serve plainly goes to FastAPI untouched (the body read so far is replayed): another route
or method, a body that does not parse or validate (so every 422 for a malformed body is FastAPI's own), a
``Content-Type`` other than ``application/json``, a request before the service has started, and the first call
of each route (FastAPI's router names the route that the metrics count the later calls under). The OpenAPI
document and the routes themselves stay FastAPI's. The setting ``fast_path`` (``ABREC_FAST_PATH=false``) turns
it off; tests send the same bodies both ways and compare the answers byte for byte (event ids and times aside).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .api import decide_many, decide_one, store_rewards
from .auth import _bearer, _header, client_key
from .models import DecideBatchRequest, DecideRequest, RewardsRequest

__all__ = ["FastPath"]

_Handler = Callable[[Any, Any], Awaitable[Response]]
_HOT: dict[str, tuple[type[BaseModel], _Handler]] = {
    "/v1/decide": (DecideRequest, decide_one),
    "/v1/decide/batch": (DecideBatchRequest, decide_many),
    "/v1/rewards": (RewardsRequest, store_rewards),
}


def _json_loader() -> Callable[[bytes], Any]:
    try:  # the 'serve' extra's fast JSON reader; where it refuses a body (NaN, 1e400, a lone surrogate, a
        import orjson  # BOM, an int past 64 bits in an int field), FastAPI's own json.loads answers instead

        loads: Callable[[bytes], Any] = orjson.loads
    except ImportError:  # pragma: no cover - an install without it
        loads = json.loads
    return loads


_loads = _json_loader()


class FastPath:
    """Serve the hot routes of ``api`` (see the module docstring); everything else goes on to ``app``.

    Parameters
    ----------
    app : the rest of the ASGI stack (FastAPI's exception middleware and router).
    api : the FastAPI app: its exception handlers and service (``api.state.service``, set by the lifespan).

    Attributes
    ----------
    served : int
        Requests answered here so far (the others went on to FastAPI, the first call of each route included:
        its router names the route that the metrics count the later calls under).
    """

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.api = api
        #: The route object FastAPI's router chose for each hot path (learned from its first call).
        self._routes: dict[str, Any] = {}
        self.served = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = _HOT.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        service = getattr(self.api.state, "service", None)
        if hot is None or service is None or scope.get("root_path") or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        route = self._routes.get(scope["path"])
        if route is None:  # the first call of a route: FastAPI serves it, and its router says which route it is
            await self.app(scope, receive, send)
            if scope.get("route") is not None:
                self._routes[scope["path"]] = scope["route"]
            return
        messages, body = await _read(receive)
        model, answer = hot
        parsed = None if body is None else _parse(model, body)
        if parsed is None:  # FastAPI answers (its 422 for a malformed body), from the body already read
            await self.app(scope, _replay(messages, receive), send)
            return
        self.served += 1
        scope["route"] = route  # the metrics count it under the route's template, as FastAPI's router sets it
        request = Request(scope, receive)
        try:
            if service.settings.require_keys:  # the router's dependency, called directly
                await client_key(request, await _bearer(request), await _header(request))
            response = await answer(service, parsed)
        except Exception as exc:
            handler = self._exception_handler(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _exception_handler(self, exc: Exception) -> Callable[[Request, Exception], Awaitable[Response]] | None:
        """The app's handler for ``exc`` (the nearest class in its MRO), as Starlette's exception middleware finds
        it; None for an error it leaves to the server error middleware (a 500)."""
        handlers: dict[Any, Any] = self.api.exception_handlers
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None
            if cls in handlers:
                found: Callable[[Request, Exception], Awaitable[Response]] = handlers[cls]
                return found
        return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value.lower() == b"application/json")
    return False


async def _read(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The request's messages and its whole body (None when the client went away first)."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _parse(model: type[BaseModel], body: bytes) -> BaseModel | None:
    """``body`` as a valid ``model``, validated as FastAPI validates a JSON body; None when it is not one."""
    try:
        data = _loads(body)
    except Exception:
        return None
    if not isinstance(data, dict):
        return None
    try:
        return model.model_validate(data, from_attributes=True)
    except ValidationError:
        return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands out ``messages`` first, then the connection's own."""
    queue = list(messages)

    async def replay() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replay
