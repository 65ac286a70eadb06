"""A DQN agent's gradient steps in a child process, on a core of their own (private; see :class:`DQNAgent`).

The child is forked from the agent when its first learning batch arrives, so it starts with the agent's very
networks, optimiser, replay buffer and learning generator, and torch already imported (a fork takes
milliseconds; a fresh interpreter would take seconds to import torch). From then on the child owns the learned
state: each learning batch is sent to it as arrays, it folds the batch into its replay buffer and takes the
gradient steps the batch is owed, then answers with its online network's weights and counters. The parent
reads an answer only when its actor needs those weights, ``actor_lag`` batches later: meanwhile it goes on
deciding (on the weights of ``actor_lag`` batches before: ``learner="lagged"`` computes exactly that in one
process) and stepping the environment, and the child may be up to ``actor_lag`` batches behind it.

The child exits when the parent says stop, when its end of the pipe closes, or when its parent is gone (it
checks every second); it closes the pipes of the other learner processes it inherited at the fork, so that
each child sees its own parent's end close. It ignores SIGINT (a Ctrl-C at the terminal interrupts the
parent, whose agent goes on with its learner); SIGTERM stops it.

Batches and weights cross in shared memory regions mapped before the fork (a batch of a few hundred
transitions is about 400 KB, which a pipe would carry in a dozen round trips between the two processes), one
slot of each per batch in flight (``actor_lag``); the pipe carries the slot and where each array lies in it.
Messages, parent to child: ``("learn", layout, slot)``, ``("state",)``, ``("stop",)``. Child to parent:
``("weights", layout or None, gradient_steps, owed_steps)`` (None: no step since the last; the weights lie in
the batch's slot), ``("state", arrays, rng_state)`` or ``("error", text)``. A layout names each array's dtype,
shape and offset in its region, or holds the arrays themselves when they do not fit.
"""

from __future__ import annotations

import collections
import math
import mmap
import multiprocessing
import os
import signal
import weakref
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import LearnerProcessError
from .transitions import Transitions

Arrays = dict[str, npt.NDArray[Any]]
Layout = list[tuple[str, Any, Any, int]]

#: Bytes of the batch region (pages are used only as written): batches past it go through the pipe.
BATCH_BYTES = 64 << 20
_ALIGN = 64
_FLOAT32 = ("states", "item_features", "rewards", "discounts", "next_states", "next_item_features")


