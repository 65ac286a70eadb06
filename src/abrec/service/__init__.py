"""The decision service: decide and reward over HTTP, a durable event log, online learning, the live readout.

``abrec serve CONFIG`` runs it (FastAPI + uvicorn); :func:`create_app` builds the app of one worker process
(tests run it in process). The pieces, one job each:

- :mod:`~abrec.service.config` and :mod:`~abrec.service.settings`: the YAML config (experiments in the
  vocabulary of ``abrec simulate``, the catalog, the reward definition) and the ``ABREC_*`` settings;
- :mod:`~abrec.service.features`: item features through abrec's one pipeline, new items encoded once;
- :mod:`~abrec.service.runtime`: an experiment's policies, allocation, sticky assignment and decide;
- :mod:`~abrec.service.learner`: the one learner (journal, micro-batches, snapshots, allocation periods);
- :mod:`~abrec.service.api`, :mod:`~abrec.service.models`, :mod:`~abrec.service.results`: the HTTP layer.
"""

from __future__ import annotations

from .app import app_from_env, create_app
from .config import ServiceConfig, ServiceExperiment, load_service_config
from .learner import Learner
from .settings import ServiceSettings, load_settings

__all__ = [
    "Learner",
    "ServiceConfig",
    "ServiceExperiment",
    "ServiceSettings",
    "app_from_env",
    "create_app",
    "load_service_config",
    "load_settings",
]
