"""``abrec serve CONFIG``: run the decision service (uvicorn, N worker processes, and the learner's own process)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InputError

if TYPE_CHECKING:
    from ..service.settings import ServiceSettings


def serve(
    config: Annotated[Path, typer.Argument(help="The service's YAML config (experiments, catalog, server).")],
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default 127.0.0.1; ABREC_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000; ABREC_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default 1; ABREC_WORKERS); the learner runs beside them.")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="sqlite:///abrec.db (default) or postgresql+psycopg://...; ABREC_DATABASE_URL."),
    ] = None,
    learner: Annotated[
        bool | None, typer.Option("--learner/--no-learner", help="Whether these processes may run the learner.")
    ] = None,
) -> None:
    """Serve the config's experiments over HTTP: /v1/decide, /v1/rewards, /v1/experiments/{id}/results.

    Settings come from the config's server: section, overridden by ABREC_* environment variables, overridden
    by these options. The database must be at the current schema (abrec db upgrade).
    """
    import uvicorn  # the 'serve' extra: imported only when serving

    from ..service.config import load_service_config
    from ..service.settings import load_settings
    from ..store import EventStore

    if not config.is_file():
        raise InputError(f"{config}: no such config file.")
    parsed = load_service_config(config)
    settings = load_settings(
        parsed.server,
        config=config.resolve(),
        host=host,
        port=port,
        workers=workers,
        database_url=database_url,
        learner=learner,
    )
    EventStore(settings.database_url).close()  # an unreachable or outdated database: one error line, now
    # Every worker process builds its app from the environment (uvicorn imports the factory in each one).
    os.environ["ABREC_CONFIG"] = str(settings.config)
    os.environ["ABREC_DATABASE_URL"] = settings.database_url
    os.environ["ABREC_LEARNER"] = "true" if settings.learner else "false"
    os.environ["ABREC_LEARNER_PROCESS"] = "true" if settings.learner_process else "false"
    os.environ["ABREC_WORKERS"] = str(settings.workers)
    import logging

    from ..service.logging_json import configure_logging

    os.environ["ABREC_LOG_FORMAT"] = settings.log_format
    # this process's lines too: every stderr line in one format
    configure_logging(settings.log_format, access_log=settings.access_log)
    logging.getLogger("abrec.serve").info(
        f"abrec: serving {', '.join(e.name for e in parsed.experiments)} on http://{settings.host}:{settings.port} "
        f"with {settings.workers} worker(s)"
    )
    # uvicorn shuts down gracefully on SIGTERM (in-flight requests, then the lifespan: group committer flushed,
    # database closed; a worker's learner thread drained) and then raises the signal again: a graceful stop exits
    # 0, once the learner process (which ignores the signal) has learned what is pending and exited.
    signal.signal(signal.SIGTERM, _stopped)
    learner_process = None
    if settings.learner and settings.learner_process:  # the learner beside the workers, not in one of them
        from ..service.learner_process import LearnerProcess

        learner_process = LearnerProcess(dict(os.environ))
        learner_process.start()
        os.environ["ABREC_LEARNER"] = "false"
    try:
        _run(uvicorn, settings)
    finally:  # after the workers' last answers: the learner learns what is pending, then exits
        if learner_process is not None:
            learner_process.stop()


def _run(uvicorn: Any, settings: ServiceSettings) -> None:
    from ..service.logging_json import log_config

    uvicorn.run(
        "abrec.service.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=log_config(settings.log_format, access_log=settings.access_log),
        log_level="info",
        access_log=False,  # abrec.access lines (with the duration) come from the metrics middleware
        timeout_graceful_shutdown=10,
        # a worker's start (imports, policies warmed up: compiled kernels) takes seconds on a busy machine: uvicorn
        # would kill and restart it, forever, when it does not answer its supervisor's ping within the default 5 s
        timeout_worker_healthcheck=60,
    )


def _stopped(signum: int, frame: FrameType | None) -> None:
    """SIGTERM outside uvicorn's own handling (re-raised after its graceful shutdown, or before it started)."""
    raise SystemExit(0)
