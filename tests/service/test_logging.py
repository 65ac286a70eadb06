"""Structured logs: a real ``abrec serve`` writes one JSON object per stderr line (abrec's and uvicorn's), or text.

The server's stderr (its log file) is read after requests and a graceful stop: every line parses, with
timestamp, level, logger and message; each request has an access line with method, path, route, status and
duration, and the experiment when the path names one; uvicorn's own lines are there in the same format.
``ABREC_LOG_FORMAT=text`` gives plain lines instead.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from _server import start_server
from _service_config import config_mapping, experiment

from abrec.service.logging_json import JsonFormatter, log_config


def _serve_and_stop(tmp_path: Path, url: str, env: dict[str, str]) -> str:
    config = tmp_path / "service.yaml"
    config.write_text(yaml.safe_dump(config_mapping(experiment())))
    server = start_server(config, url, env=env, log_path=tmp_path / f"server-{len(env)}.log")
    try:
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            body = {"experiment": "home", "unit": "u1", "candidates": ["a", "b", "c"]}
            assert client.post("/v1/decide", json=body).status_code == 200
            assert client.get("/v1/experiments/home/results").status_code == 200
            assert client.get("/v1/experiments/nope/results").status_code == 404
    finally:
        server.stop()
    assert server.process.returncode == 0
    return server.log()


def test_the_server_logs_one_json_object_per_line_with_access_fields(tmp_path: Path) -> None:
    from abrec.store import upgrade

    url = f"sqlite:///{tmp_path / 'abrec.db'}"
    upgrade(url)
    text = _serve_and_stop(tmp_path, url, {"ABREC_ACCESS_LOG": "true"})  # json is the default of abrec serve
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is JSON
    assert len(lines) >= 8
    for line in lines:
        assert {"timestamp", "level", "logger", "message"} <= set(line), line
        assert datetime.fromisoformat(line["timestamp"]).utcoffset() is not None
    access = [line for line in lines if line["logger"] == "abrec.access"]
    decide = next(a for a in access if a["path"] == "/v1/decide")
    assert (decide["method"], decide["status"], decide["route"]) == ("POST", 200, "/v1/decide")
    assert isinstance(decide["duration_ms"], float) and decide["duration_ms"] > 0 and decide["client"] == "127.0.0.1"
    results = next(a for a in access if a["path"] == "/v1/experiments/home/results")
    assert results["route"] == "/v1/experiments/{name}/results" and results["experiment"] == "home"
    missing = next(a for a in access if a["path"] == "/v1/experiments/nope/results")
    assert missing["status"] == 404 and missing["level"] == "INFO"
    uvicorn = {line["message"] for line in lines if line["logger"].startswith("uvicorn")}
    assert "Application startup complete." in uvicorn and "Application shutdown complete." in uvicorn
    assert any(line["logger"] == "abrec.serve" and "serving home" in line["message"] for line in lines)


def test_abrec_log_format_text_gives_plain_lines(tmp_path: Path) -> None:
    from abrec.store import upgrade

    url = f"sqlite:///{tmp_path / 'abrec.db'}"
    upgrade(url)
    text = _serve_and_stop(tmp_path, url, {"ABREC_LOG_FORMAT": "text", "ABREC_ACCESS_LOG": "true"})
    lines = [line for line in text.splitlines() if line.strip()]
    assert not any(line.startswith("{") for line in lines)
    assert any(" INFO abrec.access POST /v1/decide 200 " in line for line in lines), lines[:5]
    assert any(" INFO uvicorn.error Application startup complete." in line for line in lines)


def test_the_json_formatter_keeps_the_traceback_and_the_extra_fields() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("abrec.service", logging.ERROR, __file__, 1, "failed %s", ("x",), sys.exc_info())
    record.experiment = "home"
    out: dict[str, Any] = json.loads(JsonFormatter().format(record))
    assert out["message"] == "failed x" and out["level"] == "ERROR" and out["experiment"] == "home"
    assert "ValueError: boom" in out["exception"] and "\n" not in JsonFormatter().format(record)
    assert log_config("text")["formatters"]["abrec"] == {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    assert log_config(access_log=False)["loggers"]["abrec.access"] == {"level": "WARNING"}  # ABREC_ACCESS_LOG=false
