"""A DQN agent's gradient steps in a child process, on a core of their own (private; see :class:`DQNAgent`).

The child is forked from the agent when its first learning batch arrives, so it starts with the agent's very
networks, optimiser, replay buffer and learning generator, and torch already imported (a fork takes
milliseconds; a fresh interpreter would take seconds to import torch). From then on the child owns the learned
state: each learning batch is sent to it as arrays, it folds the batch into its replay buffer and takes the
gradient steps the batch is owed, then answers with its online network's weights and counters. The parent
reads an answer only when the next batch arrives: meanwhile it goes on deciding (on the weights of the batch
before: ``learner="lagged"`` computes exactly that in one process) and stepping the environment.

The child exits when the parent says stop, when its end of the pipe closes, or when its parent is gone (it
checks every second); it closes the pipes of the other learner processes it inherited at the fork, so that
each child sees its own parent's end close. It ignores SIGINT (a Ctrl-C at the terminal interrupts the
parent, whose agent goes on with its learner); SIGTERM stops it.

Batches and weights cross in two shared memory regions mapped before the fork (a batch of a few hundred
transitions is about 400 KB, which a pipe would carry in a dozen round trips between the two processes); the
pipe carries where each array lies. Messages, parent to child: ``("learn", layout)``, ``("state",)``,
``("stop",)``. Child to parent: ``("weights", layout or None, gradient_steps, owed_steps)`` (None: no step
since the last), ``("state", arrays, rng_state)`` or ``("error", text)``. A layout names each array's dtype,
shape and offset in its region, or holds the arrays themselves when they do not fit.
"""

from __future__ import annotations

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
    agent: Any, conn: Any, parent: int, batches: mmap.mmap, weights: mmap.mmap
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
                batch = _unpack(batches, message[1])
                rows, next_rows = batch.pop("rows"), batch.pop("next_rows")
                agent._learn_here(Transitions(**batch), rows, next_rows)
                # Only gradient steps change the online weights: without one since the last answer, none to send.
                layout = _pack(weights, agent._online_arrays()) if agent.gradient_steps != sent else None
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


class RemoteLearner:
    """The parent's handle on an agent's learner process (see the module docstring)."""

    def __init__(self, agent: Any) -> None:
        context = multiprocessing.get_context("fork")
        parent, child = context.Pipe()
        # Anonymous shared mappings, inherited by the fork: the batches one way, the weights the other.
        self._batches = mmap.mmap(-1, BATCH_BYTES)
        room = sum(value.nbytes for value in agent._online_arrays().values())
        self._weights = mmap.mmap(-1, room + _ALIGN * 64)
        self._process = context.Process(
            target=_serve,
            args=(agent, child, os.getpid(), self._batches, self._weights),
            daemon=True,
            name="abrec-dqn-learner",
        )
        self._process.start()
        child.close()
        self._conn = parent
        self._pending = False
        self._reply: tuple[Arrays | None, int, float] | None = None
        self._finalizer = weakref.finalize(self, _stop, self._process, parent)
        _OPEN.add(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> None:
        # A copied agent holds the learned state itself (its owner pulled it first) and forks its own child.
        return None

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
        """Send a learning batch (the answer to the previous one must have been collected).

        Its float arrays cross as float32, what the replay buffer keeps; the item ids stay here (the rows
        stand for them).
        """
        assert not self._pending, "collect the previous batch's weights first"
        arrays = {name: getattr(t, name) for name in (*_FLOAT32, "next_mask")}
        layout = _pack(self._batches, {**arrays, "rows": rows, "next_rows": next_rows}, _FLOAT32)
        self._send(("learn", layout))
        self._pending = True

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

    def collect(self) -> tuple[Arrays | None, int, float] | None:
        """The online weights (None: unchanged) and counters after the last batch sent, once (None: none sent)."""
        self.wait()
        reply, self._reply = self._reply, None
        return reply

    def wait(self) -> tuple[int, float] | None:
        """Wait for the steps on the last batch sent; its counters (None: none sent). Its weights stay for
        :meth:`collect`."""
        if self._pending:
            _, layout, steps, owed = self._receive()
            # Copies: the region is written again after the next batch.
            arrays = None if layout is None else {k: np.array(v) for k, v in _unpack(self._weights, layout).items()}
            self._reply = (arrays, int(steps), float(owed))
            self._pending = False
        return None if self._reply is None else self._reply[1:]

    def state(self) -> tuple[Arrays, dict[str, Any]]:
        """The learner's whole state (after every batch sent) and its learning generator's state.

        The answer to the last batch stays for :meth:`collect`.
        """
        self.wait()
        self._send(("state",))
        _, arrays, rng_state = self._receive()
        return arrays, rng_state

    def close(self) -> None:
        """Stop the child (it holds nothing the parent lacks once the parent has pulled its state)."""
        self._finalizer()

    @property
    def pid(self) -> int | None:
        return self._process.pid
