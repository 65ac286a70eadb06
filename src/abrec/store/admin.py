"""What the admin side of the service stores: API keys (hashes only) and the audit trail of every change.

Functions taking an :class:`~abrec.store.EventStore`; each change is one serialised write transaction that
also appends its :class:`AuditEntry` (who, what, when), so a change is never stored without its audit row.

API keys are tokens ``abrec_<id>_<secret>`` (16 + 64 hex digits). The database keeps the id, a name, the
scope (``client``: decide and reward; ``admin``: also change experiments) and the SHA-256 of the secret; the
token itself is shown once, when the key is created. The secret is 256 random bits, so an unsalted hash is
enough (nothing to brute-force); :func:`verify_token` compares hashes in constant time.

Examples
--------
>>> import pathlib, tempfile
>>> from abrec.store import EventStore, upgrade
>>> url = f"sqlite:///{pathlib.Path(tempfile.mkdtemp()) / 'abrec.db'}"
>>> _ = upgrade(url)
>>> store = EventStore(url)
>>> token, key = create_key(store, "ci", "admin", actor="test")
>>> verify_token(store, token).name, verify_token(store, token + "0"), key.scope
('ci', None, 'admin')
>>> _ = revoke_key(store, key.id, actor="test")
>>> verify_token(store, token) is None, [e.action for e in audit_log(store)]
(True, ['key.revoke', 'key.create'])
>>> store.close()
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa

from ..errors import InputError, UnknownNameError
from . import _rows, schema
from .event_store import EventStore
from .records import AllocationRow, ExperimentStatus, Snapshot

__all__ = [
    "SCOPES",
    "ApiKey",
    "AuditEntry",
    "audit_log",
    "create_experiment",
    "create_key",
    "find_key",
    "hash_secret",
    "keys",
    "parse_token",
    "record",
    "revoke_key",
    "rollback_policy",
    "serving_states",
    "set_status",
    "set_weights",
    "verify_token",
]

Scope = Literal["client", "admin"]
SCOPES: tuple[Scope, ...] = ("client", "admin")
_TOKEN = re.compile(r"^abrec_([0-9a-f]{16})_([0-9a-f]{64})$")
_K, _A = schema.api_keys, schema.audit
#: Compared against when a token names no key, so a miss costs the same as a wrong secret.
_DUMMY = hashlib.sha256(b"abrec: no such key").hexdigest()


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    """A stored API key: never the token, only the SHA-256 of its secret (``hash``)."""

    id: str
    name: str
    scope: Scope
    created_at: datetime
    revoked_at: datetime | None = None
    hash: str = field(default="", repr=False)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    """One change: ``actor`` (the key's name, or ``cli``) did ``action`` to ``experiment`` at ``at``."""

    seq: int
    at: datetime
    actor: str
    action: str
    experiment: str | None
    details: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "experiment": self.experiment,
            "details": dict(self.details),
        }


# -- tokens ---------------------------------------------------------------------------------------------------


def hash_secret(secret: str) -> str:
    """The stored form of a token's secret: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a well-formed token, else None."""
    match = _TOKEN.match(token)
    return None if match is None else (match.group(1), match.group(2))


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else now


@contextmanager
def _changing(store: EventStore) -> Iterator[sa.Connection]:
    with store._writing() as connection:  # the store's serialised, durable write transaction
        yield connection


def _record(
    connection: sa.Connection,
    *,
    actor: str,
    action: str,
    experiment: str | None,
    details: Mapping[str, Any],
    now: datetime,
) -> None:
    text = json.dumps(dict(details), sort_keys=True, allow_nan=False, default=str)
    values = {"at": _rows.ts(now), "actor": actor, "action": action, "experiment": experiment, "details": text}
    connection.execute(sa.insert(_A), values)


# -- keys -----------------------------------------------------------------------------------------------------


