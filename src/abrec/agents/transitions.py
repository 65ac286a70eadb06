"""What an agent learns from: :class:`Transitions` (n-step, slate-shaped), how a rollout builds them
(:class:`NStepCollector`), and where an agent keeps them (:class:`ReplayBuffer`).

A transition starts at a session's state ``s_t`` where a slate was shown and ends ``h <= n_step`` steps later:

- ``rewards[i, j]`` is the n-step return credited to position ``j`` of the slate,
  ``r_{t,j} + sum_{l=1}^{h-1} gamma^l R_{t+l}``, with ``R`` the whole slate's reward at a later step;
- ``discounts[i]`` is ``gamma^h``, or 0 when the session ended within those steps (nothing to bootstrap);
- ``next_states``, ``next_item_features`` and ``next_mask`` describe ``s_{t+h}`` and its candidates, from
  which the agent bootstraps ``max_a Q(s_{t+h}, a)``.

Feedback without a next state (the policy protocol's ``update``) is a transition with discount 0.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ..errors import InputError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

__all__ = ["NStepCollector", "ReplayBuffer", "Transitions"]


class Transitions(NamedTuple):
    """A batch of ``N`` n-step transitions whose slates have ``k`` positions (see the module docstring).

    Attributes
    ----------
    states : (N, d) the session states the slates were shown in.
    item_features : (N, k, p) features of the shown items.
    rewards : (N, k) n-step return credited to each position.
    discounts : (N,) ``gamma^h``, 0 where the session ended.
    next_states : (N, d) the states ``h`` steps later.
    next_item_features : (N, m, p) the candidates' features there.
    next_mask : (N, m) bool, valid next candidates (all False where the discount is 0 and nothing follows).
    items, next_items : (N, k) and (N, m) item ids of the shown and the next candidate items, or None
        (for agents that also learn a per-item term; the rollout always gives them).
    """

    states: FloatArray
    item_features: FloatArray
    rewards: FloatArray
    discounts: FloatArray
    next_states: FloatArray
    next_item_features: FloatArray
    next_mask: BoolArray
    items: npt.NDArray[Any] | None = None
    next_items: npt.NDArray[Any] | None = None

    @property
    def size(self) -> int:
        return int(self.states.shape[0])

    @classmethod
    def terminal(
        cls, states: FloatArray, item_features: FloatArray, rewards: FloatArray, items: npt.NDArray[Any] | None = None
    ) -> Transitions:
        """One-step transitions with nothing after them: ``states`` (N, d), features (N, p), rewards (N,), ids (N,)."""
        n, d = states.shape
        p = item_features.shape[-1]
        return cls(
            states,
            item_features.reshape(n, 1, p),
            rewards.reshape(n, 1),
            np.zeros(n),
            np.zeros((n, d)),
            np.zeros((n, 1, p)),
            np.zeros((n, 1), dtype=bool),
            None if items is None else np.asarray(items).reshape(n, 1),
            None if items is None else np.asarray(items).reshape(n, 1),
        )

    def checked(self, owner: str) -> Transitions:
        """The same transitions as float64/bool arrays, or an InputError saying which array is malformed."""
        s = np.asarray(self.states, dtype=np.float64)
        f = np.asarray(self.item_features, dtype=np.float64)
        r = np.asarray(self.rewards, dtype=np.float64)
        g = np.asarray(self.discounts, dtype=np.float64)
        s2 = np.asarray(self.next_states, dtype=np.float64)
        f2 = np.asarray(self.next_item_features, dtype=np.float64)
        mask = np.asarray(self.next_mask, dtype=bool)
        if s.ndim != 2 or f.ndim != 3 or f.shape[0] != s.shape[0]:
            raise InputError(
                f"{owner}: transitions need states (N, d) and item_features (N, k, p). Got {s.shape} and {f.shape}."
            )
        n, k = f.shape[:2]
        if r.shape != (n, k) or g.shape != (n,) or s2.shape != s.shape:
            raise InputError(
                f"{owner}: transitions need rewards ({n}, {k}), discounts ({n},) and next_states {s.shape}. "
                f"Got {r.shape}, {g.shape} and {s2.shape}."
            )
        if f2.ndim != 3 or f2.shape[0] != n or f2.shape[2] != f.shape[2] or mask.shape != f2.shape[:2]:
            raise InputError(
                f"{owner}: transitions need next_item_features ({n}, m, {f.shape[2]}) and next_mask ({n}, m). "
                f"Got {f2.shape} and {mask.shape}."
            )
        for name, a in (("states", s), ("item_features", f), ("rewards", r), ("next_states", s2)):
            if not np.isfinite(a).all():
                raise InputError(f"{owner}: transitions' {name} contain NaN or infinite values.")
        if not np.isfinite(g).all() or (g < 0).any() or (g > 1).any():
            raise InputError(f"{owner}: transitions' discounts must lie in [0, 1].")
        if ((g > 0) & ~mask.any(axis=1)).any():
            raise InputError(f"{owner}: a transition with a positive discount needs at least one valid next candidate.")
        if not np.isfinite(f2[mask]).all():
            raise InputError(f"{owner}: transitions' next_item_features contain NaN or infinite values.")
        items = None if self.items is None else np.asarray(self.items)
        next_items = None if self.next_items is None else np.asarray(self.next_items)
        if (items is None) != (next_items is None) or (
            items is not None and next_items is not None and (items.shape != (n, k) or next_items.shape != mask.shape)
        ):
            raise InputError(
                f"{owner}: transitions need both items ({n}, {k}) and next_items {mask.shape}, or neither. "
                f"Got {None if items is None else items.shape} and {None if next_items is None else next_items.shape}."
            )
        return Transitions(s, f, r, g, s2, f2, mask, items, next_items)


class NStepCollector:
    """Builds n-step :class:`Transitions` for ``n_sessions`` concurrent sessions stepping together.

    Call :meth:`push` with what was shown at a step (the slates' states, features, per-position rewards
    and which sessions were active), then :meth:`emit` with what followed (the next states and candidates,
    which sessions ended, whether the episode was cut at its horizon). A transition is emitted once it
    spans ``n_step`` steps, or at once (discount 0) when its session ends, or (bootstrapped from the last
    state) when the episode is truncated.

    Examples
    --------
    >>> c = NStepCollector(1, n_step=2, gamma=0.5)
    >>> z = np.zeros((1, 1, 1))
    >>> c.push(np.zeros((1, 1)), z, np.array([[1.0]]), np.array([True]))
    >>> c.emit(np.ones((1, 1)), z, np.ones((1, 1), bool), np.array([False]), truncated=False) is None
    True
    >>> c.push(np.ones((1, 1)), z, np.array([[2.0]]), np.array([True]))
    >>> t = c.emit(np.ones((1, 1)), z, np.ones((1, 1), bool), np.array([False]), truncated=False)
    >>> t.rewards.tolist(), t.discounts.tolist()  # 1 + 0.5 * 2, then gamma^2
    ([[2.0]], [0.25])
    """

    def __init__(self, n_sessions: int, *, n_step: int, gamma: float) -> None:
        self.n_sessions = n_sessions
        self.n_step = n_step
        self.gamma = gamma
        self._records: list[dict[str, Any]] = []

    def push(
        self,
        states: FloatArray,
        item_features: FloatArray,
        rewards: FloatArray,
        active: BoolArray,
        items: npt.NDArray[Any] | None = None,
    ) -> None:
        """Record a step: states (n, d), shown features (n, k, p), per-position rewards (n, k), active (n,), ids."""
        self._records.append(
            {
                "items": None if items is None else np.asarray(items),
                "states": np.asarray(states, dtype=np.float64),
                "features": np.asarray(item_features, dtype=np.float64),
                "rewards": np.asarray(rewards, dtype=np.float64),
                "total": np.asarray(rewards, dtype=np.float64).sum(axis=1),
                "pending": np.asarray(active, dtype=bool).copy(),
            }
        )

    def emit(
        self,
        next_states: FloatArray,
        next_item_features: FloatArray,
        next_mask: BoolArray,
        ended: BoolArray,
        *,
        truncated: bool,
        next_items: npt.NDArray[Any] | None = None,
    ) -> Transitions | None:
        """The transitions completed by the last step (None when none is), see the class docstring."""
        # Record by record, oldest first, rows in order within each; what follows is the same for every
        # record, so it is gathered once, for all the completed rows together.
        parts: list[tuple[dict[str, Any], npt.NDArray[np.intp], FloatArray, FloatArray]] = []
        last = len(self._records) - 1
        for index, record in enumerate(self._records):
            h = last - index + 1
            due = record["pending"] & (ended | (h >= self.n_step) | truncated)
            if not due.any():
                continue
            rows = np.flatnonzero(due)
            ret = record["rewards"][rows].copy()
            for lag in range(1, h):
                ret += (self.gamma**lag) * self._records[index + lag]["total"][rows, None]
            parts.append((record, rows, ret, np.where(ended[rows], 0.0, self.gamma**h)))
            record["pending"][rows] = False
        self._records = [r for r in self._records if r["pending"].any()][-self.n_step :]
        if not parts:
            return None
        every = parts[0][1] if len(parts) == 1 else np.concatenate([rows for _, rows, _, _ in parts])
        with_ids = parts[0][0]["items"] is not None and next_items is not None

        def joined(key: str) -> npt.NDArray[Any]:
            if len(parts) == 1:
                return np.asarray(parts[0][0][key][parts[0][1]])
            return np.concatenate([record[key][rows] for record, rows, _, _ in parts])

        return Transitions(
            joined("states"),
            joined("features"),
            parts[0][2] if len(parts) == 1 else np.concatenate([ret for _, _, ret, _ in parts]),
            parts[0][3] if len(parts) == 1 else np.concatenate([disc for _, _, _, disc in parts]),
            np.asarray(next_states, dtype=np.float64)[every],
            np.asarray(next_item_features, dtype=np.float64)[every],
            np.asarray(next_mask, dtype=bool)[every] & ~ended[every, None],
            joined("items") if with_ids else None,
            np.asarray(next_items)[every] if with_ids else None,
        )


_WIDE = ("next_features", "next_mask", "next_rows")
_ALL_AT_ONCE = 1 << 20
_DTYPES: dict[str, Any] = {"next_mask": np.bool_, "rows": np.int64, "next_rows": np.int64}


class ReplayBuffer:
    """A ring buffer of single-item samples ``(s, f, G, discount, s', F', mask')`` for off-policy learning.

    A slate's ``k`` positions become ``k`` samples. Storage grows as samples arrive, up to ``capacity``;
    the oldest are overwritten after that. The next-candidate axis grows to the widest candidate set
    seen (narrower sets are padded and masked). :meth:`arrays` / :meth:`from_arrays` are its exact,
    pickle-free state.
    """

    _NAMES = (
        "states",
        "features",
        "returns",
        "discounts",
        "next_states",
        "next_features",
        "next_mask",
        "rows",
        "next_rows",
    )

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.size = 0
        self.head = 0
        self.data: dict[str, npt.NDArray[Any]] = {}

    def __len__(self) -> int:
        return self.size

    def add(
        self, t: Transitions, rows: npt.NDArray[np.int64] | None = None, next_rows: npt.NDArray[np.int64] | None = None
    ) -> None:
        """Append the positions of ``t`` (already checked) as samples, with the agent's item rows (-1: none)."""
        n, k, p = t.item_features.shape
        if rows is None or next_rows is None:
            rows = np.full((n, k), -1, dtype=np.int64)
            next_rows = np.full(t.next_mask.shape, -1, dtype=np.int64)
        if n == 0:
            return

        def per_position(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
            # One sample per slate position (the array itself for one-item slates: it is copied into the ring).
            return a if k == 1 else np.repeat(a, k, axis=0)

        samples = {
            "rows": rows.reshape(n * k),
            "next_rows": per_position(next_rows),
            "states": per_position(t.states),
            "features": t.item_features.reshape(n * k, p),
            "returns": t.rewards.reshape(n * k),
            "discounts": per_position(t.discounts),
            "next_states": per_position(t.next_states),
            "next_features": per_position(t.next_item_features),
            "next_mask": per_position(t.next_mask),
        }
        count = n * k
        if count > self.capacity:
            samples = {key: value[-self.capacity :] for key, value in samples.items()}
            count = self.capacity
        self._reserve(min(self.capacity, self.size + count), samples["next_mask"].shape[1], samples)
        # A slice where the new rows do not wrap around the ring (no index array, no copy of the rows).
        end = self.head + count
        where: Any = slice(self.head, end) if end <= self.capacity else np.arange(self.head, end) % self.capacity
        for key, value in samples.items():
            if key in _WIDE:
                if value.shape[1] < self.data[key].shape[1]:
                    self.data[key][where] = -1 if key == "next_rows" else 0
                self.data[key][where, : value.shape[1]] = value
            else:
                self.data[key][where] = value
        self.head = int((self.head + count) % self.capacity)
        self.size = min(self.capacity, self.size + count)

    def _reserve(self, rows_needed: int, m: int, like: dict[str, npt.NDArray[Any]]) -> None:
        have = self.data["returns"].shape[0] if self.data else 0
        width = self.data["next_mask"].shape[1] if self.data else 0
        if have >= rows_needed and width >= m:
            return
        # Room for the whole capacity at once up to 2^20 rows: np.zeros hands out pages only as rows are
        # written, so the rows not yet filled cost no memory and a filling buffer never copies itself.
        # Beyond that, growing by 4x: a buffer that fills copies its rows twice or so, not at every doubling.
        first = self.capacity if self.capacity <= _ALL_AT_ONCE else 4096
        new_rows = min(self.capacity, max(rows_needed, 4 * have, first)) if have < rows_needed else have
        new_m = max(m, width)
        grown: dict[str, npt.NDArray[Any]] = {}
        for key, value in like.items():
            tail: tuple[int, ...] = value.shape[1:]
            if key in _WIDE:
                tail = (new_m, *tail[1:])
            dtype = _DTYPES.get(key, np.float32)
            shape = (new_rows, *tail)
            # np.zeros: zeroed pages the system hands out lazily, so rows not yet written cost nothing (a row
            # is read only once written, and :meth:`add` pads a narrower row itself).
            array = np.zeros(shape, dtype=dtype)
            if self.data:
                old = self.data[key]
                if key in _WIDE:
                    array[: old.shape[0], : old.shape[1]] = old
                    if key == "next_rows":  # the old rows' new columns hold no item
                        array[: old.shape[0], old.shape[1] :] = -1
                else:
                    array[: old.shape[0]] = old
            grown[key] = array
        self.data = grown

    def sample(self, batch: int, rng: np.random.Generator) -> dict[str, npt.NDArray[Any]]:
        """``batch`` samples drawn uniformly with replacement."""
        return self.take(self.draw(batch, rng))

    def draw(self, batch: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """The positions of ``batch`` samples drawn uniformly with replacement (what :meth:`sample` draws)."""
        idx: npt.NDArray[np.int64] = rng.integers(self.size, size=batch)
        return idx

    def take(self, idx: npt.NDArray[np.int64]) -> dict[str, npt.NDArray[Any]]:
        """The samples at positions ``idx`` (copies)."""
        return {key: value[idx] for key, value in self.data.items()}

    def arrays(self, prefix: str) -> dict[str, npt.NDArray[Any]]:
        """The buffer as named arrays (its filled rows and a small header), for a state file."""
        out = {f"{prefix}{key}": value[: self.size] for key, value in self.data.items()}
        out[f"{prefix}meta"] = np.array(json.dumps({"size": self.size, "head": self.head, "capacity": self.capacity}))
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, npt.NDArray[Any]], prefix: str) -> ReplayBuffer:
        meta = json.loads(str(arrays[f"{prefix}meta"]))
        buffer = cls(int(meta["capacity"]))
        buffer.size, buffer.head = int(meta["size"]), int(meta["head"])
        data = {key: arrays[f"{prefix}{key}"] for key in cls._NAMES if f"{prefix}{key}" in arrays}
        if data:
            buffer.data = {key: np.array(value) for key, value in data.items()}
        return buffer
