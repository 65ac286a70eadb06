"""Micro-batching on the event loop: concurrent requests that arrive together are served by one call.

The policies decide in batches (one vectorised ``Policy.decide`` for many requests) and the store commits in
groups, so the service gathers what the event loop receives in one turn: :class:`Batcher` queues each item,
runs everything queued so far at the end of the turn with one call of its ``run`` coroutine, and hands each
caller its own result or exception. A caller alone (no concurrency) is served at once, in a batch of one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

__all__ = ["Batcher", "dumps"]

T = TypeVar("T")
R = TypeVar("R")

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _stdlib_dumps(content: Any) -> bytes:
    return _encode(content).encode("utf-8")


def _writer() -> Callable[[Any], bytes]:
    try:  # the 'serve' extra's fast JSON writer
        import orjson
    except ImportError:  # pragma: no cover - an install without it
        return _stdlib_dumps
    writer: Callable[[Any], bytes] = orjson.dumps
    return writer


#: ``content`` as compact UTF-8 JSON bytes (orjson where installed).
dumps = _writer()


class Batcher(Generic[T, R]):
    """Gather the items submitted during one turn of the event loop and run them together.

    Parameters
    ----------
    run : coroutine function taking the list of items and returning one result or exception per item, in
        order (an exception it raises goes to every caller of the batch).
    """

    def __init__(self, run: Callable[[list[T]], Awaitable[list[R | BaseException]]]) -> None:
        self._run = run
        self._items: list[T] = []
        self._futures: list[asyncio.Future[R]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        #: Batches run and items served so far (``items / batches`` is the mean batch).
        self.batches = 0
        self.items = 0

    async def submit(self, item: T) -> R:
        """Queue ``item``; its result once the batch holding it has run."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._items.append(item)
        self._futures.append(future)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush, loop)
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        items, futures = self._items, self._futures
        self._items, self._futures, self._scheduled = [], [], False
        task = loop.create_task(self._serve(items, futures))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, items: list[T], futures: list[asyncio.Future[R]]) -> None:
        self.batches += 1
        self.items += len(items)
        try:
            results = await self._run(items)
        except BaseException as exc:  # the whole batch failed: every caller gets the error
            results = [exc] * len(items)
            if not isinstance(exc, Exception):
                _answer(futures, results)
                raise
        _answer(futures, results)


def _answer(futures: list[asyncio.Future[R]], results: list[R | BaseException]) -> None:
    for future, result in zip(futures, results, strict=True):
        if future.done():  # the caller went away (cancelled)
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