def create_key(
    store: EventStore, name: str, scope: str, *, actor: str, now: datetime | None = None
) -> tuple[str, ApiKey]:
    """Create a key; returns ``(token, key)``. The token is not stored anywhere: show it once."""
    if scope not in SCOPES:
        raise InputError(
            f"A key's scope is 'client' (decide, reward) or 'admin' (also change experiments); got {scope!r}."
        )
    if not isinstance(name, str) or not name.strip() or len(name) > 200 or "\x00" in name:
        raise InputError(f"A key needs a name (1 to 200 characters) saying who uses it; got {name!r}.")
    key_id, secret = secrets.token_hex(8), secrets.token_hex(32)
    moment = _now(now)
    key = ApiKey(id=key_id, name=name, scope=scope, created_at=moment, hash=hash_secret(secret))  # type: ignore[arg-type]
    with _changing(store) as connection:
        values = {"id": key_id, "name": name, "scope": scope, "hash": key.hash, "created_at": _rows.ts(moment)}
        connection.execute(sa.insert(_K), values)
        details = {"key": key_id, "name": name, "scope": scope}
        _record(connection, actor=actor, action="key.create", experiment=None, details=details, now=moment)
    return f"abrec_{key_id}_{secret}", key


def _key_row(row: sa.RowMapping) -> ApiKey:
    revoked = row["revoked_at"]
    return ApiKey(
        id=row["id"],
        name=row["name"],
        scope=row["scope"],
        created_at=_rows.dt(row["created_at"]),
        revoked_at=None if revoked is None else _rows.dt(revoked),
        hash=row["hash"],
    )


def keys(store: EventStore) -> list[ApiKey]:
    """Every key, oldest first (revoked ones included)."""
    with store._reading() as connection:
        rows = connection.execute(sa.select(*_K.c).order_by(_K.c.created_at, _K.c.id)).mappings().all()
    return [_key_row(r) for r in rows]


def find_key(store: EventStore, key_id: str) -> ApiKey | None:
    """The key with id ``key_id`` (None when there is none)."""
    with store._reading() as connection:
        row = connection.execute(sa.select(*_K.c).where(_K.c.id == key_id)).mappings().first()
    return None if row is None else _key_row(row)


def revoke_key(store: EventStore, key_id: str, *, actor: str, now: datetime | None = None) -> ApiKey:
    """Revoke key ``key_id`` from now on (revoking it again keeps the first time)."""
    moment = _now(now)
    with _changing(store) as connection:
        row = connection.execute(sa.select(*_K.c).where(_K.c.id == key_id)).mappings().first()
        if row is None:
            known = list(connection.execute(sa.select(_K.c.id)).scalars())
            raise UnknownNameError("API key", key_id, known)
        if row["revoked_at"] is None:
            connection.execute(sa.update(_K).where(_K.c.id == key_id).values(revoked_at=_rows.ts(moment)))
            details = {"key": key_id, "name": row["name"], "scope": row["scope"]}
            _record(connection, actor=actor, action="key.revoke", experiment=None, details=details, now=moment)
    found = find_key(store, key_id)
    assert found is not None
    return found


def verify_token(store: EventStore, token: str) -> ApiKey | None:
    """The active key that ``token`` belongs to, or None (malformed, unknown, wrong secret or revoked)."""
    parsed = parse_token(token)
    key = find_key(store, parsed[0]) if parsed is not None else None
    given = hash_secret(parsed[1] if parsed is not None else token)
    stored = key.hash if key is not None else _DUMMY
    same = hmac.compare_digest(given.encode(), stored.encode())
    if key is None or not same or not key.active:
        return None
    return key


# -- the audit trail ------------------------------------------------------------------------------------------


