"""The Ray backend: the same numbers as in process, on a local Ray and on a two-node cluster that loses a node.

Ray takes seconds and about 1 GB to start, so these are the only Ray tests (marked ``ray``); the
backend-equivalence tests of the replicates run in process and on the process pool. Without Ray installed
(the ``ray`` extra) they are skipped, and fail in CI.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from _experiments import small_experiment
from _shared import require_module
from abrec.experiments import ExperimentConfig
from abrec.experiments.executor import RayExecutor
from abrec.experiments.replicates import run_replicates

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def config() -> ExperimentConfig:
    variants = [{"name": "random", "policy": "uniform"}, {"name": "ts", "policy": "bernoulli_ts"}]
    return ExperimentConfig.from_mapping(small_experiment("ray", 5, variants=variants, view={"horizon": 8}))


@pytest.fixture()
def ray() -> Iterator[Any]:
    module = require_module("ray", "the 'ray' extra is not installed (pip install 'abrec[ray]')")
    if module.is_initialized():
        module.shutdown()
    yield module
    module.shutdown()


def test_local_ray_with_two_cpus_gives_the_in_process_numbers(ray: Any, config: ExperimentConfig) -> None:
    expected = run_replicates(config, 4).fingerprint()
    done: list[int] = []
    with RayExecutor(2) as executor:
        summary = run_replicates(config, 4, executor=executor, progress=lambda d, t: done.append(d))
        assert ray.is_initialized() and ray.cluster_resources()["CPU"] == 2
        assert executor.startup_seconds > 0
    assert not ray.is_initialized()  # the executor started Ray, so it stops it
    assert summary.fingerprint() == expected
    assert done == [1, 2, 3, 4]


def test_two_node_cluster_that_loses_a_worker_node_mid_run_gives_the_same_numbers(
    ray: Any, config: ExperimentConfig
) -> None:
    from ray.cluster_utils import Cluster

    n = 8
    expected = run_replicates(config, n).fingerprint()
    cluster = Cluster(initialize_head=True, connect=True, head_node_args={"num_cpus": 0})
    try:
        doomed = cluster.add_node(num_cpus=1)
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        first = threading.Event()
        out: dict[str, Any] = {}

        def work() -> None:
            with RayExecutor(2, max_retries=3) as executor:
                out["summary"] = run_replicates(config, n, executor=executor, progress=lambda d, t: first.set())

        thread = threading.Thread(target=work)
        thread.start()
        assert first.wait(300), "no replicate finished"
        cluster.remove_node(doomed)  # a worker dies with its running task; Ray retries it elsewhere
        cluster.add_node(num_cpus=1)
        thread.join(600)
        assert not thread.is_alive()
        assert out["summary"].fingerprint() == expected
    finally:
        ray.shutdown()
        cluster.shutdown()
