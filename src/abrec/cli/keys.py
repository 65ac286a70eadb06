"""``abrec keys create|list|revoke``: the decision service's API keys.

``create`` prints the token once (only the SHA-256 of its secret is stored: a lost token cannot be shown
again; create another and revoke the lost one). A ``client`` key may decide and reward; an ``admin`` key may
also change experiments (``/v1/admin/...``). Creating and revoking keys are written to the audit table.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from ._help import ReadableCommand
from .db import DATABASE_URL_HELP, ENV_VAR, load_store

__all__ = ["app"]

app = typer.Typer(
    name="keys",
    help="API keys of the decision service (client: decide and reward; admin: also change experiments).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

Url = Annotated[str | None, typer.Option("--database-url", envvar=ENV_VAR, help=DATABASE_URL_HELP)]


class Scope(StrEnum):
    client = "client"
    admin = "admin"


def _open(url: str | None) -> Any:
    store = load_store()
    return store.EventStore(store.database_url(url))


@app.command("create", cls=ReadableCommand)
def create(
    name: Annotated[str, typer.Option("--name", help="Who uses the key (shown in the audit trail).")] = "default",
    scope: Annotated[Scope, typer.Option("--scope", help="client (decide, reward) or admin (also change).")] = (
        Scope.client
    ),
    url: Url = None,
) -> None:
    """Create a key and print its token once (store it in your secret manager: it cannot be shown again)."""
    from ..store.admin import create_key

    with _open(url) as store:
        token, key = create_key(store, name, scope.value, actor="cli")
    typer.echo(token)
    typer.echo(f"created {key.scope} key {key.id} ({key.name}); the token above is shown only now", err=True)


@app.command("list", cls=ReadableCommand)
def list_keys(url: Url = None) -> None:
    """List the keys: id, scope, name, created, revoked (never the tokens)."""
    from ..store.admin import keys

    with _open(url) as store:
        found = keys(store)
    if not found:
        typer.echo("no keys (create one with `abrec keys create --scope client|admin`)")
        return
    typer.echo(f"{'id':<16}  {'scope':<6}  {'created (UTC)':<19}  {'revoked (UTC)':<19}  name")
    for k in found:
        revoked = k.revoked_at.isoformat(timespec="seconds")[:19] if k.revoked_at else "-"
        created = k.created_at.isoformat(timespec="seconds")[:19]
        typer.echo(f"{k.id:<16}  {k.scope:<6}  {created:<19}  {revoked:<19}  {k.name}")


@app.command("revoke", cls=ReadableCommand)
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (`abrec keys list`).")], url: Url = None) -> None:
    """Revoke a key: every request with it is refused from now on (within a second on the decide path)."""
    from ..store.admin import revoke_key

    with _open(url) as store:
        key = revoke_key(store, key_id, actor="cli")
    typer.echo(f"revoked {key.scope} key {key.id} ({key.name})")
