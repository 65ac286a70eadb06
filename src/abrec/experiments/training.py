"""Training an agent on a session environment: many concurrent sessions, several seeds, a learning curve.

A training config (a mapping, or YAML for ``abrec train``) names the environment, the agent and how long::

    name: dqn
    env: {env: abrec/SyntheticCatalog-Session-v0, seed: 0, world: {n_items: 500},
          view: {n_users: 256, n_candidates: 20, slate_size: 1, max_steps: 20}}
    encoder: auto            # the item text encoder (the agent's Q-function reads its features)
    feature_dim: 8
    agent: {policy: dqn, params: {hidden: 32, gamma: 0.9, n_step: 3}}
    episodes: 20             # each episode: n_users fresh sessions stepping together
    seeds: [0, 1, 2]         # or a count: seeds 0 .. N-1
    warm_start: behaviour.parquet   # optional: offline pre-training on a logged policy's transitions
    output: runs/dqn         # the folder abrec train writes

For each seed the agent is made with ``seed`` (its decisions) and ``train_seed`` (its learning draws) set to
the seed, optionally pre-trained on the warm-start log, then trained online with
:func:`abrec.agents.run_sessions` for ``episodes`` episodes (episode ``e`` resets the env with
``SeedSequence(seed)``'s first word plus ``e``). The learning curve has one :class:`CurvePoint` per (seed,
episode): the mean return, length, clicks and purchases per session and the share of sessions left early,
from what the environment reports. On the CPU the same config gives the same agents to the last bit.

Warm start from a log
---------------------
:func:`log_transitions` turns an :class:`~abrec.data.InteractionLog` into the agent's n-step
:class:`~abrec.agents.Transitions`: the rows are grouped into sessions by ``session_id`` and ordered by
``step`` (then ``position``); the state at each step is what the agent's :class:`~abrec.agents.StateEncoder`
makes of the session so far (the user's context at that step, the text features of the items shown and
clicked before it, the step and the misses), exactly as in a rollout, and the next state of a step is the
session's next step. So the log must hold, for every shown item: ``session_id``, ``step``, ``position``,
``item`` (ids among the environment's items), ``reward`` (the click) and, when the agent's
``reward_weights`` use them, ``purchase`` and ``revenue``; and the ``context`` column with the **user's
context vector** as the environment observes it (what :func:`~abrec.agents.run_sessions` logs for every
row, and ``abrec simulate`` on a session config writes). Every step of a session must show the same
number of items. What the log cannot give is approximated, and said here: the candidates of the next
step (the log holds only what was shown) are the items the session showed at its next step; the fatigue
the environment observed (a pair feature of the agents that read them) is 0; and the last logged step of
a session ends it (no bootstrap, also when the horizon rather than the user ended it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..data.interactions import InteractionLog
from ..embeddings.features import ItemFeatures
from ..errors import InputError, ParameterError, unknown_key
from ..policies.base import Policy
from ..policies.registry import make_policy

__all__ = [
    "CurvePoint",
    "TrainConfig",
    "TrainResult",
    "load_train_config",
    "log_transitions",
    "train_agent",
]

if TYPE_CHECKING:
    from ..agents import Learner, StateEncoder, Transitions

FloatArray = npt.NDArray[np.float64]

_KEYS = ("name", "env", "encoder", "feature_dim", "agent", "episodes", "seeds", "warm_start", "output")
_AGENT_KEYS = ("policy", "params")
_WARM_KEYS = ("log", "variant")
_SEEDED = ("seed", "train_seed")


@dataclass(frozen=True)
class TrainConfig:
    """An agent's training run (see the module docstring for the YAML form).

    ``warm_start`` is the path of an interaction log (or None) and ``warm_start_variant`` the variant whose
    rows to learn from (None: every row).
    """

    env: Mapping[str, Any]
    agent: str
    params: Mapping[str, Any] = field(default_factory=dict)
    episodes: int = 10
    seeds: tuple[int, ...] = (0,)
    encoder: str = "auto"
    feature_dim: int = 8
    warm_start: str | None = None
    warm_start_variant: str | None = None
    output: str = "train"
    name: str = "train"

    def __post_init__(self) -> None:
        if isinstance(self.episodes, bool) or not isinstance(self.episodes, int) or self.episodes < 1:
            raise ParameterError(f"episodes must be an int >= 1. Got {self.episodes!r}.")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            raise ParameterError(f"seeds must be distinct ints >= 0, at least one. Got {list(self.seeds)}.")
        for key in _SEEDED:
            if key in self.params:
                raise InputError(f"agent.params.{key} is set by 'seeds' (one agent per seed); remove it.")

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> TrainConfig:
        """Build and validate a config from a mapping (e.g. parsed YAML)."""
        from .. import agents
        from ..envs.registry import check_env_config
        from ..policies.registry import check_policy_params

        for key in config:
            if key not in _KEYS:
                raise unknown_key(key, "the training config", _KEYS)
        for key in ("env", "agent"):
            if key not in config:
                raise InputError(f"The training config needs an {key!r} entry (see abrec.experiments.training).")
        env = config["env"]
        if not isinstance(env, Mapping) or not str(env.get("env", "")).endswith("-Session-v0"):
            raise InputError(
                f"The training config's 'env' must be a mapping naming a session view (…-Session-v0). Got {env!r}."
            )
        check_env_config(env)
        agent = config["agent"]
        if (
            not isinstance(agent, Mapping)
            or "policy" not in agent
            or not isinstance(agent.get("params") or {}, Mapping)
        ):
            raise InputError("The training config's 'agent' must be a mapping with 'policy' (and optional 'params').")
        for key in agent:
            if key not in _AGENT_KEYS:
                raise unknown_key(key, "agent", _AGENT_KEYS)
        name, params = str(agent["policy"]), dict(agent.get("params") or {})
        for key in _SEEDED:
            if key in params:
                raise InputError(f"agent.params.{key} is set by 'seeds' (one agent per seed); remove it.")
        check_policy_params(name, params, f"agent.params ({name})")
        if not issubclass(_policy_class(name), agents.Agent):
            raise InputError(
                f"abrec train trains agents (policies that learn from session transitions, e.g. dqn, tabular_q); "
                f"{name!r} is not one."
            )
        seeds = config.get("seeds", 1)
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            if seeds < 1:
                raise InputError(f"seeds must be a count >= 1 or a list of seeds. Got {seeds!r}.")
            seeds = list(range(seeds))
        if isinstance(seeds, str | bytes) or not isinstance(seeds, Sequence):
            raise InputError(f"seeds must be a count or a list of ints. Got {seeds!r}.")
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise InputError(f"seeds must be a count or a list of ints. Got {seeds!r}.")
        warm = config.get("warm_start")
        warm_log, warm_variant = None, None
        if isinstance(warm, str):
            warm_log = warm
        elif isinstance(warm, Mapping):
            for key in warm:
                if key not in _WARM_KEYS:
                    raise unknown_key(key, "warm_start", _WARM_KEYS)
            if "log" not in warm:
                raise InputError("warm_start needs 'log' (the path of an interaction log).")
            warm_log = str(warm["log"])
            warm_variant = None if warm.get("variant") is None else str(warm["variant"])
        elif warm is not None:
            raise InputError(f"warm_start must be a log's path or a mapping {{log, variant}}. Got {warm!r}.")
        episodes, feature_dim = config.get("episodes", 10), config.get("feature_dim", 8)
        for key, value in (("episodes", episodes), ("feature_dim", feature_dim)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(f"{key} must be an integer. Got {value!r}.")
        return cls(
            env=dict(env),
            agent=name,
            params=params,
            episodes=episodes,
            seeds=tuple(seeds),
            encoder=str(config.get("encoder", "auto")),
            feature_dim=feature_dim,
            warm_start=warm_log,
            warm_start_variant=warm_variant,
            output=str(config.get("output", "train")),
            name=str(config.get("name", "train")),
        )

    def make_agent(self, seed: int) -> Policy:
        """The untrained agent of ``seed`` (decisions and learning draws seeded by it)."""
        return make_policy(self.agent, seed=seed, train_seed=seed, **dict(self.params))

    def env_seed(self, seed: int) -> int:
        """The reset seed of episode 0 of ``seed`` (episode ``e`` adds ``e``)."""
        return int(np.random.SeedSequence(seed).generate_state(1)[0])


def _policy_class(name: str) -> type[Policy]:
    from ..policies.registry import policy_class

    return policy_class(name)


def load_train_config(path: str | os.PathLike[str]) -> TrainConfig:
    """Read a training config from a YAML file."""
    import yaml

    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read the training config: {exc}") from exc
    if not isinstance(loaded, Mapping):
        raise InputError(f"{path}: a training config must be a YAML mapping.")
    return TrainConfig.from_mapping(loaded)


@dataclass(frozen=True)
class CurvePoint:
    """One point of a learning curve: what the sessions of one episode of one seed gave, while learning.

    ``return_per_session`` is the environment's return (clicks or revenue) averaged over the episode's
    sessions; ``transitions`` counts the transitions the agent had learned from by the episode's end
    (warm start included).
    """

    seed: int
    episode: int
    sessions: int
    return_per_session: float
    session_length: float
    clicks_per_session: float
    purchases_per_session: float
    left_early: float
    transitions: int
    seconds: float

    def as_row(self) -> dict[str, Any]:
        """The point as a JSON-ready mapping (one line of the learning curve file)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, eq=False)
