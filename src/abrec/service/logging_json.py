"""The service's logs: one JSON object per line (the default of ``abrec serve``), or plain text.

Every record, abrec's and uvicorn's (``uvicorn.error``: startup, shutdown, errors; ``uvicorn.access`` when it is
turned on), is written to stderr by one handler whose formatter is chosen by the setting ``log_format``
(``ABREC_LOG_FORMAT=json|text``; ``ABREC_ACCESS_LOG=false`` drops the access lines). A JSON line has
``timestamp`` (UTC, ISO 8601 with microseconds), ``level``, ``logger`` and ``message``, the exception's traceback
as ``exception`` when there is one, and every field a record carries among :data:`FIELDS`. Access lines (logger
``abrec.access``, one per HTTP request, written by :func:`log_access` from the metrics middleware, which times
every request) carry ``method``, ``path``, ``route`` (the template, e.g. ``/v1/experiments/{name}/results``),
``status``, ``duration_ms`` and ``client``, and ``experiment`` when the path names one::

    {"timestamp": "2026-12-06T07:01:02.123456+00:00", "level": "INFO", "logger": "abrec.access",
     "message": "GET /v1/experiments/home/results 200 3.1 ms", "method": "GET", "path": "/v1/experiments/home/results",
     "route": "/v1/experiments/{name}/results", "status": 200, "duration_ms": 3.1, "client": "127.0.0.1",
     "experiment": "home"}

:func:`log_config` is the :func:`logging.config.dictConfig` mapping that ``abrec serve`` hands to uvicorn (which
applies it in every worker process); :func:`configure_logging` applies it in this process.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["FIELDS", "JsonFormatter", "configure_logging", "log_access", "log_config"]

LogFormat = Literal["json", "text"]
#: The extra fields a record may carry into its JSON line.
FIELDS = ("method", "path", "route", "status", "duration_ms", "client", "experiment", "variant", "event")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
ACCESS = logging.getLogger("abrec.access")


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object on one line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, default=str, ensure_ascii=False)


def log_config(log_format: LogFormat = "json", level: str = "INFO", *, access_log: bool = True) -> dict[str, Any]:
    """The logging configuration of the service: one stderr handler in ``log_format`` for abrec's and uvicorn's
    loggers, at ``level``; without ``access_log``, no access lines (``abrec.access`` at WARNING)."""
    if log_format not in ("json", "text"):
        raise ValueError(f"log_format is 'json' or 'text'; got {log_format!r}.")
    formatter: dict[str, Any] = {"()": f"{__name__}.JsonFormatter"} if log_format == "json" else {"format": TEXT_FORMAT}
    logger = {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"abrec": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "abrec", "stream": "ext://sys.stderr"}},
        "loggers": {
            "abrec": logger,
            "abrec.access": {"level": level.upper() if access_log else "WARNING"},
            "uvicorn": dict(logger),
            "uvicorn.error": {"level": level.upper()},
        },
    }


def configure_logging(log_format: LogFormat = "json", level: str = "INFO", *, access_log: bool = True) -> None:
    """Apply :func:`log_config` to this process."""
    logging.config.dictConfig(log_config(log_format, level, access_log=access_log))


def log_access(
    method: str, path: str, route: str, status: int, seconds: float, client: str | None, experiment: str | None
) -> None:
    """Write the access line of one answered request (logger ``abrec.access``; nothing when it is off)."""
    if not ACCESS.isEnabledFor(logging.INFO):
        return
    ms = round(seconds * 1000.0, 3)
    ACCESS.info(
        "%s %s %d %.1f ms",
        method,
        path,
        status,
        ms,
        extra={
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": ms,
            "client": client,
            "experiment": experiment,
        },
    )