def audit_log(
    store: EventStore, experiment: str | None = None, *, limit: int = 100, actions: Sequence[str] | None = None
) -> list[AuditEntry]:
    """The newest ``limit`` changes (of ``experiment``, or all; of ``actions``, or all), newest first."""
    query = sa.select(*_A.c).order_by(_A.c.seq.desc()).limit(limit)
    if experiment is not None:
        query = query.where(_A.c.experiment == experiment)
    if actions is not None:
        query = query.where(_A.c.action.in_(list(actions)))
    with store._reading() as connection:
        rows = connection.execute(query).mappings().all()
    return [
        AuditEntry(
            seq=int(r["seq"]),
            at=_rows.dt(r["at"]),
            actor=r["actor"],
            action=r["action"],
            experiment=r["experiment"],
            details=json.loads(r["details"]),
        )
        for r in rows
    ]


# -- experiment changes ---------------------------------------------------------------------------------------


def _experiment(connection: sa.Connection, name: str) -> sa.RowMapping:
    e = schema.experiments
    row = connection.execute(sa.select(*e.c).where(e.c.name == name)).mappings().first()
    if row is None:
        raise UnknownNameError("experiment", name, list(connection.execute(sa.select(e.c.name)).scalars()))
    return row


def create_experiment(
    store: EventStore,
    name: str,
    config: Mapping[str, Any],
    allocation: AllocationRow,
    *,
    reward_kind: str,
    actor: str,
    now: datetime | None = None,
) -> None:
    """Store a new experiment (config, reward kind, first allocation); one that exists already is refused."""
    moment = _now(now)
    e = schema.experiments
    text = json.dumps(dict(config), sort_keys=True, allow_nan=False)
    with _changing(store) as connection:
        if connection.execute(sa.select(e.c.name).where(e.c.name == name)).first() is not None:
            raise InputError(
                f"Experiment {name!r} exists already; an experiment keeps its definition: use another name."
            )
        values = {"name": name, "config": text, "status": "running", "reward_kind": reward_kind}
        connection.execute(sa.insert(e), {**values, "created_at": _rows.ts(moment)})
        store._insert_allocation(connection, allocation)
        details = {"config": dict(config), "weights": dict(allocation.weights)}
        _record(connection, actor=actor, action="create", experiment=name, details=details, now=moment)


def set_weights(
    store: EventStore, experiment: str, weights: Mapping[str, float], *, actor: str, now: datetime | None = None
) -> AllocationRow:
    """Start the next allocation period with ``weights`` (every variant of the experiment, normalised).

    The assignment experiment is reweighted (:meth:`abrec.abtest.assignment.Experiment.reweight`), and units
    already assigned keep their variant (the service's sticky assignments); new units follow the new weights.
    """
    moment = _now(now)
    with _changing(store) as connection:
        _experiment(connection, experiment)
        a = schema.allocations
        query = sa.select(*a.c).where(a.c.experiment == experiment).order_by(a.c.period.desc()).limit(1)
        r = connection.execute(query).mappings().one()
        current = AllocationRow(
            experiment=experiment,
            period=r["period"],
            weights=json.loads(r["weights"]),
            ranges=tuple(tuple(x) for x in json.loads(r["ranges"])),
            salt=r["salt"],
            started_at=_rows.dt(r["started_at"]),
        )
        _check_weights(experiment, weights, list(current.weights))
        try:
            reweighted = current.to_experiment().reweight(dict(weights))
        except (ValueError, InputError) as exc:
            raise InputError(f"Cannot use weights {dict(weights)} for experiment {experiment!r}: {exc}") from exc
        row = AllocationRow.from_experiment(reweighted, period=current.period + 1, started_at=moment)
        store._insert_allocation(connection, row)
        details = {"period": row.period, "weights": dict(row.weights), "before": dict(current.weights)}
        _record(connection, actor=actor, action="weights", experiment=experiment, details=details, now=moment)
    return row


def _check_weights(experiment: str, weights: Mapping[str, float], variants: Sequence[str]) -> None:
    if set(weights) != set(variants):
        raise InputError(
            f"Give a weight for every variant of experiment {experiment!r} ({', '.join(variants)}); "
            f"got {', '.join(weights) or 'none'}. A variant is stopped with weight 0, not left out."
        )
    values = list(weights.values())
    if any(not (v >= 0 and v < float("inf")) for v in values) or sum(values) <= 0:
        raise InputError(f"Weights must be finite, >= 0 and not all 0; got {dict(weights)}.")


