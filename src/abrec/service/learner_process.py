"""The learner in a process of its own, beside the uvicorn workers (``abrec serve``'s default).

A learner thread inside a worker shares that worker's GIL: each micro-batch (reading what is ready, updating the
policies, writing snapshots) and each fold of the results' statistics stalls the requests the worker is answering
meanwhile. Run as a separate process, the learner takes none of the workers' time; it takes the same learner lock,
runs the same :class:`~abrec.service.learner.LearnerThread`, and writes the same journal and snapshots, so nothing
about what is learned changes (a worker's thread still learns when ``learner_process`` is off).

Parent side, :class:`LearnerProcess` (used by ``abrec serve``):

- starts ``python -m abrec.service.learner_process`` with the serve's ``ABREC_*`` environment and
  ``ABREC_LEARNER=true``, its standard input a pipe that the parent holds;
- restarts it when it exits on its own (a crash, ``kill -9``), after 1 s, then up to 10 s between tries;
- on :meth:`~LearnerProcess.stop` (after uvicorn has answered the requests in flight) closes that pipe: the child
  learns everything pending, writes its snapshots and statistics, and exits.

Child side, :func:`main`: a :class:`~abrec.service.state.Service` that serves nothing (``serve=False``: no policy
warm-up, no snapshot polling) and holds the learner. It ignores SIGTERM and SIGINT, which a terminal or ``kill``
sends to the whole process group while the workers are still answering: it stops when its standard input closes,
that is when the parent asks or when the parent is gone (even by ``kill -9``), so it never outlives the service.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping

__all__ = ["LearnerProcess", "main"]

LOG = logging.getLogger("abrec.serve")
#: Seconds before the first restart of a learner process that exited on its own; doubled up to RESTART_MAX.
RESTART_FIRST = 1.0
RESTART_MAX = 10.0
#: Signals the learner process leaves to its parent (a terminal's Ctrl-C and ``kill`` reach the whole group).
_DEFERRED = {signal.SIGTERM, signal.SIGINT}


class LearnerProcess:
    """Run and supervise the learner process of one ``abrec serve`` (see the module docstring).

    Parameters
    ----------
    env : the child's environment (the serve's ``ABREC_*`` settings); ``ABREC_LEARNER`` is set to true.
    stop_timeout : most seconds :meth:`stop` waits for the child to drain before it kills it.

    Attributes
    ----------
    starts : how many times a child was started (1 + the restarts).
    """

    def __init__(self, env: Mapping[str, str], *, stop_timeout: float = 30.0) -> None:
        self.env = {**env, "ABREC_LEARNER": "true"}
        self.stop_timeout = stop_timeout
        self.starts = 0
        self._child: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher = threading.Thread(target=self._watch, name="abrec-learner-watch", daemon=True)

    @property
    def pid(self) -> int | None:
        """The running child's process id (None before the start or between a crash and its restart)."""
        child = self._child
        return child.pid if child is not None and child.poll() is None else None

    def start(self) -> None:
        with self._lock:
            self._spawn()
        self._watcher.start()

    def _spawn(self) -> None:
        # The child starts with SIGTERM and SIGINT blocked (a thread's signal mask is inherited across fork and
        # exec): one sent to the process group while its interpreter starts stays pending, and is dropped once
        # main() ignores it. Without this, a SIGTERM in the first seconds (imports) would kill it.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "abrec.service.learner_process"], stdin=subprocess.PIPE, env=self.env
            )
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self.starts += 1

    def _watch(self) -> None:
        delay = RESTART_FIRST
        while not self._stopping.is_set():
            child = self._child
            assert child is not None
            started = time.monotonic()
            code = child.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > 60.0:  # it ran a while: a fresh failure, not a crash loop
                delay = RESTART_FIRST
            LOG.warning(f"abrec: the learner process {child.pid} exited with {code}; restarting it in {delay:g} s")
            if self._stopping.wait(delay):
                return
            delay = min(2 * delay, RESTART_MAX)
            with self._lock:
                if self._stopping.is_set():
                    return
                self._spawn()

    def stop(self) -> int | None:
        """Ask the child to learn what is pending and exit (close its input); wait for it, kill it after
        ``stop_timeout`` seconds. Returns its exit code (None when none was running). Idempotent."""
        with self._lock:
            self._stopping.set()
            child = self._child
        if child is None:
            return None
        if child.stdin is not None:
            try:
                child.stdin.close()
            except OSError:
                pass
        try:
            return child.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            LOG.warning(f"abrec: the learner process {child.pid} did not stop in {self.stop_timeout:g} s; killed")
            child.kill()
            return child.wait()


def main() -> int:
    """The learner process: a non-serving :class:`~abrec.service.state.Service` holding the learner until its
    standard input closes."""
    for signum in _DEFERRED:  # the parent decides when: after the workers' last answers
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _DEFERRED)  # blocked since the spawn (pending ones are dropped)
    from ._gc import tune as tune_gc
    from .config import load_service_config
    from .logging_json import configure_logging
    from .settings import load_settings
    from .state import Service

    first = load_settings()
    configure_logging(first.log_format, access_log=False)
    if first.config is None:
        LOG.error("abrec: the learner process needs ABREC_CONFIG (the service's YAML config)")
        return 2
    config = load_service_config(first.config)
    settings = load_settings(config.server, config=first.config, learner=True)
    service = Service(settings, config, serve=False)
    try:
        service.start()
    except Exception as exc:  # the parent restarts it (a database not reachable yet, ...)
        LOG.error(f"abrec: the learner process could not start: {type(exc).__name__}: {exc}")
        service.stop()
        return 1
    tune_gc(settings.gc_threshold)
    try:
        while sys.stdin.buffer.read(65536):  # until the parent closes the pipe, or is gone
            pass
    finally:
        service.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a child process (the tests run it so)
    sys.exit(main())
