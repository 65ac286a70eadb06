"""Deep Q-learning (torch): double DQN with a target network, replay, n-step returns, Huber loss, clipping.

torch is imported only when a :class:`DQNAgent` first builds its network: the rest of abrec imports without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from .._params import Constraint, Interval, StrOptions
from .._random import Seed
from ..errors import ParameterError
from ..policies.base import FloatArray, IntArray
from ..policies.registry import register
from . import _remote
from .base import _COMMON, Agent
from .transitions import ReplayBuffer, Transitions

__all__ = ["DQNAgent"]


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - the llm extra is installed in development
        raise ImportError("DQNAgent needs torch: install abrec's 'llm' extra (pip install 'abrec[llm]').") from exc
    return torch


_NETWORK: Any = None


def _network_class(torch: Any) -> Any:
    """The Q-network class, defined once torch is imported (a module attribute, so networks pickle)."""
    global _NETWORK
    if _NETWORK is not None:
        return _NETWORK
    nn = torch.nn

    class _QNetwork(nn.Module):  # type: ignore[misc, name-defined]
        """``Q(s, f, i) = MLP([s, f, (A s) * (B f)]) + b[i mod buckets]``: an explicit state-item interaction, two
        hidden layers, and a learned per-item offset when ``buckets > 0`` (0 for items it does not know)."""

        def __init__(self, d: int, p: int, hidden: int, buckets: int) -> None:
            super().__init__()
            self.buckets = buckets
            self.state_map = nn.Linear(d, hidden, bias=False)
            self.item_map = nn.Linear(p, hidden, bias=False)
            self.hidden1 = nn.Linear(d + p + hidden, hidden)
            self.hidden2 = nn.Linear(hidden, hidden)
            self.out = nn.Linear(hidden, 1)
            if buckets:
                self.item_bias = nn.Parameter(torch.zeros(buckets))

        def forward(self, s: Any, f: Any, rows: Any = None) -> Any:
            """Q ``(n, m)`` of candidates ``f`` ``(n, m, p)`` with item rows ``(n, m)`` in states ``s`` ``(n, d)``.

            The first layer is ``hidden1([s, f, (A s) * (B f)])`` computed without copying a state per
            candidate: the state's share (``hidden1``'s state columns and ``A``) once per row, broadcast over
            the candidates; the candidates' share (``hidden1``'s item columns and ``B``) once per candidate.
            Without autograd (deciding, bootstrapping) the same products run in place, each bias folded into
            its matrix product: the same numbers with fewer temporaries.
            """
            if torch.is_grad_enabled():
                return self._forward_graph(s, f, rows)
            n, m, p = f.shape
            d, h = s.shape[-1], self.hidden2.weight.shape[0]
            weight = self.hidden1.weight
            by_state = torch.addmm(self.hidden1.bias, s, weight[:, :d].t())  # (n, H)
            a = torch.mm(s, self.state_map.weight.t())  # (n, H)
            flat = f.reshape(n * m, p)
            cross = torch.mm(flat, self.item_map.weight.t()).view(n, m, h).mul_(a[:, None, :])
            x = torch.addmm(torch.mm(flat, weight[:, d : d + p].t()), cross.view(n * m, h), weight[:, d + p :].t())
            x = x.view(n, m, h).add_(by_state[:, None, :]).relu_().view(n * m, h)
            x = torch.addmm(self.hidden2.bias, x, self.hidden2.weight.t()).relu_()
            q = torch.mv(x, self.out.weight[0]).add_(self.out.bias).view(n, m)
            return self._with_offsets(q, rows)

        def _forward_graph(self, s: Any, f: Any, rows: Any) -> Any:
            """:meth:`forward` with autograd (out of place)."""
            d, p = s.shape[-1], f.shape[-1]
            h = self.hidden2.weight.shape[0]
            linear = torch.nn.functional.linear
            weight = self.hidden1.weight
            by_state = linear(s, torch.cat([weight[:, :d], self.state_map.weight]))  # (n, 2H)
            by_item = linear(f, torch.cat([weight[:, d : d + p], self.item_map.weight]))  # (n, m, 2H)
            cross = by_state[:, None, h:] * by_item[..., h:]  # (n, m, H)
            x = linear(cross, weight[:, d + p :]) + by_item[..., :h]
            x = torch.relu(x + (by_state[:, :h] + self.hidden1.bias)[:, None, :])
            x = torch.relu(linear(x, self.hidden2.weight, self.hidden2.bias))
            q = linear(x, self.out.weight, self.out.bias).squeeze(-1)
            return self._with_offsets(q, rows)

        def _with_offsets(self, q: Any, rows: Any) -> Any:
            if self.buckets and rows is not None:
                bias = self.item_bias[rows.clamp(min=0) % self.buckets]
                q = q + torch.where(rows >= 0, bias, 0.0)
            return q

    _QNetwork.__module__ = __name__
    _QNetwork.__qualname__ = "_QNetwork"
    _NETWORK = _QNetwork
    return _NETWORK


def __getattr__(name: str) -> Any:
    # Unpickling a network names this class: build it on demand (it needs torch).
    if name == "_QNetwork":
        return _network_class(_torch())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _build_network(torch: Any, d: int, p: int, hidden: int, buckets: int) -> Any:
    return _network_class(torch)(d, p, hidden, buckets)


@register
class DQNAgent(Agent):
    """A Q-network over (session state, item features), learned by double DQN from a replay buffer.

    Every learning batch adds its transitions' positions to the replay buffer and, once it holds
    ``learning_starts`` samples, takes ``replay_ratio * new samples / batch_size`` gradient steps (the
    fraction carried over), each on ``batch_size`` samples drawn uniformly with the learning generator.
    A step regresses ``Q(s, f)`` on ``G + discount * Q_target(s', argmax_a' Q(s', a'))`` (double DQN; the
    plain max of the target network with ``double=False``) under the Huber loss, clips the gradient norm
    to ``max_grad_norm`` and takes an Adam step; the target network copies the online one every
    ``target_every`` steps. Weights start from the learning generator, so the same ``train_seed`` and the
    same data give the same network on the CPU. Its state (both networks, Adam's moments, the buffer)
    is saved as plain arrays in the policy's ``.npz`` file.

    Parameters
    ----------
    hidden : int, default 64
    learning_rate : float, default 1e-3
    batch_size : int, default 64
    buffer_size : int, default 50_000
    learning_starts : int, default 64
    replay_ratio : float, default 4.0
        Samples drawn for learning per sample added.
    target_every : int, default 100
    huber_delta : float, default 1.0
    max_grad_norm : float, default 10.0
    double : bool, default True
    device : {"cpu", "cuda", "auto"}, default "cpu"
    id_buckets : int, default 0
        0: Q reads only the state and the item's text features. Otherwise Q adds a learned offset per item
        (its row in the agent's item index, modulo ``id_buckets``), so that items seen often are valued by
        their own record as well as by their text; a never-seen item has offset 0 and is scored from its text.
    id_learning_rate : float or None, default None
        Adam's step size for the per-item offsets (None: ``learning_rate``). An offset moves only when its
        item is in a batch, so a larger step lets it learn an item's record about as fast as a bandit's counts.
    learner : {"inline", "lagged", "process"}, default "inline"
        Where the gradient steps run and which weights decide. ``"inline"``: in :meth:`learn`, and the agent
        decides on the newest weights. ``"lagged"``: the same steps, but the agent decides on the weights as
        they were before the last learning batch (an actor one batch behind its learner, as in distributed
        DQN). ``"process"``: the results of ``"lagged"``, array for array, with the gradient steps in a child
        process on another core, taken while the agent decides and the environment steps; the child is forked
        at the first learning batch (POSIX only; CPU only) and stopped with the agent. Its state (replay,
        networks, Adam, learning generator) comes back whenever the agent is saved, cloned or pickled, or
        on :meth:`sync`.
    actor_lag : int, default 1
        For ``learner`` "lagged" and "process": how many learning batches the deciding weights trail the
        learner by (1: the weights before the last batch). With ``"process"``, the child may be that many
        batches behind the agent before the agent waits for it, so a gradient step that outlasts a step of
        the environment now and then no longer stalls the rollout. ``"inline"`` ignores it.
    exploration, epsilon, temperature, gamma, n_step, reward_weights, train_seed, seed
        See :class:`~abrec.agents.Agent`.
    """

    name: ClassVar[str] = "dqn"
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        **_COMMON,
        "hidden": Interval("int", 1, 65_536),
        "learning_rate": Interval("float", 0.0, 1.0, closed="right"),
        "batch_size": Interval("int", 1, 1_000_000),
        "buffer_size": Interval("int", 1, 100_000_000),
        "learning_starts": Interval("int", 0, 100_000_000),
        "replay_ratio": Interval("float", 0.0, 1e6, closed="right"),
        "target_every": Interval("int", 1, 100_000_000),
        "huber_delta": Interval("float", 0.0, 1e12, closed="right"),
        "max_grad_norm": Interval("float", 0.0, 1e12, closed="right"),
        "double": Constraint("bool"),
        "device": StrOptions(("cpu", "cuda", "auto")),
        "id_buckets": Interval("int", 0, 100_000_000),
        "id_learning_rate": Constraint("float", 0.0, 1.0, low_open=True, optional=True),
        "learner": StrOptions(("inline", "lagged", "process")),
        "actor_lag": Interval("int", 1, 64),
    }

    def __init__(
        self,
        hidden: int = 64,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        buffer_size: int = 50_000,
        learning_starts: int = 64,
        replay_ratio: float = 4.0,
        target_every: int = 100,
        huber_delta: float = 1.0,
        max_grad_norm: float = 10.0,
        double: bool = True,
        device: str = "cpu",
        id_buckets: int = 0,
        id_learning_rate: float | None = None,
        learner: str = "inline",
        actor_lag: int = 1,
        *,
        exploration: str = "epsilon",
        epsilon: float = 0.1,
        temperature: float = 0.1,
        gamma: float = 0.9,
        n_step: int = 1,
        reward_weights: Mapping[str, float] | None = None,
        train_seed: int = 0,
        seed: Seed = None,
    ) -> None:
        self.hidden = hidden
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.buffer_size = buffer_size
        self.learning_starts = learning_starts
        self.replay_ratio = replay_ratio
        self.target_every = target_every
        self.huber_delta = huber_delta
        self.max_grad_norm = max_grad_norm
        self.double = double
        self.device = device
        self.id_buckets = id_buckets
        self.id_learning_rate = id_learning_rate
        self.learner = learner
        self.actor_lag = actor_lag
        super().__init__(
            exploration=exploration,
            epsilon=epsilon,
            temperature=temperature,
            gamma=gamma,
            n_step=n_step,
            reward_weights=reward_weights,
            train_seed=train_seed,
            seed=seed,
        )
        self.replay = ReplayBuffer(buffer_size)
        self.gradient_steps = 0
        self._owed_steps = 0.0
        self._online: Any = None
        self._target: Any = None
        self._optimizer: Any = None
        # learner "lagged" / "process": the network that decides, actor_lag learning batches behind the online
        # one, and the weights after each batch since the actor's, oldest first, that it has not taken yet (None:
        # the same as the entry before, or as the actor's). With a learner process, the weights after the last
        # batch sent are here too, or in flight (see _behind_file).
        self._actor: Any = None
        self._behind: list[dict[str, npt.NDArray[Any]] | None] = []
        self._remote: _remote.RemoteLearner | None = None
        self._synced = True  # whether this process holds the learner's state (always, but for learner="process")
        if learner == "process" and not _remote.fork_available():
            raise ParameterError("DQNAgent(learner='process') forks a learner process; this platform cannot fork.")
        if learner == "process" and device == "cuda":
            raise ParameterError(
                "DQNAgent(learner='process') learns in a forked CPU process; use device='cpu', or "
                "learner='inline' on an accelerator."
            )

    # ----------------------------------------------------------------- network
    def _torch_device(self) -> str:
        device = self.device
        if device == "auto":
            device = "cuda" if _torch().cuda.is_available() else "cpu"
        if device != "cpu" and self.learner == "process":
            raise ParameterError(
                f"DQNAgent(learner='process') learns in a forked CPU process; device {self.device!r} resolves to "
                f"{device!r}. Use device='cpu', or learner='inline' on an accelerator."
            )
        return device

    def _ensure_network(self) -> None:
        if self._online is not None:
            return
        torch = _torch()
        assert self._dim is not None and self._feature_dim is not None
        device = self._torch_device()
        online = _build_network(torch, self._dim, self._feature_dim, self.hidden, self.id_buckets)
        with torch.no_grad():
            for _, param in online.named_parameters():
                if param.ndim == 2:
                    bound = 1.0 / np.sqrt(param.shape[1])
                    values = self._train_rng.uniform(-bound, bound, size=tuple(param.shape))
                else:
                    values = np.zeros(tuple(param.shape))
                param.copy_(torch.from_numpy(values.astype(np.float32)))
        self._online = online.to(device)
        self._target = _build_network(torch, self._dim, self._feature_dim, self.hidden, self.id_buckets).to(device)
        self._target.load_state_dict(self._online.state_dict())
        self._optimizer = self._make_optimizer(torch)
        self._actor = self._actor_copy()

    def _actor_copy(self) -> Any:
        """A copy of the online network for ``learner`` "lagged" / "process" (None: the online one decides)."""
        if self.learner == "inline":
            return None
        torch = _torch()
        assert self._dim is not None and self._feature_dim is not None
        actor = _build_network(torch, self._dim, self._feature_dim, self.hidden, self.id_buckets)
        actor.load_state_dict(self._online.state_dict())
        return actor.to(self._online.out.weight.device).requires_grad_(False)

    def _deciding_network(self) -> Any:
        """The actor for ``learner`` "lagged" / "process", else the online network (also after a clone that
        changed ``learner``: an actor is made from the online weights when one is missing)."""
        if self.learner == "inline":
            return self._online
        if self._actor is None:
            self._actor = self._actor_copy()
        return self._actor

    def _make_optimizer(self, torch: Any) -> Any:
        """Adam over the online network; the per-item offsets in a group of their own (``id_learning_rate``)."""
        offsets = [p for name, p in self._online.named_parameters() if name == "item_bias"]
        others = [p for name, p in self._online.named_parameters() if name != "item_bias"]
        groups: list[dict[str, Any]] = [{"params": others}]
        if offsets:
            lr = self.learning_rate if self.id_learning_rate is None else self.id_learning_rate
            groups.append({"params": offsets, "lr": lr})
        # The fused kernel: one call for every parameter (about 4x faster than the per-tensor loop on a CPU).
        return torch.optim.Adam(groups, lr=self.learning_rate, fused=True)

    def _forward(self, net: Any, states: Any, features: Any, rows: Any) -> Any:
        """Q of features (n, m, p) with item rows (n, m) in states (n, d) as an (n, m) tensor."""
        return net(states, features, rows)

    def _q(self, states: FloatArray, features: FloatArray, rows: IntArray | None = None) -> FloatArray:
        self._ensure_network()
        torch = _torch()
        device = self._online.out.weight.device
        net = self._deciding_network()  # outside inference mode: an actor made here is updated in place later
        with torch.inference_mode():
            s = torch.as_tensor(np.asarray(states, dtype=np.float32), device=device)
            f = torch.as_tensor(np.ascontiguousarray(features, dtype=np.float32), device=device)
            r = None if rows is None else torch.as_tensor(np.array(rows, dtype=np.int64), device=device)
            q = self._forward(net, s, f, r)
        out: FloatArray = q.cpu().numpy().astype(np.float64)
        return out

    # ----------------------------------------------------------------- learning
    def _learn(self, t: Transitions, rows: IntArray | None = None, next_rows: IntArray | None = None) -> None:
        self._ensure_network()
        if self.learner == "inline":
            self._learn_here(t, rows, next_rows)
            return
        # The actor takes the weights as they were actor_lag batches before this one; the learner then steps.
        self._deciding_network()
        if self.learner == "lagged" or self._remote is None:
            # This process holds the learner's state (lagged; or a first batch, or after close or load: the
            # process forks from here): the weights before this batch join the queue.
            if self.actor_lag == 1 and not self._behind:
                _copy_weights(self._actor, self._online)
            else:
                self._behind.append(self._online_arrays())
                self._catch_up()
            if self.learner == "lagged":
                self._learn_here(t, rows, next_rows)
                return
            self._remote = _remote.RemoteLearner(self, self.actor_lag)
        else:
            self._catch_up()
        self._remote.submit(t, rows, next_rows)
        self._synced = False

    def _catch_up(self) -> None:
        """Move the actor on, oldest first, until fewer than ``actor_lag`` weights wait after its own (those
        collected, and the learner process's answers in flight)."""
        in_flight = 0 if self._remote is None else self._remote.in_flight
        while len(self._behind) + in_flight >= self.actor_lag:
            if self._behind:
                arrays = self._behind.pop(0)
            else:
                assert self._remote is not None
                arrays, self.gradient_steps, self._owed_steps = self._remote.collect()
                in_flight -= 1
            if arrays is not None:
                _load_weights(self._actor, arrays)

    def _collect_all(self) -> None:
        """Collect the learner process's answers in flight into the queue (the counters become current)."""
        if self._remote is None:
            return
        for arrays, steps, owed in self._remote.collect_all():
            self._behind.append(arrays)
            self.gradient_steps, self._owed_steps = steps, owed

    def _behind_file(self) -> list[dict[str, npt.NDArray[Any]]]:
        """The queue as a state file keeps it: every entry's weights, without the learner's newest (the online
        weights, which the next batch appends) that a learner process's answers add."""
        queue = self._behind[:-1] if self._remote is not None else list(self._behind)
        out: list[dict[str, npt.NDArray[Any]]] = []
        previous = None
        for entry in queue:
            if entry is None:
                if previous is None:
                    previous = {k: v.detach().cpu().numpy().copy() for k, v in self._actor.state_dict().items()}
                entry = previous
            out.append(entry)
            previous = entry
        return out

    def _learn_here(self, t: Transitions, rows: IntArray | None = None, next_rows: IntArray | None = None) -> None:
        """Fold a batch into the replay buffer and take the gradient steps it is owed (in this process)."""
        before = len(self.replay)
        self.replay.add(t, rows, next_rows)
        added = t.size * t.item_features.shape[1]
        if len(self.replay) < max(self.learning_starts, 1):
            return
        if before < self.learning_starts:
            added = len(self.replay)
        self._owed_steps += self.replay_ratio * added / self.batch_size
        steps = int(self._owed_steps)
        self._owed_steps -= steps
        for _ in range(steps):
            self._gradient_step()

    def _bootstrapped(self, g: Any, disc: Any, s2: Any, f2: Any, mask: Any, rows2: Any) -> Any:
        """The regression targets ``G + discount * Q_target(s', argmax_a' Q(s', a'))`` of a batch (tensors).

        Only the samples that bootstrap (positive discount, a valid next candidate) read their next
        candidates, so a myopic agent (gamma 0) evaluates none; double DQN evaluates the target network at
        the online network's pick only, the same value as at every candidate then picking.
        """
        torch = _torch()
        with torch.no_grad():
            live = mask.any(dim=1) & (disc > 0)
            boot = torch.zeros_like(g)
            n_live = int(live.sum())
            if n_live:
                if n_live < live.shape[0]:  # copy out the samples that bootstrap (all of them: no copy)
                    s2, f2, mask, rows2 = s2[live], f2[live], mask[live], rows2[live]
                else:
                    live = slice(None)
                if self.double:
                    q_next_online = self._forward(self._online, s2, f2, rows2).masked_fill(~mask, -torch.inf)
                    pick = q_next_online.argmax(dim=1, keepdim=True)
                    f_pick = f2.gather(1, pick[:, :, None].expand(-1, 1, f2.shape[2]))
                    boot[live] = self._forward(self._target, s2, f_pick, rows2.gather(1, pick)).squeeze(1)
                else:
                    q_next_target = self._forward(self._target, s2, f2, rows2).masked_fill(~mask, -torch.inf)
                    boot[live] = q_next_target.max(dim=1).values
            return g + disc * boot

    def _gradient_step(self) -> None:
        torch = _torch()
        device = self._online.out.weight.device
        batch = self.replay.sample(self.batch_size, self._train_rng)

        def tensor(name: str) -> Any:
            return torch.as_tensor(batch[name], device=device)

        s, f, g, disc = tensor("states"), tensor("features"), tensor("returns"), tensor("discounts")
        s2, f2, mask = tensor("next_states"), tensor("next_features"), tensor("next_mask")
        rows, rows2 = tensor("rows"), tensor("next_rows")
        y = self._bootstrapped(g, disc, s2, f2, mask, rows2)
        q = self._online(s, f[:, None, :], rows[:, None]).squeeze(1)
        loss = torch.nn.functional.huber_loss(q, y, delta=self.huber_delta)
        self._optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self._online.parameters(), self.max_grad_norm)
        self._optimizer.step()
        self.gradient_steps += 1
        if self.gradient_steps % self.target_every == 0:
            self._target.load_state_dict(self._online.state_dict())

    # ----------------------------------------------------------------- the learner process
    def sync(self) -> None:
        """Bring the learner process's state here (``learner="process"``; nothing to do otherwise).

        Waits for the gradient steps of every batch sent so far; the process keeps learning afterwards. Saving,
        cloning and pickling the agent sync it first.
        """
        if self._remote is None or self._synced:
            return
        self._collect_all()
        arrays, rng_state = self._remote.state()
        self._synced = True
        actor = self._actor
        self._load_learner_arrays(arrays)
        self._actor = actor
        self._train_rng.bit_generator.state = rng_state

    def wait(self) -> None:
        """Wait for the learner process's steps on every batch sent so far (``learner="process"``).

        ``gradient_steps`` is then current; the rest of the learned state stays in the process (see :meth:`sync`).
        """
        self._collect_all()

    def close(self) -> None:
        """Stop the learner process, after bringing its state here (``learner="process"``).

        The agent goes on as before: the next learning batch forks a new process from this state.
        """
        if self._remote is not None:
            self.sync()
            self._behind = list(self._behind_file())
            self._remote.close()
            self._remote = None

    def _online_arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {key: value.detach().cpu().numpy().copy() for key, value in self._online.state_dict().items()}

    def clone(self, **kwargs: Any) -> Any:
        self.sync()
        new = super().clone(**kwargs)
        if new.learner == "inline":  # no actor: a later clone that lags again starts from the online weights
            new._actor, new._behind = None, []
        elif kwargs.get("keep_state") and self._remote is not None:  # the clone has no learner process (yet)
            new._behind = [{k: v.copy() for k, v in entry.items()} for entry in self._behind_file()]
        return new

    def __getstate__(self) -> dict[str, Any]:
        self.sync()
        state = dict(self.__dict__)
        state["_behind"] = self._behind_file() if self._actor is not None else []
        state["_remote"] = None
        return state

    # ----------------------------------------------------------------- state
    def _extra_state(self) -> dict[str, npt.NDArray[Any]]:
        self.sync()  # the learning generator's state too
        return super()._extra_state()

    def _model_state(self) -> dict[str, npt.NDArray[Any]]:
        self.sync()
        out = self._learner_arrays()
        if self.learner != "inline" and self._actor is not None:
            for key, value in self._actor.state_dict().items():
                out["actor." + key] = value.detach().cpu().numpy()
            for i, entry in enumerate(self._behind_file()):
                for key, value in entry.items():
                    out[f"behind.{i}.{key}"] = value
        return out

    def _learner_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The learner's state (counters, replay, both networks, Adam) as named arrays."""
        out: dict[str, npt.NDArray[Any]] = {
            "gradient_steps": np.array(self.gradient_steps, dtype=np.int64),
            "owed_steps": np.array(self._owed_steps),
            **self.replay.arrays("replay."),
        }
        if self._online is None:
            return out
        for prefix, net in (("online.", self._online), ("target.", self._target)):
            for key, value in net.state_dict().items():
                out[prefix + key] = value.detach().cpu().numpy()
        for index, slot in self._optimizer.state_dict()["state"].items():
            for key, value in slot.items():
                out[f"adam.{index}.{key}"] = value.detach().cpu().numpy()
        return out

    def _load_model_state(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        if self._remote is not None:  # the loaded state replaces the process's; the next batch forks anew
            self._remote.close()
            self._remote = None
        self._synced = True
        actor = {key[len("actor.") :]: value for key, value in arrays.items() if key.startswith("actor.")}
        behind: dict[int, dict[str, npt.NDArray[Any]]] = {}
        for key, value in arrays.items():
            if key.startswith("behind."):
                _, index, name = key.split(".", 2)
                behind.setdefault(int(index), {})[name] = np.array(value)
        self._behind = [behind[i] for i in sorted(behind)]
        self._load_learner_arrays(
            {key: value for key, value in arrays.items() if not key.startswith(("actor.", "behind."))}
        )
        if self._online is None:
            return
        self._actor = self._actor_copy()
        if self._actor is not None and actor:
            _load_weights(self._actor, actor)

    def _load_learner_arrays(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        arrays = dict(arrays)
        self.gradient_steps = int(arrays.pop("gradient_steps", 0))
        self._owed_steps = float(arrays.pop("owed_steps", 0.0))
        replay = {k: v for k, v in arrays.items() if k.startswith("replay.")}
        if replay:
            self.replay = ReplayBuffer.from_arrays(replay, "replay.")
        if not any(key.startswith("online.") for key in arrays):
            return
        torch = _torch()
        # Build the networks without drawing from the learning generator, then load every tensor.
        device = self._torch_device()
        assert self._dim is not None and self._feature_dim is not None
        self._online = _build_network(torch, self._dim, self._feature_dim, self.hidden, self.id_buckets).to(device)
        self._target = _build_network(torch, self._dim, self._feature_dim, self.hidden, self.id_buckets).to(device)
        for prefix, net in (("online.", self._online), ("target.", self._target)):
            state = {
                key[len(prefix) :]: torch.from_numpy(np.array(v)) for key, v in arrays.items() if key.startswith(prefix)
            }
            net.load_state_dict(state)
        self._optimizer = self._make_optimizer(torch)
        slots: dict[int, dict[str, Any]] = {}
        for key, value in arrays.items():
            if key.startswith("adam."):
                _, index, name = key.split(".", 2)
                slots.setdefault(int(index), {})[name] = torch.from_numpy(np.array(value)).to(device)
        if slots:
            saved = self._optimizer.state_dict()
            saved["state"] = {
                i: {k: (v.cpu() if k == "step" else v) for k, v in slot.items()} for i, slot in slots.items()
            }
            self._optimizer.load_state_dict(saved)


def _copy_weights(to: Any, source: Any) -> None:
    """Copy ``source``'s parameters into the network ``to`` of the same shape, in place."""
    with _torch().no_grad():
        for mine, theirs in zip(to.parameters(), source.parameters(), strict=True):
            mine.copy_(theirs)


def _load_weights(to: Any, arrays: Mapping[str, npt.NDArray[Any]]) -> None:
    """Load a network's weights from named arrays (a state dict's), in place."""
    torch = _torch()
    with torch.no_grad():
        for key, value in to.state_dict(keep_vars=True).items():
            value.copy_(torch.from_numpy(np.asarray(arrays[key])))