class TrainResult:
    """Trained agents by seed, their learning curves and how they were made."""

    config: TrainConfig
    agents: dict[int, Policy]
    curve: tuple[CurvePoint, ...]
    warm_transitions: int
    encoder: str
    seconds: float

    def curve_frame(self) -> pd.DataFrame:
        """The learning curve, one row per (seed, episode)."""
        return pd.DataFrame([p.as_row() for p in self.curve])


def log_transitions(
    log: InteractionLog,
    agent: Learner,
    features: ItemFeatures,
    *,
    encoder: StateEncoder | None = None,
    horizon: int = 50,
    variant: str | None = None,
) -> Transitions:
    """The n-step transitions of ``agent`` (its ``gamma``, ``n_step``, ``reward_of`` and pair features) in ``log``.

    See the module docstring for what the log must hold and what is approximated. ``encoder`` is the
    :class:`~abrec.agents.StateEncoder` of the online rollout (default: one over ``features`` with ``horizon``).
    Returns a :class:`~abrec.agents.Transitions` (possibly empty).

    Raises
    ------
    abrec.errors.InputError
        The log lacks sessions, steps or contexts, mixes slate sizes, or names items without features.
    """
    from ..agents import NStepCollector, StateEncoder, Transitions

    enc = encoder if encoder is not None else StateEncoder(features, horizon=horizon)
    frame = log.frame
    if variant is not None:
        frame = frame[frame["variant"] == variant]
        if len(frame) == 0:
            raise InputError(f"The warm-start log has no rows of variant {variant!r}.")
    if len(frame) == 0:
        raise InputError("The warm-start log has no rows.")
    if (frame["session_id"] == "").any():
        raise InputError(
            "Warm start builds transitions from sessions: every row of the log needs a session_id (and its step)."
        )
    if "context" not in frame.columns:
        raise InputError(
            "Warm start rebuilds the agent's session state from the log, so the log needs the users' context "
            "vectors (the 'context' column, as abrec simulate and run_sessions log it)."
        )
    frame = frame.sort_values(["session_id", "step", "position"], kind="stable")
    request = frame["session_id"].astype(str) + "\x00" + frame["step"].astype(str)
    sizes = request.groupby(request, sort=False).size()
    k = int(sizes.iloc[0])
    if (sizes != k).any():
        raise InputError(
            f"Every step of the warm-start log must show the same number of items; got {sorted(set(sizes))}."
        )
    if (frame["position"].to_numpy().reshape(-1, k) != np.arange(k)).any():
        raise InputError(f"Each step of the warm-start log must hold positions 0 .. {k - 1} once each.")
    heads = frame.iloc[::k]
    session, _ = pd.factorize(heads["session_id"], sort=False)
    t = heads.groupby(session).cumcount().to_numpy()
    n, horizon_len = int(session.max()) + 1, int(t.max()) + 1
    ids = frame["item"].to_numpy().reshape(-1, k)
    missing = ~np.isin(ids, features.ids)
    if missing.any():
        raise InputError(f"The warm-start log shows items without text features, e.g. {ids[missing][:3].tolist()}.")
    contexts = np.stack(list(heads["context"])).astype(np.float64)
    outcomes = {"click": frame["reward"].to_numpy(dtype=np.float64).reshape(-1, k)}
    for column, key in (("purchase", "purchase"), ("revenue", "revenue")):
        if column in frame.columns:
            outcomes[key] = frame[column].to_numpy(dtype=np.float64).reshape(-1, k)
    # A (session, step) grid; cells past a session's end repeat its last step and are inactive.
    active = np.zeros((n, horizon_len), dtype=bool)
    active[session, t] = True
    lengths = active.sum(axis=1)
    where = np.full((n, horizon_len), -1, dtype=np.int64)
    where[session, t] = np.arange(len(heads))
    where = np.where(active, where, where[np.arange(n), lengths - 1][:, None])
    pairs = bool(getattr(agent, "uses_pair_features", False))
    collector = NStepCollector(n, n_step=int(agent.n_step), gamma=float(agent.gamma))
    state = enc.start(contexts[where[:, 0]])
    out: list[Transitions] = []
    for step in range(horizon_len):
        rows = where[:, step]
        state = enc.with_context(state, contexts[rows])
        shown = ids[rows]
        feats = features.lookup(shown).astype(np.float64)
        if pairs:
            feats = np.concatenate([feats, enc.pair_features(state, shown, None, feats)], axis=2)
        reward = agent.reward_of({key: value[rows] for key, value in outcomes.items()})
        collector.push(enc.encode(state), feats, reward, active[:, step], shown)
        state = enc.advance(state, shown, outcomes["click"][rows], active[:, step])
        following = where[:, min(step + 1, horizon_len - 1)]
        nxt = enc.with_context(state, contexts[following])
        next_ids = ids[following]
        next_feats = features.lookup(next_ids).astype(np.float64)
        if pairs:
            next_feats = np.concatenate([next_feats, enc.pair_features(nxt, next_ids, None, next_feats)], axis=2)
        ended = active[:, step] & (lengths == step + 1)
        ready = collector.emit(
            enc.encode(nxt),
            next_feats,
            np.ones(next_ids.shape, dtype=bool),
            ended,
            truncated=False,
            next_items=next_ids,
        )
        if ready is not None:
            out.append(ready)
    if not out:
        return Transitions.terminal(np.zeros((0, 1)), np.zeros((0, 1)), np.zeros(0))
    return Transitions(*(np.concatenate([getattr(b, f) for b in out]) for f in Transitions._fields))


