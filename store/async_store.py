"""The datastore's async face: :class:`BlockStore` calls run on worker threads, never the loop.

Each call goes to a worker thread through ``anyio.to_thread.run_sync`` with a
limiter owned by the store, so a slow commit (an fsync can take milliseconds)
never blocks the event loop, and the store never takes more than
:data:`WORKER_THREADS` threads from anyio's shared pool. A call cancelled while
its thread runs waits for the thread: a put is either committed and reported,
or not started.
"""

from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import anyio
import anyio.to_thread

from crypto.blocks import Block
from store.block_store import BlockStore
from store.values import Area, PutResult, StoreConfig, StoreStats

# Calls are serialised on the database by the store's lock; a second thread lets
# one call's crypto (sealing, unsealing) overlap another's database work.
WORKER_THREADS = 2

T = TypeVar("T")


class AsyncBlockStore:
    """The datastore for async code: the same operations as :class:`BlockStore`, awaited."""

    def __init__(self, store: BlockStore) -> None:
        self._store = store
        self._limiter = anyio.CapacityLimiter(WORKER_THREADS)

    @classmethod
    async def open(
        cls, path: Path | str, config: StoreConfig, *, location: float = 0.0
    ) -> "AsyncBlockStore":
        """Open (on a worker thread: it may run a quick_check) the datastore at ``path``."""
        store = await anyio.to_thread.run_sync(
            lambda: BlockStore.open(path, config, location=location)
        )
        return cls(store)

    @property
    def sync(self) -> BlockStore:
        """The underlying synchronous store (for tools and tests on other threads)."""
        return self._store

    async def put(self, block: Block, area: Area) -> PutResult:
        return await self._run(lambda: self._store.put(block, area))

    async def put_many(self, blocks: Iterable[Block], area: Area) -> list[PutResult]:
        items = list(blocks)
        return await self._run(lambda: self._store.put_many(items, area))

    async def get(self, routing_key: bytes) -> Block | None:
        return await self._run(lambda: self._store.get(routing_key))

    async def contains(self, routing_key: bytes) -> bool:
        return await self._run(lambda: self._store.contains(routing_key))

    async def delete(self, routing_key: bytes) -> bool:
        return await self._run(lambda: self._store.delete(routing_key))

    async def stats(self) -> StoreStats:
        return await self._run(self._store.stats)

    def set_location(self, location: float) -> None:
        """Never waits: see :meth:`BlockStore.set_location`."""
        self._store.set_location(location)

    async def aclose(self) -> None:
        await self._run(self._store.close)

    async def __aenter__(self) -> "AsyncBlockStore":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self, call: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(call, limiter=self._limiter)
