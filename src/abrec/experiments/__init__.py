"""Experiments: configured simulated A/B tests of abrec policies, and their offline replay.

- :mod:`~abrec.experiments.config`: :class:`ExperimentConfig` (environment, variants = policy specs,
  allocation) and :func:`load_config` (YAML).
- :mod:`~abrec.experiments.simulation`: :func:`run_simulation` runs the variants against an abrec
  environment and returns a :class:`SimulationResult` whose event log is the single record of the run
  (per-period statistics, weights in force and the readout are derived from it).
- :mod:`~abrec.experiments.sessions`: :func:`run_session_experiment`, the same on a session view: agents and
  bandits as variants, every session a unit, read out on session metrics (:class:`SessionResult`).
- :mod:`~abrec.experiments.rollout`: :func:`rollout`, the one loop that runs any policies on a bandit-view
  environment and yields each step's event records.
- :mod:`~abrec.experiments.offline`: :func:`replay_variants`, every variant's policy replayed on the
  control's exploration logs, next to what it earned online.

This layer sits on top of the statistics (:mod:`abrec.abtest`), the policies, the environments and
the off-policy estimators, and below the reports and the command line.
"""

from __future__ import annotations

from .config import ExperimentConfig, VariantSpec, load_config
from .offline import OfflineEstimate, replay_variants
from .rollout import Step, rollout
from .sessions import SessionResult, run_session_experiment, session_metrics
from .simulation import SimulationResult, run_simulation

__all__ = [
    "ExperimentConfig",
    "OfflineEstimate",
    "SessionResult",
    "SimulationResult",
    "Step",
    "VariantSpec",
    "load_config",
    "replay_variants",
    "rollout",
    "run_session_experiment",
    "run_simulation",
    "session_metrics",
]
