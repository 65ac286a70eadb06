"""One service process: the store, the group committer, each experiment's runtime, the poller and the learner.

:class:`Service` is built by the app's lifespan. At start it opens the store, registers every experiment of the
config (its first allocation, period 0), builds the item features (fitted on the catalog) and loads each
variant's newest snapshot. While it serves, a poller thread loads newer snapshots (every ``poll_interval``)
and newer allocation periods (every ``allocation_poll``) into the runtimes, and a learner thread runs the
learner whenever this process holds the learner lock.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..policies.registry import policy_class
from ..store.records import AllocationRow
from .config import ServiceConfig, ServiceExperiment
from .features import ItemSpace
from .learner import Learner, LearnerThread
from .runtime import ExperimentRuntime, initial_experiment
from .settings import ServiceSettings
from .snapshots import policy_from_bytes

__all__ = ["Service", "UnknownExperiment"]


class UnknownExperiment(KeyError):
    """A request named an experiment that this service does not serve."""

    def __init__(self, name: str, known: list[str]) -> None:
        from ..errors import did_you_mean

        self.message = f"Unknown experiment {name!r}.{did_you_mean(name, known)} Served: {', '.join(known)}."
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def needs_features(spec: ServiceExperiment, config: ServiceConfig) -> bool:
    """Whether the experiment needs item features: a variant reads them, or histories can become contexts."""
    classes = [policy_class(v.policy) for v in spec.config.variants]
    if any(c.uses_item_features for c in classes):
        return True
    return len(config.catalog) > 0 and any(c.contextual for c in classes)


class Service:
    """Everything one worker process holds (see the module docstring)."""

    def __init__(
        self,
        settings: ServiceSettings,
        config: ServiceConfig,
        *,
        notify: Callable[[str], None] | None = None,
        serve: bool = True,
    ) -> None:
        self.settings = settings
        #: False in the learner's own process (learner_process.py): no requests, so no policies to warm up or
        #: to keep up to date; the experiments, their features and the admin API's changes are still followed.
        self.serve = serve
        self.config = config
        self.notify = notify or logging.getLogger("abrec.service").warning
        self.store: Any = None
        self.committer: Any = None
        self.runtimes: dict[str, ExperimentRuntime] = {}
        self.features: dict[str, ItemSpace | None] = {}
        self.learner: LearnerThread | None = None
        self.ready = False
        #: The API's micro-batchers (api.py: concurrent decides and rewards served together).
        self.batchers: dict[str, Any] = {}
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._spaces: dict[tuple[str, int], ItemSpace] = {}
        self._adding = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        from ..store import EventStore
        from ..store.group_commit import GroupCommitter

        self.store = EventStore(self.settings.database_url)
        now = datetime.now(UTC)
        for spec in self.config.experiments:
            first = AllocationRow.from_experiment(initial_experiment(spec), period=0, started_at=now)
            self.store.put_experiment(spec.name, spec.to_dict(), first, reward_kind=spec.reward.kind)
            self._add_runtime(spec)
        self.sync_admin()  # statuses set through the admin API, experiments it created
        if self.serve:
            self.refresh_policies()
            for runtime in self.runtimes.values():
                runtime.warm_up()
        self.committer = GroupCommitter(self.store)
        self._poller = threading.Thread(target=self._poll, name="abrec-poller", daemon=True)
        self._poller.start()
        if self.settings.learner:
            self.learner = LearnerThread(
                self.make_learner,
                self.store.learner_lock(),
                poll_interval=self.settings.poll_interval,
                on_error=self.notify,
                snapshot_keep=self.settings.snapshot_keep,
            )
            self.learner.start()
        # Everything built so far (policies, compiled kernels, the ORM's metadata, the app) lives as long as the
        # process: out of the collector's way, a full collection no longer pauses the requests (p99 / 4).
        gc.collect()
        gc.freeze()
        self.ready = True

    def _add_runtime(self, spec: ServiceExperiment) -> ExperimentRuntime:
        """Build the item features (shared by experiments with the same encoder) and the runtime of ``spec``."""
        space = None
        if needs_features(spec, self.config):
            key = (spec.config.encoder, spec.config.feature_dim)
            if key not in self._spaces:
                self._spaces[key] = ItemSpace(
                    spec.config.encoder,
                    spec.config.feature_dim,
                    self.config.catalog,
                    cache_dir=self.settings.embedding_cache_dir(),
                    notify=self.notify,
                )
            space = self._spaces[key]
        self.features[spec.name] = space
        runtime = ExperimentRuntime(spec, space, self.store.allocation(spec.name))
        if runtime.sessions is not None:  # agents read their sessions' earlier steps from the store
            runtime.sessions.store = self.store
        self.store.index_sessions(spec.name, runtime.sessions is not None)
        self.runtimes[spec.name] = runtime
        return runtime

    def add_experiment(self, spec: ServiceExperiment) -> None:
        """Serve an experiment created through the admin API (stored in the database, not in the config): what
        :meth:`start` does for one experiment, and, where this process learns, the live learner learns it too."""
        with self._adding:
            if spec.name in self.runtimes:
                return
            runtime = self._add_runtime(spec)  # features first: the learner reads them once the config has it
            if self.serve:
                runtime.warm_up()
            self.config = dataclasses.replace(self.config, experiments=(*self.config.experiments, spec))
            # The live learner (if this process holds it) picks the experiment up at its next micro-batch.

    def sync_admin(self) -> None:
        """Apply the admin API's changes stored in the database (statuses, created experiments): admin.py."""
        from .admin import sync_admin

        sync_admin(self)

    def make_learner(self) -> Learner:
        return Learner(
            self.store,
            self.config,
            self.features,
            batch_size=self.settings.learner_batch,
            committer=self.committer,
            watch=lambda: (self.config, self.features),
        )

    def stop(self) -> None:
        self.ready = False
        self._stop.set()
        if self.learner is not None:
            self.learner.stop()
        if self._poller is not None:
            self._poller.join(5.0)
        if self.committer is not None:
            self.committer.close()
        if self.store is not None:
            self.store.close()

    # ------------------------------------------------------------------ lookups
    def runtime(self, name: str) -> ExperimentRuntime:
        try:
            return self.runtimes[name]
        except KeyError:
            raise UnknownExperiment(name, list(self.runtimes)) from None

    # ------------------------------------------------------------------ polling
    def refresh_policies(self) -> int:
        """Load every snapshot newer than the one in service; returns how many were loaded."""
        loaded = 0
        for (experiment, variant), version in self.store.latest_versions().items():
            runtime = self.runtimes.get(experiment)
            if runtime is None or variant not in runtime.serving or version <= runtime.serving[variant].version:
                continue
            snap = self.store.snapshot(experiment, variant, version)
            if snap is None:
                continue
            runtime.set_policy(variant, policy_from_bytes(snap.state), snap.version, snap.created_at)
            loaded += 1
        return loaded

    def refresh_allocations(self) -> None:
        """Use the newest allocation period of every experiment, and the admin API's changes (sync_admin)."""
        for name, runtime in list(self.runtimes.items()):
            row = self.store.allocation(name)
            if row.period > runtime.period:
                runtime.set_allocation(row)
        self.sync_admin()

    def _poll(self) -> None:
        next_allocation = 0.0
        clock = 0.0
        while not self._stop.wait(self.settings.poll_interval):
            clock += self.settings.poll_interval
            try:
                if self.serve:
                    self.refresh_policies()
                if clock >= next_allocation:
                    self.refresh_allocations()
                    next_allocation = clock + self.settings.allocation_poll
            except Exception as exc:
                self.notify(f"poller: {type(exc).__name__}: {exc}")