def _pack(region: mmap.mmap, arrays: dict[str, npt.NDArray[Any] | None], as_float32: tuple[str, ...] = ()) -> Layout:
    """Write ``arrays`` into ``region`` (those named in ``as_float32`` as float32); where each lies.

    An array that does not fit travels in the layout itself.
    """
    layout: Layout = []
    offset = 0
    for name, value in arrays.items():
        if value is None:
            layout.append((name, None, None, -1))
            continue
        dtype = np.dtype(np.float32) if name in as_float32 else value.dtype
        size = math.prod(value.shape) * dtype.itemsize
        if offset + size > len(region):
            layout.append((name, None, np.asarray(value, dtype=dtype), -1))
            continue
        view = np.frombuffer(region, dtype=dtype, count=math.prod(value.shape), offset=offset)
        view.reshape(value.shape)[...] = value
        layout.append((name, dtype.str, value.shape, offset))
        offset += -(-size // _ALIGN) * _ALIGN
    return layout


def _unpack(region: mmap.mmap, layout: Layout) -> dict[str, Any]:
    """The arrays of a :func:`_pack` layout (views of the region: read them before it is written again)."""
    out: dict[str, Any] = {}
    for name, dtype, shape, offset in layout:
        if offset < 0:
            out[name] = shape  # None, or the array itself
        else:
            out[name] = np.frombuffer(region, dtype=dtype, count=math.prod(shape), offset=offset).reshape(shape)
    return out


def fork_available() -> bool:
    """Whether this platform can fork (the learner process needs it)."""
    return "fork" in multiprocessing.get_all_start_methods()


#: The parents' ends of the live learner processes' pipes (a child closes those it inherits).
_OPEN: weakref.WeakSet[RemoteLearner] = weakref.WeakSet()


def _serve(  # pragma: no cover - runs in the child (tested from outside)
    agent: Any, conn: Any, parent: int, batches: list[mmap.mmap], weights: list[mmap.mmap]
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for other in list(_OPEN):
        other._conn.close()
    import torch

    torch.set_num_threads(1)
    sent = agent.gradient_steps  # the parent's actor has the weights as of this many steps
    while True:
        try:
            while not conn.poll(1.0):
                if os.getppid() != parent:
                    return
            message = conn.recv()
        except (EOFError, OSError):
            return
        kind = message[0]
        try:
            if kind == "learn":
                slot = message[2]
                batch = _unpack(batches[slot], message[1])
                rows, next_rows = batch.pop("rows"), batch.pop("next_rows")
                agent._learn_here(Transitions(**batch), rows, next_rows)
                # Only gradient steps change the online weights: without one since the last answer, none to send.
                layout = _pack(weights[slot], agent._online_arrays()) if agent.gradient_steps != sent else None
                sent = agent.gradient_steps
                conn.send(("weights", layout, agent.gradient_steps, agent._owed_steps))
            elif kind == "state":
                conn.send(("state", agent._learner_arrays(), agent._train_rng.bit_generator.state))
            else:
                return
        except Exception as exc:  # reported to the parent, which raises it
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
            return


def _stop(process: Any, conn: Any) -> None:
    try:
        conn.send(("stop",))
    except (OSError, ValueError):
        pass
    conn.close()
    process.join(timeout=5)
    if process.is_alive():
        process.kill()
        process.join(timeout=5)


Reply = tuple[Arrays | None, int, float]


class RemoteLearner:
    """The parent's handle on an agent's learner process (see the module docstring).

    Up to ``slots`` batches may be in flight: sent, and their answers not yet collected.
    """

    def __init__(self, agent: Any, slots: int = 1) -> None:
        context = multiprocessing.get_context("fork")
        parent, child = context.Pipe()
        # Anonymous shared mappings, inherited by the fork: the batches one way, the weights the other, a slot
        # of each per batch in flight (a batch slot's pages are used only as written).
        self._batches = [mmap.mmap(-1, BATCH_BYTES) for _ in range(slots)]
        room = sum(value.nbytes for value in agent._online_arrays().values())
        self._weights = [mmap.mmap(-1, room + _ALIGN * 64) for _ in range(slots)]
        self._process = context.Process(
            target=_serve,
            args=(agent, child, os.getpid(), self._batches, self._weights),
            daemon=True,
            name="abrec-dqn-learner",
        )
        self._process.start()
        child.close()
        self._conn = parent
        self._sent = 0
        self._in_flight: collections.deque[int] = collections.deque()  # the slots of the batches in flight
        self._finalizer = weakref.finalize(self, _stop, self._process, parent)
        _OPEN.add(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> None:
        # A copied agent holds the learned state itself (its owner pulled it first) and forks its own child.
        return None

    @property
    def in_flight(self) -> int:
        """Batches sent whose answers are not collected yet."""
        return len(self._in_flight)

    def _receive(self) -> tuple[Any, ...]:
        try:
            message: tuple[Any, ...] = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise self._gone() from exc
        if message[0] == "error":
            self.close()
            raise LearnerProcessError(f"the DQN learner process failed: {message[1]}")
        return message

    def submit(self, t: Transitions, rows: Any, next_rows: Any) -> None:
        """Send a learning batch (fewer than ``slots`` may be in flight: collect the oldest answers first).

        Its float arrays cross as float32, what the replay buffer keeps; the item ids stay here (the rows
        stand for them).
        """
        slot = self._sent % len(self._batches)
        assert len(self._in_flight) < len(self._batches), "collect the oldest batch's answer first"
        arrays = {name: getattr(t, name) for name in (*_FLOAT32, "next_mask")}
        layout = _pack(self._batches[slot], {**arrays, "rows": rows, "next_rows": next_rows}, _FLOAT32)
        self._send(("learn", layout, slot))
        self._sent += 1
        self._in_flight.append(slot)

    def _send(self, message: tuple[Any, ...]) -> None:
        try:
            self._conn.send(message)
        except (OSError, ValueError) as exc:
            raise self._gone() from exc

    def _gone(self) -> LearnerProcessError:
        self._process.join(timeout=1)
        return LearnerProcessError(
            f"the DQN learner process (pid {self._process.pid}) went away (exit code {self._process.exitcode}); "
            "its learning since the last save is lost: load the agent from its state file, or use learner='inline'."
        )

    def collect(self) -> Reply:
        """The answer to the oldest batch in flight (waiting for it): the online weights after it (None:
        unchanged since the answer before) and the counters."""
        assert self._in_flight, "no batch in flight"
        _, layout, steps, owed = self._receive()
        slot = self._in_flight.popleft()
        # Copies: the slot is written again when a later batch takes it.
        arrays = None if layout is None else {k: np.array(v) for k, v in _unpack(self._weights[slot], layout).items()}
        return arrays, int(steps), float(owed)

    def collect_all(self) -> list[Reply]:
        """The answers to every batch in flight, oldest first (waiting for them)."""
        return [self.collect() for _ in range(len(self._in_flight))]

    def state(self) -> tuple[Arrays, dict[str, Any]]:
        """The learner's whole state (after every batch sent) and its learning generator's state.

        Collect every answer first (the child answers in order).
        """
        assert not self._in_flight, "collect the answers in flight first"
        self._send(("state",))
        _, arrays, rng_state = self._receive()
        return arrays, rng_state

    def close(self) -> None:
        """Stop the child (it holds nothing the parent lacks once the parent has pulled its state)."""
        self._finalizer()

    @property
    def pid(self) -> int | None:
        return self._process.pid
