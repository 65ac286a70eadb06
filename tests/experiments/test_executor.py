"""The executor interface: results in task order on every backend, progress over tasks, one BLAS thread per task."""

from __future__ import annotations

import os

import numpy as np
import pytest

from abrec.errors import InputError, ParameterError, UnknownNameError
from abrec.experiments.executor import LocalExecutor, ProcessExecutor, advise, make_executor


def _slow_square(task: tuple[int, float]) -> tuple[int, int]:
    """Square ``task[0]`` after ``task[1]`` s: later tasks finish first when the sleeps decrease."""
    import time

    time.sleep(task[1])
    return task[0] * task[0], os.getpid()


def _blas_threads(_: int) -> int:
    from threadpoolctl import threadpool_info

    return max((p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"), default=1)


def _draw(index: int) -> float:
    """A task seeded by its index: the same number whichever worker runs it."""
    return float(np.random.default_rng(np.random.SeedSequence(7, spawn_key=(index,))).random())


def test_local_runs_in_order_with_progress() -> None:
    seen: list[tuple[int, int]] = []
    out = LocalExecutor().map(_slow_square, [(i, 0.0) for i in range(5)], progress=lambda d, t: seen.append((d, t)))
    assert [v for v, _ in out] == [0, 1, 4, 9, 16]
    assert {pid for _, pid in out} == {os.getpid()}
    assert seen == [(i, 5) for i in range(1, 6)]


def test_process_pool_returns_results_in_task_order_not_completion_order() -> None:
    tasks = [(i, 0.3 if i == 0 else 0.0) for i in range(6)]  # task 0 finishes last
    seen: list[int] = []
    with make_executor("processes", 2) as ex:
        assert ex.start() > 0 and ex.start() == ex.startup_seconds  # started once
        out = ex.map(_slow_square, tasks, progress=lambda d, t: seen.append(d))
        draws = ex.map(_draw, list(range(8)))
    assert [v for v, _ in out] == [i * i for i in range(6)]
    assert os.getpid() not in {pid for _, pid in out}
    assert seen == list(range(1, 7))
    assert draws == LocalExecutor().map(_draw, list(range(8)))


def test_every_task_runs_on_one_blas_thread() -> None:
    assert LocalExecutor().map(_blas_threads, [0]) == [1]


def test_make_executor_checks_its_arguments() -> None:
    assert isinstance(make_executor(), LocalExecutor)
    assert isinstance(make_executor("processes", 3), ProcessExecutor) and make_executor("processes", 3).workers == 3
    with pytest.raises(UnknownNameError, match="Did you mean 'processes'"):
        make_executor("process")
    with pytest.raises(InputError, match="needs --backend ray"):
        make_executor("processes", 2, address="127.0.0.1:6379")
    with pytest.raises(InputError, match="1 worker"):
        make_executor("local", 4)
    with pytest.raises(ParameterError, match="'workers'"):
        ProcessExecutor(0)


def test_advise_says_when_a_parallel_backend_pays_off() -> None:
    assert "--backend processes" in advise(40, 3.0, "local", 2)
    assert advise(40, 3.0, "local", 1) == ""  # one core: nothing to gain
    assert advise(2, 0.1, "local", 2) == ""  # start-up would cost more than the work
    assert "--backend local would be faster" in advise(2, 0.1, "ray", 2)
    assert advise(40, 3.0, "ray", 2) == ""
