"""API keys on the HTTP API: FastAPI dependencies that let a request through only with a key of the right scope.

- ``/v1/admin/...`` always needs an **admin** key (:func:`admin_key`).
- ``/v1/decide``, ``/v1/rewards``, ``/v1/experiments...`` need a **client** or admin key when the setting
  ``require_keys`` is on (:func:`client_key`; attached to those routers by :func:`router_dependencies`).
- The read-only dashboard needs a key (any scope) when ``dashboard_key`` is on (:func:`dashboard_key`);
  a browser passes it once as ``?key=TOKEN``.

A key is sent as ``Authorization: Bearer TOKEN`` (or ``X-API-Key: TOKEN``). A missing or unknown key is
answered 401, a client key on an admin endpoint 403; the refusal happens before the body is read, so nothing
is changed. Only the SHA-256 of a token's secret is stored and it is compared in constant time
(:func:`abrec.store.admin.verify_token`). A verified client key is remembered for one second per process
(revoking it takes effect within that second on the decide path); admin keys are checked on every request.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ..store.admin import ApiKey, verify_token

__all__ = [
    "AuthError",
    "admin_key",
    "auth_error_response",
    "client_key",
    "dashboard_key",
    "router_dependencies",
]

_bearer = HTTPBearer(auto_error=False, description="An abrec API key: `abrec keys create --scope client|admin`.")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The same key, in another header.")
#: Seconds a verified client key is trusted without asking the database again.
CLIENT_KEY_TTL = 1.0


class AuthError(Exception):
    """A request refused for its key: 401 (none, unknown, revoked) or 403 (a key without the scope)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def auth_error_response(exc: AuthError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="abrec"'} if exc.status == 401 else {}
    return JSONResponse(status_code=exc.status, content={"message": exc.message}, headers=headers)


class _Cache:
    """Verified client keys, by the SHA-256 of the token, for :data:`CLIENT_KEY_TTL` seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[float, ApiKey]] = {}

    def get(self, digest: str) -> ApiKey | None:
        with self._lock:
            found = self._keys.get(digest)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, digest: str, key: ApiKey) -> None:
        with self._lock:
            if len(self._keys) > 10_000:
                self._keys.clear()
            self._keys[digest] = (time.monotonic() + CLIENT_KEY_TTL, key)


def _cache(request: Request) -> _Cache:
    state = request.app.state
    cache = getattr(state, "abrec_key_cache", None)
    if cache is None:
        cache = _Cache()
        state.abrec_key_cache = cache
    return cache


def _service(request: Request) -> Any:
    return getattr(request.app.state, "service", None)


def _setting(request: Request, name: str) -> bool:
    service = _service(request)
    return bool(getattr(getattr(service, "settings", None), name, False))


def _token(request: Request, bearer: HTTPAuthorizationCredentials | None, header: str | None) -> str | None:
    if bearer is not None and bearer.credentials:
        return bearer.credentials
    return header or None


async def _verify(request: Request, token: str | None, *, cached: bool) -> ApiKey:
    if not token:
        raise AuthError(401, "This endpoint needs an API key: send `Authorization: Bearer <token>`.")
    digest = hashlib.sha256(token.encode()).hexdigest()
    cache = _cache(request)
    key = cache.get(digest) if cached else None
    if key is None:
        service = _service(request)
        if service is None or service.store is None:
            raise AuthError(401, "The service is starting: keys cannot be checked yet.")
        key = await run_in_threadpool(verify_token, service.store, token)
        if key is None:
            raise AuthError(401, "Unknown or revoked API key (keys are listed by `abrec keys list`).")
        if cached:
            cache.put(digest, key)
    request.state.api_key = key
    return key


async def client_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header: Annotated[str | None, Security(_header)],
) -> ApiKey | None:
    """A client or admin key, when ``require_keys`` is on (None when the API is open)."""
    if not _setting(request, "require_keys"):
        return None
    return await _verify(request, _token(request, bearer, header), cached=True)


async def admin_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header: Annotated[str | None, Security(_header)],
) -> ApiKey:
    """An admin key, always (checked against the database on every request)."""
    key = await _verify(request, _token(request, bearer, header), cached=False)
    if key.scope != "admin":
        raise AuthError(403, f"Key {key.name!r} is a {key.scope} key; changing experiments needs an admin key.")
    return key


async def dashboard_key(request: Request) -> ApiKey | None:
    """Any key, when ``dashboard_key`` is on: from ``?key=``, the ``Authorization`` or ``X-API-Key`` header."""
    if not _setting(request, "dashboard_key"):
        return None
    token = request.query_params.get("key") or request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if not token and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    return await _verify(request, token, cached=True)


def router_dependencies(router: APIRouter) -> list[Any]:
    """The key check of one of the service's routers: a client key on ``/v1`` routes, none elsewhere."""
    return [Depends(client_key)] if router.prefix.startswith("/v1") else []


def actor(key: ApiKey | None) -> str:
    """How the audit table names who made a change."""
    return "anonymous" if key is None else f"{key.name} ({key.id})"
