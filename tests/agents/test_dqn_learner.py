"""Where a DQN agent learns: ``learner="lagged"`` decides ``actor_lag`` batches behind, ``"process"`` gives the
same arrays."""

from __future__ import annotations

import os
import pickle
import signal
from pathlib import Path

import numpy as np
import pytest
from _toy import FEATURES, ITEMS, toy_transitions

from _shared import require_module
from abrec.agents import DQNAgent
from abrec.errors import LearnerProcessError, ParameterError
from abrec.policies import Policy

torch = require_module("torch", "the 'llm' extra (torch) is not installed")
torch.set_num_threads(1)

SETTINGS: dict[str, object] = {"hidden": 16, "batch_size": 32, "learning_starts": 32, "replay_ratio": 2.0, "seed": 3}
STATES = np.random.default_rng(5).normal(size=(6, 2))


def _agent(learner: str, **params: object) -> DQNAgent:
    return DQNAgent(learner=learner, **{**SETTINGS, **params})  # type: ignore[arg-type]


def _twins(lag: int, ratio: float, batches: int = 0) -> tuple[DQNAgent, DQNAgent]:
    """A process learner and a lagged one of the same settings, each after ``batches`` decide-and-learn rounds."""
    pair = (_agent("process", actor_lag=lag, replay_ratio=ratio), _agent("lagged", actor_lag=lag, replay_ratio=ratio))
    for agent in pair:
        _run(agent, range(batches))
    return pair


def _run(agent: DQNAgent, batches: range) -> list[tuple[np.ndarray, ...]]:
    """Decide, then learn, batch after batch: what it decided each time."""
    seen = []
    for i in batches:
        d = agent.decide(ITEMS, STATES, item_features=FEATURES)
        seen.append((d.items, d.propensities, d.scores))
        agent.learn(toy_transitions(24, seed=i))
    return seen


#: (actor_lag, replay_ratio): one batch behind; three behind; three behind with batches that take no gradient
#: step (the learner process then answers "unchanged").
LAGS = [(1, 2.0), (3, 2.0), (3, 0.4)]


def _same(a: list[tuple[np.ndarray, ...]], b: list[tuple[np.ndarray, ...]]) -> bool:
    return all(np.array_equal(x, y) for pa, pb in zip(a, b, strict=True) for x, y in zip(pa, pb, strict=True))


@pytest.mark.parametrize(("lag", "ratio"), LAGS)
def test_the_process_learner_gives_the_lagged_results_array_for_array(lag: int, ratio: float) -> None:
    process, lagged = _twins(lag, ratio)
    assert _same(_run(lagged, range(12)), _run(process, range(12)))
    assert process._remote is not None and process._remote.pid != os.getpid()
    process.wait()  # the counters come back
    assert process.gradient_steps == lagged.gradient_steps > 0
    process.sync()  # and the rest
    ours, theirs = process._model_state(), lagged._model_state()
    assert sorted(ours) == sorted(theirs)
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key], key)
    assert np.array_equal(process._train_rng.random(3), lagged._train_rng.random(3))
    process.close()


@pytest.mark.parametrize("lag", [1, 3])
def test_the_lagged_actor_decides_on_the_weights_lag_batches_before(lag: int) -> None:
    inline, lagged = _agent("inline"), _agent("lagged", actor_lag=lag)
    for agent in (inline, lagged):
        agent.decide(ITEMS, STATES, item_features=FEATURES)  # builds the network
    history = [inline.q_values(STATES, FEATURES)]  # the untrained network's, before any batch
    for agent in (inline, lagged):
        agent.learn(toy_transitions(24, seed=100))
    history.append(inline.q_values(STATES, FEATURES))
    for i in range(8):
        inline.learn(toy_transitions(24, seed=i))
        lagged.learn(toy_transitions(24, seed=i))
        history.append(inline.q_values(STATES, FEATURES))
        # after b batches the actor has the weights after b - lag (history[j]: after j batches; the first at first)
        np.testing.assert_array_equal(lagged.q_values(STATES, FEATURES), history[max(len(history) - 1 - lag, 0)])
    assert inline.gradient_steps == lagged.gradient_steps > 0
    assert not np.array_equal(history[-1], history[-1 - lag])  # the lag is real


@pytest.mark.parametrize(("lag", "ratio"), LAGS)
@pytest.mark.parametrize("learner", ["process", "lagged"])
def test_a_saved_agent_goes_on_as_if_never_saved(learner: str, lag: int, ratio: float, tmp_path: Path) -> None:
    agent = _agent(learner, actor_lag=lag, replay_ratio=ratio)
    twin = _agent(learner, actor_lag=lag, replay_ratio=ratio)
    _run(agent, range(6))
    _run(twin, range(6))
    agent.save(str(tmp_path / "dqn.npz"))
    loaded = Policy.load(str(tmp_path / "dqn.npz"))
    assert isinstance(loaded, DQNAgent) and (loaded.learner, loaded.actor_lag) == (learner, lag)
    after = _run(twin, range(6, 12))
    assert _same(_run(agent, range(6, 12)), after)
    assert _same(_run(loaded, range(6, 12)), after)
    for a in (agent, twin, loaded):
        a.close()


