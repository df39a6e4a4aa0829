"""The datastore's async face: :class:`BlockStore` calls run off the event loop, puts group-commit.

Reads (``get``, ``get_many``, ``contains``, ``stats``) and ``delete`` go to
worker threads through ``anyio.to_thread.run_sync`` with a limiter owned by the
store, so a slow commit never blocks the event loop and the store never takes
more than :data:`WORKER_THREADS` threads from anyio's shared pool. A thread hop
costs far more than a probe (~100 µs of CPU against a few µs), so
:meth:`AsyncBlockStore.might_contain` answers "not here" on the event loop from
the in-memory presence index, and ``get_many`` takes a batch of lookups in one hop.

Puts are **group-committed** (``specs/store.md`` §Group commit): each put's
block is verified and sealed on a worker thread, then queued for the store's
dedicated writer thread, which takes everything queued (up to
:data:`MAX_GROUP` blocks) and writes it in one transaction: one commit, one
fsync (two with FULL once the group holds 4 CHK blocks or more: the slot
file's, then the WAL's), for every put that arrived while the previous commit
was running. Each
caller is woken only after the transaction holding its blocks has committed, so
an acknowledged put is durable exactly as with :meth:`BlockStore.put`. Under load
the node makes one fsync per group, not per block; an idle node's single put
commits at once (the writer never waits to fill a group).

A put cancelled before the writer took it is withdrawn and never written; one
cancelled while its group is being committed waits for the commit (shielded)
and then lets the cancellation go on: it is durable, though unreported.

:meth:`AsyncBlockStore.put_soon` is the fire-and-forget form for callers that
need not wait (the node caching blocks on the way back): it never waits and
takes no worker thread; the writer verifies and seals its blocks itself, and a
callback on the event loop reports the outcome once the commit is done. It
saves a thread hop per put (~100 µs of CPU) where nobody waits for the answer.
"""

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from crypto.blocks import Block
from store.block_store import BlockStore, Prepared
from store.errors import DatabaseError, StoreClosed, StoreError
from store.values import Area, PutResult, StoreConfig, StoreStats

# Worker threads for reads and for the crypto of puts: one call's crypto
# (verifying, sealing, unsealing) overlaps another's database work.
WORKER_THREADS = 2
# Most blocks one group commit writes: bounds a transaction's WAL growth (~8 MiB
# of CHK records) and how long reads wait behind one commit.
MAX_GROUP = 256

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WriterStats:
    """What the writer has done since open: transactions committed and blocks in them."""

    commits: int = 0
    blocks: int = 0


PutCallback = Callable[[list[PutResult] | StoreError], None]
"""Told how a :meth:`AsyncBlockStore.put_soon` ended: the results, or the error."""


@dataclass(eq=False, slots=True)
class _Request:
    """One put, put_many or put_soon: its blocks, and its outcome once its group commits.

    An awaited put arrives prepared (``items``) and is woken by ``done``; a
    put_soon arrives as ``raw`` blocks, prepared by the writer, and is told
    through ``callback``.
    """

    items: list[tuple[Prepared, Area]]
    done: anyio.Event | None = None
    raw: list[Block] | None = None
    verified: bool = False  # ``raw`` was verified by the caller: the writer only seals it
    area: Area = Area.CACHE
    callback: PutCallback | None = None
    taken: bool = False  # the writer has it: it can no longer be withdrawn
    results: list[PutResult] | None = None
    error: Exception | None = None

    @property
    def size(self) -> int:
        """Blocks in the request."""
        return len(self.raw) if self.raw is not None else len(self.items)


