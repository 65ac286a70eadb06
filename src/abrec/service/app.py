"""The app factory: :func:`create_app` builds the FastAPI app of one worker process.

Tests run it in process (``httpx.ASGITransport`` or FastAPI's ``TestClient``, which run the lifespan) and as
a real server (``abrec serve``, which runs uvicorn on :func:`app_from_env` in each worker process).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..errors import InputError
from ._gc import tune as tune_gc
from .admin import install_operations
from .api import install_error_handlers, routers
from .auth import router_dependencies
from .config import ServiceConfig, load_service_config
from .fast import FastPath
from .settings import ServiceSettings, load_settings
from .state import Service

__all__ = ["app_from_env", "create_app"]


class BodyLimit:
    """Answer 413 to a request whose Content-Length is larger than ``limit`` bytes, before reading its body."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        too_big = length is not None and length.isdigit() and int(length) > self.limit
        if not too_big:
            await self.app(scope, receive, send)
            return
        await _send_413(send, self.limit)


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps({"message": f"The request body is larger than {limit:,} bytes (max_body_bytes)."}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(settings: ServiceSettings, *, config: ServiceConfig | None = None, process: bool = False) -> FastAPI:
    """The service's FastAPI app: the config's experiments served from ``settings.database_url``.

    Parameters
    ----------
    settings : ServiceSettings
    config : ServiceConfig, optional
        The parsed config; by default read from ``settings.config``.
    process : bool, default False
        Whether the app has its process to itself (a uvicorn worker of `abrec serve`): then, once the service
        has started, the process's garbage collector gets ``settings.gc_threshold`` (abrec.service._gc).
    """
    if config is None:
        if settings.config is None:
            raise InputError("No service config: pass config= or set ABREC_CONFIG to the YAML file.")
        config = load_service_config(settings.config)
    service = Service(settings, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(service.start)
        app.state.service = service
        if process:
            tune_gc(settings.gc_threshold)
        try:
            yield
        finally:
            await run_in_threadpool(service.stop)

    app = FastAPI(
        title="abrec decision service",
        version=__version__,
        description="Decide and reward over HTTP: every decision and reward committed before the answer, policies "
        "learning online from the joined log, the experiment's live readout.",
        lifespan=lifespan,
    )
    for router in routers():  # a client key on /v1 when keys are required (auth.py); no per-request check if not
        app.include_router(router, dependencies=router_dependencies(router) if settings.require_keys else [])
    install_error_handlers(app)
    if settings.fast_path:  # the hot routes below FastAPI's routing (fast.py), inside the metrics and body limit
        app.add_middleware(FastPath, api=app)
    install_operations(app)  # /v1/admin, the dashboard at /, /metrics (admin.py)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app


def app_from_env() -> FastAPI:
    """The app of one uvicorn worker: settings from ``ABREC_*`` (``ABREC_CONFIG`` names the YAML config)."""
    first = load_settings()
    if first.config is None:
        raise InputError("ABREC_CONFIG is not set: it must name the service's YAML config.")
    config = load_service_config(first.config)
    return create_app(load_settings(config.server, config=first.config), config=config, process=True)