@pytest.mark.parametrize(("lag", "ratio"), LAGS)
def test_clone_and_pickle_bring_the_learned_state_back(lag: int, ratio: float) -> None:
    agent, lagged = _twins(lag, ratio, 7)
    copies = [
        (agent.clone(keep_state=True), lagged.clone(keep_state=True)),
        (pickle.loads(pickle.dumps(agent)), pickle.loads(pickle.dumps(lagged))),
    ]
    for copy, reference in copies:
        assert copy._remote is None and copy.gradient_steps == lagged.gradient_steps
        assert _same(_run(copy, range(7, 10)), _run(reference, range(7, 10)))
        copy.close()
    agent.close()


@pytest.mark.parametrize(("lag", "ratio"), LAGS)
def test_a_closed_learner_process_is_forked_again_from_the_agent(lag: int, ratio: float) -> None:
    agent, lagged = _twins(lag, ratio, 4)
    first = agent._remote
    assert first is not None
    agent.close()
    assert agent._remote is None and not first._process.is_alive()
    assert _same(_run(agent, range(4, 9)), _run(lagged, range(4, 9)))
    assert agent._remote is not None and agent._remote.pid != first.pid


def test_a_dead_learner_process_is_reported_not_waited_for() -> None:
    agent = _agent("process")
    _run(agent, range(3))
    assert agent._remote is not None
    os.kill(agent._remote.pid, signal.SIGKILL)
    agent._remote._process.join(timeout=5)
    with pytest.raises(LearnerProcessError, match="went away"):
        _run(agent, range(3, 5))


def test_bad_learner_settings_are_refused() -> None:
    with pytest.raises(ParameterError, match="learner"):
        DQNAgent(learner="thread")
    with pytest.raises(ParameterError, match="actor_lag"):
        DQNAgent(learner="lagged", actor_lag=0)
    with pytest.raises(ParameterError, match="device='cpu'"):
        DQNAgent(learner="process", device="cuda")


def test_the_learner_process_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    # A parent killed with SIGKILL runs no cleanup: each child sees its pipe close (the second child closed
    # what it inherited of the first's) or notices it is orphaned, and exits by itself.
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time\n"
        "sys.path[:0] = sys.argv[1:]\n"
        "from _toy import toy_transitions\n"
        "from abrec.agents import DQNAgent\n"
        "agents = [DQNAgent(hidden=8, batch_size=16, learning_starts=16, learner='process') for _ in range(2)]\n"
        "for i in range(3):\n"
        "    for agent in agents:\n"
        "        agent.learn(toy_transitions(24, seed=i))\n"
        "print(*(agent._remote.pid for agent in agents), flush=True)\n"
        "time.sleep(60)\n"
    )
    here = str(Path(__file__).parent)
    parent = subprocess.Popen([sys.executable, str(script), here], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        children = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(children) == 2 and all(_alive(child) for child in children)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + 10
    while any(_alive(child) for child in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(child) for child in children)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped by init, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(("before", "after"), [("inline", "lagged"), ("lagged", "inline"), ("inline", "process")])
def test_a_clone_may_learn_elsewhere(before: str, after: str, tmp_path: Path) -> None:
    # A clone that changes where it learns goes on as its own state file does (an actor made from the online
    # weights where it had none); an inline clone decides on the online network, not a stale actor.
    agent = _agent(before)
    _run(agent, range(5))
    copy = agent.clone(keep_state=True, learner=after)
    copy.save(str(tmp_path / "copy.npz"))
    loaded = Policy.load(str(tmp_path / "copy.npz"))
    assert isinstance(loaded, DQNAgent) and loaded.learner == after
    assert _same(_run(copy, range(5, 9)), _run(loaded, range(5, 9)))
    if after == "inline":
        np.testing.assert_array_equal(copy.q_values(STATES, FEATURES), _q_online(copy))
    for a in (agent, copy, loaded):
        a.close()


def test_a_clone_that_lags_again_starts_from_the_online_weights(tmp_path: Path) -> None:
    # process (3 batches behind) -> inline -> lagged: the last clone has no actor or queue left from the first,
    # so it goes on exactly as its own state file does.
    agent = _agent("process", actor_lag=3)
    _run(agent, range(5))
    inline = agent.clone(keep_state=True, learner="inline")
    _run(inline, range(5, 8))
    again = inline.clone(keep_state=True, learner="lagged")
    again.save(str(tmp_path / "again.npz"))
    loaded = Policy.load(str(tmp_path / "again.npz"))
    np.testing.assert_array_equal(again.q_values(STATES, FEATURES), _q_online(inline))
    assert _same(_run(again, range(8, 12)), _run(loaded, range(8, 12)))
    agent.close()


def _q_online(agent: DQNAgent) -> np.ndarray:
    with torch.inference_mode():
        s = torch.as_tensor(STATES, dtype=torch.float32)
        f = torch.as_tensor(np.array(np.broadcast_to(FEATURES, (len(STATES), *FEATURES.shape))), dtype=torch.float32)
        return agent._online(s, f).numpy().astype(np.float64)
