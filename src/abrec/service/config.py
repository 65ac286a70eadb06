"""The service's config: experiments in the vocabulary of ``abrec simulate``, plus what a live service needs.

A config is a YAML mapping such as::

    server: {database_url: "sqlite:///abrec.db", workers: 2}   # optional; ABREC_* variables override it
    catalog: {path: items.csv, text_columns: [title, description]}   # or {items: [{id: a, text: ...}]}
    experiments:
      - name: homepage
        seed: 0
        encoder: hashing          # text encoder of the item features (abrec.embeddings.make_encoder)
        feature_dim: 8            # PCA dimension of the item embeddings (a bias column is added)
        context_dim: 8            # length of request contexts (default feature_dim: the user vectors
                                  # built from histories have that length)
        variants:
          - {name: random, policy: uniform}
          - {name: thompson, policy: bernoulli_ts, params: {propensity_draws: 100}}
        control: random
        allocation: {method: top_two, min_share: 0.1, cadence: 60}   # cadence: seconds between updates
        alpha: 0.05
        reward: {kind: click, window: 3600, default: 0.0}

``variants``, ``control``, ``allocation`` (``fixed`` with ``weights``, ``thompson`` or ``top_two`` with
``min_share``), ``encoder``, ``feature_dim``, ``alpha`` and ``seed`` mean what they mean to ``abrec simulate``
(:mod:`abrec.experiments.config`; each experiment is checked as one); the allocation's ``cadence`` (seconds)
replaces the simulator's ``period`` (steps). ``reward`` names the reward the policies learn from (``kind``:
click, purchase, rating or any name; other kinds are stored and exported, not learned), the wait ``window`` in
seconds after a decision, and the ``default`` value learned when the window closes without a reward of that kind.
An ``env`` entry (what ``abrec simulate`` runs on) is allowed and ignored, so one file can drive both. A config
with ``variants`` at its top level is one experiment.

A variant may be an **agent** (``dqn``, ``tabular_q``, ``slateq``: any registered policy with ``learn``), with
an optional ``state`` mapping for its session states: ``decay`` and ``horizon`` of the
:class:`~abrec.agents.StateEncoder` (default 0.3 and 50) and ``pair_features`` (default true). An agent decides
from each unit's session state and learns n-step transitions (:mod:`abrec.service.sessions`); it learns the
experiment's ``reward``, so ``reward_weights`` is refused, and it needs a catalog (its Q-function reads item
text features). ``state`` on a policy that is not an agent is an error.

The ``catalog`` gives the items known at start: a catalog file (``path``, read like ``abrec embed`` reads it,
relative to the config's folder; ``id_column``, ``text_columns``, ``text_template``) or ``items``, a list of
``{id, text}``. Its texts fit the PCA of the item features; items first seen in a decide bring their text.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, ParameterError, unknown_key
from ..experiments.config import ExperimentConfig, VariantSpec

__all__ = ["Catalog", "RewardSpec", "ServiceConfig", "ServiceExperiment", "StateSpec", "load_service_config"]

_TOP_KEYS = ("server", "catalog", "experiments")
_EXPERIMENT_KEYS = (
    "name",
    "variants",
    "control",
    "allocation",
    "encoder",
    "feature_dim",
    "context_dim",
    "alpha",
    "seed",
    "reward",
    "env",
)
_VARIANT_KEYS = ("name", "policy", "params", "state")
_STATE_KEYS = ("decay", "horizon", "pair_features")
_REWARD_KEYS = ("kind", "window", "default")
_CATALOG_KEYS = ("path", "id_column", "text_columns", "text_template", "items")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class RewardSpec:
    """What the policies learn from: the reward ``kind``, its wait ``window`` (seconds) and ``default`` value."""

    kind: str = "click"
    window: float = 3600.0
    default: float = 0.0


@dataclass(frozen=True)
class StateSpec:
    """How an agent variant's session states are built (:class:`~abrec.agents.StateEncoder`'s ``decay`` and
    ``horizon``), and whether it reads pair features (``[0, cos(f, clicked), cos(f, shown)]``: a service
    observes no fatigue)."""

    decay: float = 0.3
    horizon: int = 50
    pair_features: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "horizon": self.horizon, "pair_features": self.pair_features}


@dataclass(frozen=True)
class ServiceExperiment:
    """One served experiment: the simulate-style :class:`ExperimentConfig` (no env) plus the live settings.

    Attributes
    ----------
    config : ExperimentConfig
        Variants, control, allocation (without ``cadence``), encoder, feature_dim, alpha and seed.
    reward : RewardSpec
    cadence : float or None
        Seconds between allocation updates (adaptive allocation only).
    context_dim : int
        Length of every request's context vector.
    states : mapping of variant name to StateSpec
        The agent variants (``dqn``, ``tabular_q``, ``slateq``, ...) and how their session states are built;
        every other variant is a policy deciding from the request's context.
    """

    config: ExperimentConfig
    reward: RewardSpec = field(default_factory=RewardSpec)
    cadence: float | None = None
    context_dim: int = 8
    states: Mapping[str, StateSpec] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def variant_names(self) -> tuple[str, ...]:
        return self.config.variant_names

    @property
    def adaptive(self) -> bool:
        return str(self.config.allocation.get("method", "fixed")) != "fixed"

    def to_dict(self) -> dict[str, Any]:
        """The experiment as the JSON mapping stored with it in the database."""
        c = self.config
        return {
            "name": c.name,
            "variants": [
                {
                    "name": v.name,
                    "policy": v.policy,
                    "params": dict(v.params),
                    **({"state": self.states[v.name].to_dict()} if v.name in self.states else {}),
                }
                for v in c.variants
            ],
            "control": c.control,
            "allocation": {**dict(c.allocation), **({"cadence": self.cadence} if self.cadence is not None else {})},
            "encoder": c.encoder,
            "feature_dim": c.feature_dim,
            "context_dim": self.context_dim,
            "alpha": c.alpha,
            "seed": c.seed,
            "reward": {"kind": self.reward.kind, "window": self.reward.window, "default": self.reward.default},
        }


@dataclass(frozen=True)
class Catalog:
    """The items known at start: string ids and one text each, in the same order."""

    ids: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class ServiceConfig:
    """A parsed and checked service config (see the module docstring)."""

    experiments: tuple[ServiceExperiment, ...]
    catalog: Catalog = field(default_factory=Catalog)
    server: Mapping[str, Any] = field(default_factory=dict)

    def experiment(self, name: str) -> ServiceExperiment:
        for exp in self.experiments:
            if exp.name == name:
                return exp
        raise KeyError(name)

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any], *, base: str | os.PathLike[str] = ".") -> ServiceConfig:
        """Build and check a config from a mapping (parsed YAML); relative paths are read from ``base``."""
        if not isinstance(config, Mapping):
            raise InputError(f"A service config must be a mapping. Got {type(config).__name__}.")
        config = dict(config)
        if "variants" in config:  # one experiment at the top level
            single = {k: v for k, v in config.items() if k not in _TOP_KEYS}
            config = {k: v for k, v in config.items() if k in _TOP_KEYS}
            if "experiments" in config:
                raise InputError("A service config has either 'experiments' or one experiment's 'variants', not both.")
            config["experiments"] = [single]
        for key in config:
            if key not in _TOP_KEYS:
                raise unknown_key(key, "the service config", (*_TOP_KEYS, *_EXPERIMENT_KEYS))
        experiments = config.get("experiments")
        if not isinstance(experiments, Sequence) or isinstance(experiments, str | bytes) or not experiments:
            raise InputError("The service config needs 'experiments': a non-empty list of experiments.")
        parsed = tuple(_experiment(entry, f"experiments[{i}]") for i, entry in enumerate(experiments))
        names = [e.name for e in parsed]
        if len(set(names)) != len(names):
            raise InputError(f"Experiment names must be unique. Got {names}.")
        server = config.get("server") or {}
        if not isinstance(server, Mapping):
            raise InputError(f"The service config's 'server' must be a mapping. Got {server!r}.")
        catalog = _catalog(config.get("catalog"), Path(base))
        for i, exp in enumerate(parsed):
            if exp.states and not len(catalog):
                raise InputError(
                    f"experiments[{i}] ({exp.name}): the agent variant(s) {sorted(exp.states)} read item text "
                    "features, which need a catalog to fit them: add 'catalog: {path: ...}' or "
                    "'catalog: {items: [...]}' to the config."
                )
        return cls(parsed, catalog, dict(server))


def load_service_config(path: str | os.PathLike[str]) -> ServiceConfig:
    """Read and check a service config from a YAML file."""
    import yaml

    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read the service config: {exc}") from exc
    if not isinstance(loaded, Mapping):
        raise InputError(f"{path}: a service config must be a YAML mapping.")
    try:
        return ServiceConfig.from_mapping(loaded, base=Path(path).resolve().parent)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from exc


def _number(value: Any, where: str, *, integer: bool = False) -> float:
    kind = int if integer else int | float
    if not isinstance(value, kind) or isinstance(value, bool) or not math.isfinite(value):
        raise InputError(f"{where} must be {'an int' if integer else 'a finite number'}. Got {value!r}.")
    return value


def _experiment(entry: Any, where: str) -> ServiceExperiment:
    from .. import agents  # noqa: F401  (registers the agents, so that variants may name them)
    from ..policies.registry import check_policy_params, policy_class

    if not isinstance(entry, Mapping):
        raise InputError(f"{where} must be a mapping with 'name', 'variants' and 'control'. Got {entry!r}.")
    for key in entry:
        if key not in _EXPERIMENT_KEYS:
            raise unknown_key(key, where, _EXPERIMENT_KEYS)
    name = entry.get("name")
    if not isinstance(name, str) or not _EXPERIMENT_NAME.match(name):
        raise InputError(
            f"{where}.name must be a name of letters, digits, '.', '_' or '-' (it is part of URLs). Got {name!r}."
        )
    where = f"{where} ({name})"
    raw = entry.get("variants")
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise InputError(f"{where}.variants must be a list of {{name, policy, params}}. Got {raw!r}.")
    variants = []
    states: dict[str, StateSpec] = {}
    for i, spec in enumerate(raw):
        if not isinstance(spec, Mapping) or "name" not in spec or "policy" not in spec:
            raise InputError(f"{where}.variants[{i}] must be a mapping with 'name' and 'policy' (and 'params').")
        for key in spec:
            if key not in _VARIANT_KEYS:
                raise unknown_key(key, f"{where}.variants[{i}]", _VARIANT_KEYS)
        params = spec.get("params") or {}
        if not isinstance(params, Mapping):
            raise InputError(f"{where}.variants[{i}].params must be a mapping. Got {params!r}.")
        variant = VariantSpec(str(spec["name"]), str(spec["policy"]), dict(params))
        policy_class(variant.policy)  # an unknown policy: "did you mean"
        check_policy_params(variant.policy, variant.params, f"{where}.variants[{i}].params ({variant.name})")
        state = _state(spec, variant, f"{where}.variants[{i}]", entry.get("reward"))
        if state is not None:
            states[variant.name] = state
        variants.append(variant)
    allocation = dict(entry.get("allocation") or {"method": "fixed"})
    if "period" in allocation:
        raise InputError(
            f"{where}.allocation.period counts simulator steps; a service changes its allocation every "
            "'cadence' seconds: use allocation.cadence."
        )
    cadence_given = allocation.pop("cadence", None)
    feature_dim = int(_number(entry.get("feature_dim", 8), f"{where}.feature_dim", integer=True))
    try:
        config = ExperimentConfig(
            name=name,
            env={},
            variants=tuple(variants),
            control=str(entry.get("control", variants[0].name if variants else "")),
            allocation=allocation,
            encoder=str(entry.get("encoder", "auto")),
            feature_dim=feature_dim,
            alpha=float(_number(entry.get("alpha", 0.05), f"{where}.alpha")),
            seed=int(_number(entry.get("seed", 0), f"{where}.seed", integer=True)),
        )
    except ParameterError as exc:
        raise ParameterError(f"{where}: {exc}") from exc
    if feature_dim < 1:
        raise InputError(f"{where}.feature_dim must be an int >= 1. Got {feature_dim}.")
    adaptive = allocation.get("method", "fixed") != "fixed"
    cadence: float | None = None
    if adaptive:
        cadence = float(_number(60.0 if cadence_given is None else cadence_given, f"{where}.allocation.cadence"))
        if cadence <= 0:
            raise InputError(f"{where}.allocation.cadence (seconds between updates) must be > 0. Got {cadence}.")
    elif cadence_given is not None:
        raise InputError(f"{where}.allocation.cadence applies to adaptive allocation (thompson, top_two) only.")
    context_dim = int(_number(entry.get("context_dim", feature_dim), f"{where}.context_dim", integer=True))
    if context_dim < 1:
        raise InputError(f"{where}.context_dim must be an int >= 1. Got {context_dim}.")
    return ServiceExperiment(config, _reward(entry.get("reward"), f"{where}.reward"), cadence, context_dim, states)


def is_agent(policy: str) -> bool:
    """Whether the registered policy ``policy`` is a session agent: it learns n-step transitions (``learn``)
    from session states (:class:`abrec.agents.Agent`), instead of deciding from the request's context."""
    from ..policies.registry import policy_class

    cls = policy_class(policy)
    return callable(getattr(cls, "learn", None)) and callable(getattr(cls, "reward_of", None))


