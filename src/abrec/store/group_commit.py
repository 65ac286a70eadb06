"""Group commit: concurrent writers share one durable transaction, and each learns its own outcome.

A durable COMMIT costs an fsync (SQLite with ``synchronous=FULL``, PostgreSQL with ``synchronous_commit=on``),
milliseconds on most disks, so one transaction per request caps a service at a few hundred requests per
second. :class:`GroupCommitter` runs one writer thread: it takes every batch submitted while the previous
commit ran, writes them all in one transaction (:meth:`~abrec.store.EventStore.write`), and only after
that COMMIT resolves each submitter's future with its own part of the result (so an HTTP 200 is sent only
for what is on disk). Operations are checked one by one inside the transaction, so a bad one never rolls
back the others. When the transaction fails:

- on a constraint or data error (a row the checks let through but the database refused), each submitted
  batch is retried in a transaction of its own: the good ones are stored, the bad one gets its error;
- on any other error (the database is down, the disk is full), every future of the group gets the
  exception: nothing is reported as stored that was not.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future

from sqlalchemy.exc import DataError, IntegrityError

from .errors import StoreError
from .event_store import EventStore
from .records import WriteBatch, WriteResult

__all__ = ["GroupCommitter"]

_Pending = tuple[WriteBatch, "Future[WriteResult]"]


class GroupCommitter:
    """Merge concurrent :class:`~abrec.store.records.WriteBatch` submissions into shared transactions.

    Parameters
    ----------
    store : EventStore
        Where the batches are written.
    max_batch : int, default 512
        At most this many submissions per transaction.
    max_wait_s : float, default 0.0
        How long the writer waits for more submissions before committing a group smaller than ``max_batch``
        (0: commit as soon as the previous commit is done; concurrency alone forms the groups).

    Attributes
    ----------
    commits, submissions : int
        Transactions committed and submissions written so far (``submissions / commits`` is the mean group).
    """

    def __init__(self, store: EventStore, *, max_batch: int = 512, max_wait_s: float = 0.0) -> None:
        if not isinstance(max_batch, int) or max_batch < 1:
            raise StoreError(f"GroupCommitter's max_batch must be an int >= 1; got {max_batch!r}.")
        if not max_wait_s >= 0.0:
            raise StoreError(f"GroupCommitter's max_wait_s must be a float >= 0; got {max_wait_s!r}.")
        self.store = store
        self.max_batch = max_batch
        self.max_wait_s = float(max_wait_s)
        self.commits = 0
        self.submissions = 0
        self._queue: deque[_Pending] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="abrec-group-commit", daemon=True)
        self._thread.start()

    def submit(self, batch: WriteBatch) -> Future[WriteResult]:
        """Queue ``batch``; the future resolves after the COMMIT that wrote it (or with the error)."""
        if not isinstance(batch, WriteBatch):
            raise TypeError(f"GroupCommitter.submit takes a WriteBatch; got {type(batch).__name__}")
        future: Future[WriteResult] = Future()
        with self._cond:
            if self._closed:
                raise StoreError("The group committer is closed; no more writes are accepted.")
            self._queue.append((batch, future))
            self._cond.notify()
        return future

    async def asubmit(self, batch: WriteBatch) -> WriteResult:
        """:meth:`submit` for asyncio handlers: await the committed result."""
        return await asyncio.wrap_future(self.submit(batch))

    def submit_many(self, batches: Sequence[WriteBatch]) -> list[Future[WriteResult]]:
        """Queue several batches at once (one lock, one wake-up); each has its own future, as from :meth:`submit`
        (a bad batch fails alone)."""
        for batch in batches:
            if not isinstance(batch, WriteBatch):
                raise TypeError(f"GroupCommitter.submit_many takes WriteBatches; got {type(batch).__name__}")
        futures: list[Future[WriteResult]] = [Future() for _ in batches]
        with self._cond:
            if self._closed:
                raise StoreError("The group committer is closed; no more writes are accepted.")
            self._queue.extend(zip(batches, futures, strict=True))
            self._cond.notify()
        return futures

    async def asubmit_many(self, batches: Sequence[WriteBatch]) -> list[WriteResult | BaseException]:
        """:meth:`submit_many` for asyncio handlers: each batch's committed result or its exception, in order,
        once all are done (the event loop is woken once, not once per batch)."""
        futures = self.submit_many(batches)
        if not futures:
            return []
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        left = [len(futures)]
        lock = threading.Lock()

        def finished(_future: Future[WriteResult]) -> None:
            with lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                loop.call_soon_threadsafe(_resolve, done)

        for future in futures:
            future.add_done_callback(finished)
        await done
        out: list[WriteResult | BaseException] = []
        for future in futures:
            error = future.exception()
            out.append(future.result() if error is None else error)
        return out

    def close(self) -> None:
        """Write everything submitted so far, then stop the writer thread (idempotent)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> GroupCommitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                if self.max_wait_s > 0 and len(self._queue) < self.max_batch and not self._closed:
                    self._cond.wait_for(lambda: len(self._queue) >= self.max_batch or self._closed, self.max_wait_s)
                group = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            self._commit(group)

    def _commit(self, group: list[_Pending]) -> None:
        live = [(batch, future) for batch, future in group if future.set_running_or_notify_cancel()]
        if not live:
            return
        batches = [batch for batch, _ in live]
        try:
            result = self.store.write(WriteBatch.merge(batches))
        except (IntegrityError, DataError) as exc:
            if len(live) == 1:
                live[0][1].set_exception(exc)
                return
            for batch, future in live:  # find the bad one: each batch in a transaction of its own
                try:
                    future.set_result(self.store.write(batch))
                except Exception as alone:
                    future.set_exception(alone)
                else:
                    self.commits += 1
                    self.submissions += 1
            return
        except Exception as exc:
            for _, future in live:
                future.set_exception(exc)
            return
        self.commits += 1
        self.submissions += len(live)
        for (_, future), part in zip(live, result.split(batches), strict=True):
            future.set_result(part)


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