def train_agent(
    config: TrainConfig,
    *,
    progress: Callable[[int, int], None] | None = None,
    notify: Callable[[str], None] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train ``config``'s agent, one per seed (see the module docstring).

    Parameters
    ----------
    config : TrainConfig
    progress : callable(done, total), optional
        Called after every episode of every seed.
    notify : callable(str), optional
        Receives diagnostics (encoder, warm start, timings).
    cache_dir : path, optional
        Folder of the embedding cache; None encodes without caching.
    """
    from ..agents import run_sessions
    from ..envs.registry import make_env
    from .simulation import world_item_features

    say = notify or (lambda _line: None)
    start = time.perf_counter()
    env = make_env(dict(config.env))
    view: Any = env.unwrapped
    features, identity = world_item_features(
        view.world, config.encoder, config.feature_dim, notify=say, cache_dir=cache_dir
    )
    warm_log = None
    if config.warm_start is not None:
        warm_log = InteractionLog.read(config.warm_start)
    max_steps = int(view.max_steps)
    agents: dict[int, Policy] = {}
    curve: list[CurvePoint] = []
    warm_count = 0
    total = len(config.seeds) * config.episodes
    for index, seed in enumerate(config.seeds):
        agent = config.make_agent(seed)
        learner: Any = agent
        if warm_log is not None:
            transitions = log_transitions(
                warm_log, learner, features, horizon=max_steps, variant=config.warm_start_variant
            )
            if transitions.size:
                learner.learn(transitions)
            warm_count = int(transitions.size)
            say(f"seed {seed}: pre-trained on {warm_count:,} transitions of {config.warm_start}")
        n_users = int(view.n_users)
        clicks = purchases = np.zeros(n_users)
        left = np.zeros(n_users, dtype=np.bool_)
        began = time.perf_counter()
        for step in run_sessions(
            env, {"agent": agent}, features=features, episodes=config.episodes, seed=config.env_seed(seed), log=False
        ):
            info = step.info
            if step.step == 0:
                clicks, purchases = np.zeros(n_users), np.zeros(n_users)
                left = np.zeros(n_users, dtype=np.bool_)
            shown_clicks = np.asarray(info["clicks"], dtype=np.float64)
            bought = np.asarray(info["purchases"], dtype=np.float64) if "purchases" in info else 0.0 * shown_clicks
            clicks, purchases = clicks + shown_clicks.sum(axis=1), purchases + bought.sum(axis=1)
            gone = np.asarray(info["left"], dtype=bool)
            left = left | (gone & (step.step + 1 < max_steps))
            if not (step.step + 1 >= max_steps or not (np.asarray(info["active"], dtype=bool) & ~gone).any()):
                continue
            curve.append(
                CurvePoint(
                    seed=seed,
                    episode=step.episode,
                    sessions=n_users,
                    return_per_session=float(np.mean(info["returns"])),
                    session_length=float(np.mean(info["session_lengths"])),
                    clicks_per_session=float(clicks.mean()),
                    purchases_per_session=float(purchases.mean()),
                    left_early=float(left.mean()),
                    transitions=int(learner.transitions_seen),
                    seconds=time.perf_counter() - began,
                )
            )
            if progress is not None:
                progress(index * config.episodes + step.episode + 1, total)
        agents[seed] = agent
    return TrainResult(
        config=config,
        agents=agents,
        curve=tuple(curve),
        warm_transitions=warm_count,
        encoder=identity,
        seconds=time.perf_counter() - start,
    )