def _state(spec: Mapping[str, Any], variant: VariantSpec, where: str, reward: Any) -> StateSpec | None:
    """The variant's :class:`StateSpec` when it is an agent (None otherwise); 'state' on a policy is an error."""
    from .._params import Constraint, Interval, validate_params

    given = spec.get("state")
    if not is_agent(variant.policy):
        if given is not None:
            raise InputError(
                f"{where}.state ({variant.name}) sets how an agent's session states are built; {variant.policy!r} is "
                "not an agent (dqn, tabular_q, slateq, ...) and decides from the request's context: remove 'state'."
            )
        return None
    if "reward_weights" in variant.params:
        raise InputError(
            f"{where}.params ({variant.name}): a served agent learns the experiment's reward (reward.kind, its window "
            "and default), not reward_weights (which weigh a simulator's outcomes): remove 'reward_weights'."
        )
    given = {} if given is None else given
    if not isinstance(given, Mapping):
        raise InputError(
            f"{where}.state ({variant.name}) must be a mapping {{decay, horizon, pair_features}}. Got {given!r}."
        )
    for key in given:
        if key not in _STATE_KEYS:
            raise unknown_key(key, f"{where}.state ({variant.name})", _STATE_KEYS)
    values = {**StateSpec().to_dict(), **dict(given)}
    try:
        validate_params(
            f"the state of {variant.name}",
            {
                "decay": Interval("float", 0.0, 1.0),
                "horizon": Interval("int", 1),
                "pair_features": Constraint("bool"),
            },
            values,
        )
    except ParameterError as exc:
        raise ParameterError(f"{where}.state: {exc}") from exc
    return StateSpec(float(values["decay"]), int(values["horizon"]), bool(values["pair_features"]))