def set_status(
    store: EventStore,
    experiment: str,
    status: ExperimentStatus,
    *,
    action: str,
    actor: str,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> str:
    """Set ``experiment``'s status and record ``action``; returns the status it had before."""
    moment = _now(now)
    e = schema.experiments
    with _changing(store) as connection:
        before = str(_experiment(connection, experiment)["status"])
        connection.execute(sa.update(e).where(e.c.name == experiment).values(status=status))
        info = {"from": before, "to": status, **dict(details or {})}
        _record(connection, actor=actor, action=action, experiment=experiment, details=info, now=moment)
    return before


def rollback_policy(
    store: EventStore, experiment: str, variant: str, version: int, *, actor: str, now: datetime | None = None
) -> Snapshot:
    """Serve snapshot ``version`` of ``variant`` again: a new snapshot (the next version) with its state.

    The new snapshot's ``journal_seq`` is the variant's last journal entry, so what was learned after
    ``version`` is dropped from the policy (it stays in the journal and the log), and learning goes on from
    the restored state. Workers load it like any newer snapshot.
    """
    moment = _now(now)
    s, j = schema.snapshots, schema.journal
    key = (s.c.experiment == experiment) & (s.c.variant == variant)
    with _changing(store) as connection:
        _experiment(connection, experiment)
        old = connection.execute(sa.select(*s.c).where(key & (s.c.version == version))).mappings().first()
        if old is None:
            versions = connection.execute(sa.select(s.c.version).where(key).order_by(s.c.version)).scalars()
            raise UnknownNameError(f"snapshot version of {experiment}/{variant}", str(version), map(str, versions))
        latest = int(connection.execute(sa.select(sa.func.max(s.c.version)).where(key)).scalar() or 0)
        seq_query = sa.select(sa.func.max(j.c.seq)).where((j.c.experiment == experiment) & (j.c.variant == variant))
        journal_seq = int(connection.execute(seq_query).scalar() or 0)
        snap = Snapshot(
            experiment=experiment,
            variant=variant,
            version=latest + 1,
            journal_seq=journal_seq,
            policy=old["policy"],
            state=bytes(old["state"]),
            created_at=moment,
        )
        values = {
            "experiment": experiment,
            "variant": variant,
            "version": snap.version,
            "journal_seq": journal_seq,
            "policy": snap.policy,
            "state": snap.state,
            "created_at": _rows.ts(moment),
        }
        connection.execute(sa.insert(s), values)
        details = {"variant": variant, "to_version": version, "from_version": latest, "new_version": snap.version}
        _record(connection, actor=actor, action="rollback", experiment=experiment, details=details, now=moment)
    return snap


def record(
    store: EventStore,
    experiment: str,
    action: str,
    details: Mapping[str, Any],
    *,
    actor: str,
    now: datetime | None = None,
) -> None:
    """Record ``action`` on ``experiment`` (which must exist) with ``details``: e.g. an offline estimate."""
    moment = _now(now)
    with _changing(store) as connection:
        _experiment(connection, experiment)
        _record(connection, actor=actor, action=action, experiment=experiment, details=details, now=moment)


def serving_states(store: EventStore) -> dict[str, tuple[str, str | None]]:
    """Each experiment's status and, when paused or stopped, the variant whose policy serves everyone."""
    e = schema.experiments
    out: dict[str, tuple[str, str | None]] = {}
    with store._reading() as connection:
        for name, status in connection.execute(sa.select(e.c.name, e.c.status)):
            serve = None
            if status != "running":
                query = (
                    sa.select(_A.c.details)
                    .where((_A.c.experiment == name) & _A.c.action.in_(("pause", "stop")))
                    .order_by(_A.c.seq.desc())
                    .limit(1)
                )
                found = connection.execute(query).scalar()
                serve = json.loads(found).get("serve") if found else None
            out[name] = (str(status), serve)
    return out