class _Writer:
    """The dedicated writer thread: commits queued requests in groups, wakes their callers."""

    def __init__(self, store: BlockStore, token: anyio.lowlevel.EventLoopToken) -> None:
        self._store = store
        self._token = token
        # asyncio's loop takes a callback from another thread without a round
        # trip: the writer goes on to its next group at once.
        self._call_soon: Callable[..., object] | None = getattr(
            token.native_token, "call_soon_threadsafe", None
        )
        self._cond = threading.Condition()
        self._queue: deque[_Request] = deque()
        self._closing = False
        self.stats = WriterStats()
        self._thread = threading.Thread(target=self._run, name="datastore-writer", daemon=True)
        self._thread.start()

    def submit(self, request: _Request) -> None:
        with self._cond:
            if self._closing:
                raise StoreClosed("the datastore has been closed; open it again to use it")
            self._queue.append(request)
            self._cond.notify()

    def withdraw(self, request: _Request) -> bool:
        """Take back a request the writer has not taken; False if it is being committed."""
        with self._cond:
            if request.taken:
                return False
            self._queue.remove(request)
            return True

    def close(self) -> None:
        """Commit what is queued, then stop the thread (blocking: call it on a worker thread)."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    break  # closing, and everything queued is committed
                group: list[_Request] = []
                size = 0
                while self._queue and (not group or size + self._queue[0].size <= MAX_GROUP):
                    request = self._queue.popleft()
                    request.taken = True
                    group.append(request)
                    size += request.size
            self._commit(group)
        # The wakes are queued on the event loop in order: once this no-op has
        # run there, every caller has been told, before close() returns.
        with contextlib.suppress(Exception):  # the event loop has ended
            anyio.from_thread.run_sync(_nothing, token=self._token)

    def _commit(self, group: list[_Request]) -> None:
        ready: list[_Request] = []
        for request in group:
            if request.raw is not None:
                try:  # a put_soon: its crypto runs here, not on a worker thread
                    prepared = self._store.prepare_many(request.raw, verified=request.verified)
                except Exception as exc:  # RejectedBlock: this request alone fails
                    request.error = exc
                    continue
                request.items = [(item, request.area) for item in prepared]
            ready.append(request)
        items = [item for request in ready for item in request.items]
        try:
            results = self._store.write_prepared(items) if items else []
        except Exception as exc:  # every caller in the group gets it; the group rolled back
            for request in ready:
                request.error = exc
        else:
            start = 0
            for request in ready:
                request.results = results[start : start + len(request.items)]
                start += len(request.items)
            if items:
                self.stats = WriterStats(self.stats.commits + 1, self.stats.blocks + len(items))
        # Queued on the event loop without waiting for it to run (asyncio); if
        # the event loop has ended, nobody is waiting any more.
        with contextlib.suppress(Exception):
            if self._call_soon is not None:
                self._call_soon(_wake, group)
            else:
                anyio.from_thread.run_sync(_wake, group, token=self._token)


def _nothing() -> None:
    pass


def _wake(group: list[_Request]) -> None:
    for request in group:
        if request.done is not None:
            request.done.set()
        elif request.callback is not None:
            outcome = request.results if request.error is None else _copy(request.error)
            assert outcome is not None
            try:
                request.callback(outcome)
            except Exception:  # a caller's bug must not keep the rest of the group waiting
                log.exception("a datastore put callback failed")


class AsyncBlockStore:
    """The datastore for async code: the same operations as :class:`BlockStore`, awaited."""

    def __init__(self, store: BlockStore) -> None:
        self._store = store
        self._limiter = anyio.CapacityLimiter(WORKER_THREADS)
        self._writer: _Writer | None = None  # started by the first put, on the event loop
        self._closed = False

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

    @property
    def writer_stats(self) -> WriterStats:
        """Group commits so far: ``blocks / commits`` is the mean group size."""
        return WriterStats() if self._writer is None else self._writer.stats

    async def put(self, block: Block, area: Area) -> PutResult:
        """Verify and write ``block``; return once the group commit holding it has committed.

        Raises:
            RejectedBlock: the block failed verification; nothing was written.
        """
        return (await self.put_many([block], area))[0]

    async def put_many(self, blocks: Iterable[Block], area: Area) -> list[PutResult]:
        """Put several blocks in one transaction (together with other callers' puts)."""
        items = list(blocks)
        prepared = await self._run(lambda: self._store.prepare_many(items))
        done = anyio.Event()
        request = _Request([(item, area) for item in prepared], done)
        writer = self._started_writer()
        writer.submit(request)
        try:
            await done.wait()
        except BaseException:
            if writer.withdraw(request):
                raise  # never started
            with anyio.CancelScope(shield=True):
                await done.wait()  # being committed: wait, so it is not half-reported
            raise
        if request.error is not None:
            raise _copy(request.error) from request.error
        assert request.results is not None
        return request.results

    def put_soon(
        self,
        blocks: Iterable[Block],
        area: Area,
        callback: PutCallback,
        *,
        verified: bool = False,
    ) -> None:
        """Queue blocks for the writer and return at once; ``callback`` hears how it went.

        The writer verifies and seals them itself (no worker thread) and writes
        them in its next group commit, in one transaction with the rest of the
        group. ``verified=True`` says the caller has verified every one of
        ``blocks`` itself (as the node does every block a peer sends): the
        writer then only seals them, saving a BLAKE3 pass over each block.
        ``callback`` runs on the event loop after that commit, with the
        results (durable exactly as an awaited put's) or a :class:`StoreError`
        (``RejectedBlock`` if one of ``blocks`` failed verification: none of
        them was written). It is not called if the event loop has ended.

        Raises:
            StoreClosed: the store is closed (or closing).
        """
        writer = self._started_writer()
        writer.submit(
            _Request([], raw=list(blocks), verified=verified, area=Area(area), callback=callback)
        )

    async def get(self, routing_key: bytes) -> Block | None:
        return await self._run(lambda: self._store.get(routing_key))

    async def get_many(self, routing_keys: Sequence[bytes]) -> list[Block | None]:
        """The block (or None) under each routing key, in order: one thread hop for all."""
        keys = list(routing_keys)
        return await self._run(lambda: self._store.get_many(keys))

    def might_contain(self, routing_key: bytes) -> bool:
        """False if nothing is stored under ``routing_key``; never waits (a set probe).

        See :meth:`BlockStore.might_contain`: a True is worth a :meth:`get`, a
        False is final as of the last commit and counts as a miss.
        """
        return self._store.might_contain(routing_key)

    def get_nowait(self, routing_key: bytes) -> Block | None:
        """The block (or None) if that needs no wait; never waits (see
        :meth:`BlockStore.get_nowait`). Raises :class:`WouldBlock` otherwise:
        then :meth:`get` (off the event loop) answers."""
        return self._store.get_nowait(routing_key)

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
        """Commit the puts already queued, stop the writer and close the file. Idempotent."""
        self._closed = True
        if self._writer is not None:
            await anyio.to_thread.run_sync(self._writer.close)
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

    def _started_writer(self) -> _Writer:
        if self._closed:
            raise StoreClosed("the datastore has been closed; open it again to use it")
        if self._writer is None:
            self._writer = _Writer(self._store, anyio.lowlevel.current_token())
        return self._writer

    async def _run(self, call: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(call, limiter=self._limiter)


def _copy(error: Exception) -> StoreError:
    """A fresh exception for one caller (the group's callers must not share one instance)."""
    if isinstance(error, StoreError):
        try:
            return type(error)(*error.args)
        except TypeError:  # pragma: no cover - a StoreError with another signature
            pass
    return DatabaseError(f"the datastore write failed: {error!r}")
