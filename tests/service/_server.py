"""Start ``abrec serve`` as a real process for tests and benchmarks, and stop it (gently or with ``kill -9``).

>>> server = start_server(config_path, database_url)        # doctest: +SKIP
>>> server.url                                               # doctest: +SKIP
'http://127.0.0.1:53127'
>>> server.kill()          # SIGKILL, no cleanup: a crash     # doctest: +SKIP
>>> server = server.restart()  # same config, database and port  # doctest: +SKIP
>>> server.stop()          # SIGTERM, then SIGKILL after a timeout  # doctest: +SKIP

The process runs in its own process group (uvicorn's workers die with it) and its output goes to a log file
(``server.log_path``) so a test failing to start it can show why.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running ``abrec serve`` process."""

    process: subprocess.Popen[bytes]
    url: str
    port: int
    config: Path
    database_url: str
    workers: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """``kill -9`` the whole process group (the server and its workers): a crash, no cleanup."""
        if self.alive():
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(10)
        self._wait_group_gone()

    def _wait_group_gone(self, timeout: float = 10.0) -> None:
        """Wait until no process of the server's group is left (the workers die after the parent that is waited
        for; a worker holding the learner lock releases it only when it is gone)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _live_members(self.process.pid):
            time.sleep(0.02)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (uvicorn shuts down gracefully), then SIGKILL after ``timeout`` seconds."""
        if self.alive():
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
            except ProcessLookupError:
                pass
        self.process.wait(10)
        self._wait_group_gone()

    def restart(self, timeout: float = 120.0) -> Server:
        """Start the same service again (same config, database, port and workers) and wait until it is ready."""
        self.stop()
        return start_server(
            self.config,
            self.database_url,
            workers=self.workers,
            port=self.port,
            env=self.env,
            log_path=self.log_path,
            timeout=timeout,
        )


def start_server(
    config: str | os.PathLike[str],
    database_url: str,
    *,
    workers: int = 1,
    port: int | None = None,
    env: dict[str, str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    timeout: float = 120.0,
) -> Server:
    """Run ``abrec serve CONFIG --database-url URL --port PORT --workers N`` and wait for ``/readyz`` (200).

    The database must be at the migration head (``abrec.store.upgrade``). ``env`` adds environment variables
    (e.g. ``ABREC_POLL_INTERVAL``). Raises RuntimeError with the server's output if it is not ready in time.
    """
    port = port or free_port()
    config = Path(config)
    log = Path(log_path) if log_path is not None else config.with_suffix(f".{port}.log")
    extra = dict(env or {})
    environment = {**os.environ, **extra}
    environment.pop("ABREC_CONFIG", None)
    script = Path(sys.executable).parent / "abrec"
    program = [str(script)] if script.exists() else [sys.executable, "-c", "from abrec.cli import main; main()"]
    command = [
        *program,
        "serve",
        str(config),
        "--database-url",
        database_url,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=environment, cwd=REPO, start_new_session=True
        )
    server = Server(process, f"http://127.0.0.1:{port}", port, config, database_url, workers, log, extra)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"abrec serve exited with {process.returncode}:\n{server.log()[-4000:]}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"abrec serve was not ready within {timeout} s:\n{server.log()[-4000:]}")


def _live_members(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies, which hold no locks, do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
