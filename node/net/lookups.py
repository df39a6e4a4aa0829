"""Datastore lookups for the runtime: one reader thread, one thread switch each way.

A lookup must not run on the event loop: a block whose pages are not in
memory costs a disk read, and every link would wait for it. (The runtime
first asks :meth:`AsyncBlockStore.get_nowait`, which answers on the loop only
when no wait is needed: misses, and hits whose record is in the page cache.
This thread reads the rest.) But a lookup
handed to a worker thread through ``anyio.to_thread`` (what
:meth:`AsyncBlockStore.get_many` does) costs far more than the read: a task to
await it, a cancel scope, a future, the worker pool's bookkeeping, and a caller
that waits. On the transfer bench's holder (the node that answers every
request from its store) that was 0.3 ms of CPU per block, as much as relaying
the block through a hop costs.

Here a lookup is a queue entry. The reader thread takes every entry queued
while it was busy, reads them in one :meth:`BlockStore.get_many` (one lock
hold), and hands the answers to the event loop with ``call_soon_threadsafe``;
nobody awaits anything. Answers come back in the order lookups were
submitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from crypto.blocks import Block
from store import BlockStore, StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")

# The most lookups read under one lock hold: a burst of requests is served in
# batches small enough that the writer's next commit is not held up for long.
MAX_BATCH = 64

Answer = Callable[[list[T], "list[Block | None] | StoreError"], None]


class LookupThread(Generic[T]):
    """Reads blocks for the event loop on a thread of its own.

    Args:
        store: the datastore to read (its own lock orders reads and the writer).
        loop: the event loop that ``answer`` runs on.
        answer: called on ``loop`` with the submitted items and, for each, the
            block stored under its key or None; or with the :class:`StoreError`
            that failed the whole batch.
    """

    def __init__(
        self, store: BlockStore, loop: asyncio.AbstractEventLoop, answer: Answer[T]
    ) -> None:
        self._store = store
        self._loop = loop
        self._answer = answer
        self._queue: queue.SimpleQueue[tuple[T, bytes] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="datastore-reader", daemon=True)
        self._thread.start()

    def submit(self, item: T, routing_key: bytes) -> None:
        """Look ``routing_key`` up; ``answer`` will get ``item`` back with the block."""
        self._queue.put((item, routing_key))

    def close(self) -> None:
        """Stop after the lookups already queued (their answers are dropped if the loop ended)."""
        self._queue.put(None)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (blocking: not on the event loop)."""
        self._thread.join(timeout)

    def _run(self) -> None:
        get = self._queue.get
        get_nowait = self._queue.get_nowait
        while True:
            entry = get()
            if entry is None:
                return
            batch = [entry]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._read(batch)
            if stop:
                return

    def _read(self, batch: Sequence[tuple[T, bytes]]) -> None:
        items = [item for item, _ in batch]
        outcome: list[Block | None] | StoreError
        try:
            outcome = self._store.get_many([key for _, key in batch])
        except StoreError as exc:
            outcome = exc
        except Exception as exc:  # a bug: the waiting requests still get an answer
            log.exception("datastore lookup failed")
            outcome = StoreError(f"lookup failed: {exc}")
        # The loop may have ended (the node is stopping): nobody is waiting then.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._answer, items, outcome)
