"""One executor interface, three backends: in process, a local process pool, and Ray.

An :class:`Executor` maps a module-level function over a sequence of tasks and returns the results **in
task order**, whatever order the workers finished in. What travels to a worker is the task itself (a
config and a seed, a file path and a block index), never large arrays; what comes back is a small
record of sufficient statistics. Each task is run under one BLAS thread (:func:`abrec._threads.single_blas`),
so a task's floating-point result does not depend on how many threads its process had: together with
seeding by task index (never by worker) every backend and every worker count gives bit-identical results.

Backends (:func:`make_executor`):

- ``local``: in this process, one task after the other (the default; no start-up cost);
- ``processes``: a :class:`concurrent.futures.ProcessPoolExecutor` of ``workers`` processes (started
  with ``spawn``: about a second to import abrec in each; results unchanged);
- ``ray``: Ray tasks (the ``abrec[ray]`` extra), on a local Ray started with ``workers`` CPUs, or on the
  cluster at ``address`` (``ray start --head`` prints it). Ray retries a task whose worker died
  (``max_retries``); a task is a pure function of its inputs, so a retried task returns the same numbers.
  Starting Ray costs 4-8 s and about 1 GB here: :func:`advise` says when that pays off.

Examples
--------
>>> with make_executor("local") as ex:
...     ex.map(abs, [-2, 3, -1])
[2, 3, 1]
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

from .._threads import single_blas
from ..errors import InputError, ParameterError, UnknownNameError

__all__ = [
    "BACKENDS",
    "Executor",
    "LocalExecutor",
    "ProcessExecutor",
    "RayExecutor",
    "advise",
    "make_executor",
]

T = TypeVar("T")
R = TypeVar("R")
Progress = Callable[[int, int], None]

BACKENDS = ("local", "processes", "ray")
#: Start-up seconds of each backend on a small machine (measured by ``make bench BENCH=ray``), for :func:`advise`.
STARTUP_SECONDS = {"local": 0.0, "processes": 1.5, "ray": 6.0}


def _run_one(fn: Callable[[T], R], task: T) -> R:
    """Run one task under one BLAS thread (so its numbers do not depend on the process's thread count)."""
    with single_blas():
        return fn(task)


class Executor(ABC):
    """Maps a function over tasks; results come back in task order.

    Use as a context manager (or call :meth:`close`) to release the workers.
    """

    name: str = ""

    def __init__(self, workers: int = 1) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ParameterError(
                f"The 'workers' parameter of {type(self).__name__} must be an int >= 1. Got {workers!r}."
            )
        self.workers = workers
        self.startup_seconds = 0.0

    @abstractmethod
    def map(self, fn: Callable[[T], R], tasks: Sequence[T], *, progress: Progress | None = None) -> list[R]:
        """``[fn(task) for task in tasks]``, computed by this backend; ``progress(done, total)`` after each task.

        ``fn`` must be a module-level function (it is pickled by name for the process and Ray backends).
        """

    def start(self) -> float:
        """Start the workers now (else the first :meth:`map` does); return the start-up seconds."""
        return self.startup_seconds

    def close(self) -> None:  # noqa: B027 - a no-op unless the backend holds workers
        """Release the workers (a no-op for the in-process backend)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.workers})"


class LocalExecutor(Executor):
    """Every task in this process, in order (the default backend)."""

    name = "local"

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], *, progress: Progress | None = None) -> list[R]:
        out = []
        for i, task in enumerate(tasks):
            out.append(_run_one(fn, task))
            if progress is not None:
                progress(i + 1, len(tasks))
        return out


class ProcessExecutor(Executor):
    """A local pool of ``workers`` processes (``spawn`` start method; the pool is started on first use)."""

    name = "processes"

    def __init__(self, workers: int | None = None) -> None:
        super().__init__((os.cpu_count() or 1) if workers is None else workers)
        self._pool: cf.ProcessPoolExecutor | None = None

    def _start(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            start = time.perf_counter()
            self._pool = cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
            # start every worker now, so that start-up is measured apart from the work
            list(self._pool.map(_warm, range(self.workers)))
            self.startup_seconds = time.perf_counter() - start
        return self._pool

    def start(self) -> float:
        self._start()
        return self.startup_seconds

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], *, progress: Progress | None = None) -> list[R]:
        pool = self._start()
        futures = {pool.submit(_run_one, fn, task): i for i, task in enumerate(tasks)}
        out: list[Any] = [None] * len(tasks)
        for done, future in enumerate(cf.as_completed(futures), start=1):
            out[futures[future]] = future.result()
            if progress is not None:
                progress(done, len(tasks))
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _warm(_: int) -> int:
    import abrec.experiments  # noqa: F401  (the import is the start-up cost of a worker)

    return os.getpid()


class RayExecutor(Executor):
    """Ray tasks: a local Ray with ``workers`` CPUs, or the cluster at ``address``.

    Ray is started on first use unless it is running already (then it is used as it is and left running).
    Each task is retried up to ``max_retries`` times when its worker dies.
    """

    name = "ray"

    def __init__(self, workers: int | None = None, *, address: str | None = None, max_retries: int = 3) -> None:
        super().__init__((os.cpu_count() or 1) if workers is None else workers)
        self.address = address
        self.max_retries = max_retries
        self._started = False
        self._remote: Any = None

    def _ray(self) -> Any:
        try:
            import ray
        except ImportError as exc:
            raise InputError(
                "The ray backend needs Ray: pip install 'abrec[ray]' (or use --backend processes on one machine)."
            ) from exc
        if not ray.is_initialized():
            start = time.perf_counter()
            if self.address is not None:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
            self._started = True
            self.startup_seconds = time.perf_counter() - start
        if self._remote is None:
            self._remote = ray.remote(num_cpus=1, max_retries=self.max_retries)(_run_one)
        return ray

    def start(self) -> float:
        self._ray()
        return self.startup_seconds

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], *, progress: Progress | None = None) -> list[R]:
        ray = self._ray()
        fn_ref = ray.put(fn)
        refs = [self._remote.remote(fn_ref, task) for task in tasks]
        index = {ref: i for i, ref in enumerate(refs)}
        out: list[Any] = [None] * len(tasks)
        pending, done = list(refs), 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                out[index[ref]] = ray.get(ref)
                done += 1
                if progress is not None:
                    progress(done, len(tasks))
        return out

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False
        self._remote = None


def make_executor(backend: str = "local", workers: int | None = None, *, address: str | None = None) -> Executor:
    """The executor of ``backend`` (``local``, ``processes`` or ``ray``) with ``workers`` workers.

    ``address`` (Ray only) joins an existing cluster instead of starting a local Ray.

    Examples
    --------
    >>> make_executor("processes", 2)
    ProcessExecutor(workers=2)
    >>> make_executor("threads")
    Traceback (most recent call last):
    ...
    abrec.errors.UnknownNameError: Unknown backend 'threads'. Known: local, processes, ray.
    """
    if backend not in BACKENDS:
        raise UnknownNameError("backend", backend, BACKENDS)
    if address is not None and backend != "ray":
        raise InputError(f"--address names a Ray cluster; it needs --backend ray (got --backend {backend}).")
    if backend == "local":
        if workers not in (None, 1):
            raise InputError(f"The local backend runs in this process (1 worker); got workers={workers}.")
        return LocalExecutor()
    if backend == "processes":
        return ProcessExecutor(workers)
    return RayExecutor(workers, address=address)


def advise(n_tasks: int, seconds_per_task: float, backend: str, workers: int | None = None) -> str:
    """A one-line note on whether a parallel backend would pay off for this work, or ``""`` when all is well.

    The estimate is ``start-up + n_tasks * seconds_per_task / workers`` per backend (start-up of
    :data:`STARTUP_SECONDS`).

    Examples
    --------
    >>> advise(40, 3.0, "local", 2)[:60]
    'note: 40 tasks x 3.0 s = 120 s in process; with 2 workers ab'
    >>> advise(3, 0.5, "local", 2)
    ''
    """
    cores = workers or os.cpu_count() or 1
    serial = n_tasks * seconds_per_task
    parallel = {b: STARTUP_SECONDS[b] + serial / min(cores, max(n_tasks, 1)) for b in ("processes", "ray")}
    if backend == "local":
        best = min(parallel, key=lambda b: parallel[b])
        if cores > 1 and parallel[best] < 0.8 * serial:
            return (
                f"note: {n_tasks} tasks x {seconds_per_task:.1f} s = {serial:.0f} s in process; with {cores} workers "
                f"about {parallel['processes']:.0f} s (--backend processes) or {parallel['ray']:.0f} s "
                f"(--backend ray, which also runs on a cluster)."
            )
        return ""
    if serial < STARTUP_SECONDS[backend]:
        return (
            f"note: the work ({serial:.1f} s in process) is shorter than starting the {backend} backend "
            f"(about {STARTUP_SECONDS[backend]:.0f} s); --backend local would be faster."
        )
    return ""