def _reward(entry: Any, where: str) -> RewardSpec:
    if entry is None:
        return RewardSpec()
    if not isinstance(entry, Mapping):
        raise InputError(f"{where} must be a mapping {{kind, window, default}}. Got {entry!r}.")
    for key in entry:
        if key not in _REWARD_KEYS:
            raise unknown_key(key, where, _REWARD_KEYS)
    kind = entry.get("kind", "click")
    if not isinstance(kind, str) or not _NAME.match(kind) or kind in ("reward", "context"):
        raise InputError(
            f"{where}.kind must be a name of letters, digits and '_' (click, purchase, rating, ...), "
            f"not 'reward' or 'context'. Got {kind!r}."
        )
    window = float(_number(entry.get("window", 3600.0), f"{where}.window"))
    if window <= 0:
        raise InputError(f"{where}.window (seconds to wait for a reward) must be > 0. Got {window}.")
    default = float(_number(entry.get("default", 0.0), f"{where}.default"))
    return RewardSpec(kind, window, default)


def _catalog(entry: Any, base: Path) -> Catalog:
    if entry is None:
        return Catalog()
    if isinstance(entry, str):
        entry = {"path": entry}
    if not isinstance(entry, Mapping):
        raise InputError(f"The service config's 'catalog' must be a mapping (path or items). Got {entry!r}.")
    for key in entry:
        if key not in _CATALOG_KEYS:
            raise unknown_key(key, "catalog", _CATALOG_KEYS)
    if ("path" in entry) == ("items" in entry):
        raise InputError("catalog needs either 'path' (a catalog file) or 'items' (a list of {id, text}).")
    if "items" in entry:
        items = entry["items"]
        if not isinstance(items, Sequence) or isinstance(items, str | bytes):
            raise InputError(f"catalog.items must be a list of {{id, text}}. Got {items!r}.")
        ids, texts = [], []
        for i, item in enumerate(items):
            if not isinstance(item, Mapping) or set(item) != {"id", "text"}:
                raise InputError(f"catalog.items[{i}] must be a mapping with exactly 'id' and 'text'. Got {item!r}.")
            if isinstance(item["id"], bool) or not isinstance(item["id"], str | int) or str(item["id"]) == "":
                raise InputError(f"catalog.items[{i}].id must be a non-empty string or an int. Got {item['id']!r}.")
            ids.append(str(item["id"]))
            texts.append(str(item["text"]))
        if len(set(ids)) != len(ids):
            raise InputError("catalog.items: item ids must be unique.")
        return Catalog(tuple(ids), tuple(texts))
    from ..data.catalog import Catalog as CatalogFile

    path = Path(str(entry["path"]))
    path = path if path.is_absolute() else base / path
    columns = entry.get("text_columns")
    if isinstance(columns, str):
        columns = [columns]
    frame = CatalogFile.read(
        path, id_column=entry.get("id_column"), text_columns=columns, text_template=entry.get("text_template")
    )
    return Catalog(tuple(str(i) for i in frame.ids.tolist()), tuple(frame.texts()))
