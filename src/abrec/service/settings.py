"""The service's settings: where its database is, how it listens, whether it learns.

Read, lowest priority first, from the config's ``server:`` section, from ``ABREC_*`` environment variables
(``ABREC_DATABASE_URL``, ``ABREC_HOST``, ``ABREC_PORT``, ``ABREC_WORKERS``, ``ABREC_LEARNER``,
``ABREC_POLL_INTERVAL``, ...; the names are the fields' in capitals) and from explicit values (the command
line's options), through pydantic-settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from ..errors import InputError

__all__ = ["ServiceSettings", "load_settings"]


class ServiceSettings(BaseSettings):
    """Settings of one ``abrec serve`` (every worker process reads the same).

    Attributes
    ----------
    config : path of the YAML config (experiments, catalog).
    database_url : SQLAlchemy URL: ``sqlite:///abrec.db`` (default) or ``postgresql+psycopg://...``.
    host, port, workers : where uvicorn listens, and how many worker processes it runs.
    learner : whether this process may run the learner (exactly one process of all holds its lock).
    learner_process : whether ``abrec serve`` runs the learner in a process of its own beside the workers
        (:mod:`abrec.service.learner_process`; the default: it then takes none of the workers' time), or, off,
        in a thread of a worker.
    poll_interval : seconds between the learner's looks at new rewards and the workers' looks at new
        policy snapshots.
    allocation_poll : seconds between the workers' looks at a new allocation period.
    max_batch : most requests in one ``/v1/decide/batch`` or rewards in one ``/v1/rewards`` call.
    max_body_bytes : largest request body accepted (larger: 413).
    cache_dir : folder of the embedding cache (default ``~/.cache/abrec``; ``ABREC_CACHE_DIR``).
    learner_batch : most journal entries the learner folds in one micro-batch.
    require_keys : whether decide, rewards and the readouts need a client (or admin) API key; the admin
        endpoints always need an admin key.
    dashboard_key : whether the read-only dashboard needs an API key (any scope) too.
    fast_path : whether the hot routes (decide, decide/batch, rewards) are served below FastAPI's routing layer
        (abrec.service.fast: the same answers, fewer microseconds); off, FastAPI serves every request.
    log_format : 'json' (one JSON object per line, abrec's and uvicorn's logs; the default) or 'text'
        (abrec.service.logging_json).
    access_log : whether every HTTP request gets an access line (logger abrec.access; about 15-60 us each). Off
        by default: the Prometheus metrics count every request with its latency; ``ABREC_ACCESS_LOG=true`` turns it on.
    snapshot_keep : how many of each variant's newest policy snapshots the learner keeps (it deletes the older
        ones every 10 s); only the newest is ever read, and a learning variant gets one per micro-batch. 0 keeps
        every snapshot.
    gc_threshold : the garbage collector's first threshold in `abrec serve`'s worker and learner processes
        (abrec.service._gc; Python's default is 700: a young collection every 700 allocations). 0 leaves it.
    """

    model_config = SettingsConfigDict(env_prefix="ABREC_", extra="forbid", validate_default=True)

    config: Path | None = None
    database_url: str = "sqlite:///abrec.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    learner: bool = True
    learner_process: bool = True
    poll_interval: float = Field(default=0.1, gt=0, le=60)
    allocation_poll: float = Field(default=1.0, gt=0, le=600)
    max_batch: int = Field(default=1000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    cache_dir: Path | None = None
    learner_batch: int = Field(default=5000, ge=1)
    require_keys: bool = False
    dashboard_key: bool = False
    fast_path: bool = True
    log_format: Literal["json", "text"] = "json"
    access_log: bool = False
    gc_threshold: int = Field(default=20_000, ge=0, le=10_000_000)
    snapshot_keep: int = Field(default=100, ge=0)

    def embedding_cache_dir(self) -> Path:
        """The embedding cache folder: ``cache_dir``, else ``$XDG_CACHE_HOME/abrec``, else ``~/.cache/abrec``."""
        if self.cache_dir is not None:
            return self.cache_dir / "embeddings"
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(base) / "abrec" / "embeddings"


def load_settings(section: Mapping[str, Any] | None = None, **overrides: Any) -> ServiceSettings:
    """Settings from the config's ``server`` section, overridden by ``ABREC_*`` variables, then by ``overrides``.

    ``None`` overrides are ignored (an option not given on the command line). Errors are one
    :class:`~abrec.errors.InputError` naming the setting.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        from_env = EnvSettingsSource(ServiceSettings)()
        return ServiceSettings(**{**dict(section or {}), **from_env, **given})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']} (got {e.get('input')!r})" for e in exc.errors()
        )
        raise InputError(f"Invalid service settings: {problems}.") from exc
