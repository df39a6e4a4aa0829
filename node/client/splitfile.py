"""Splitfiles: inserting a payload as FEC segments of CHK blocks and fetching it back.

Insert: the payload is cut into 32 KiB blocks, segments are encoded (keystream,
FEC, CHK) in a :class:`~node.client.fec.CpuPool` a few segments ahead, and
their blocks are inserted through a bounded window. Fetch: every segment asks
for its data blocks first and, for each one that fails, one more check block,
so it stops as soon as any ``k`` have arrived; the segment is decoded in the
pool, decrypted, decompressed and hashed in order, and written to a
:class:`Sink` while later segments are still arriving. Blocks that had to be
rebuilt are re-inserted in the background by a :class:`Healer`.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

import anyio
import anyio.abc

from crypto.blocks import Block, KeyKind
from crypto.chk import decode_chk
from crypto.errors import CryptoError
from node.client.compression import Decompressor
from node.client.crypt import ContentHasher
from node.client.errors import (
    AllDataNotFound,
    BlockDecodeError,
    BlocksFailed,
    Collision,
    NetworkError,
    collapse_groups,
)
from node.client.fec import (
    DEFAULT_FEC,
    MAX_SEGMENT_DATA,
    CpuPool,
    EncodedBlock,
    FecCodec,
    decode_and_decrypt,
    encode_segment,
    plan_segments,
    reencode_blocks,
    split_blocks,
)
from node.client.metadata import Content, Segment
from node.client.network import BlockNetwork
from node.client.progress import ProgressTracker

# 32 blocks in flight (1 MiB) keeps a network with ~10 ms per block above
# 100 MB/s; the runtime may tune it to the node's load limits.
DEFAULT_WINDOW = 32
# Segments being fetched or encoded at once: enough to keep the window full
# across segment boundaries, few enough to bound memory (each is ≤ 8 MiB).
SEGMENTS_AHEAD = 4
# A block that fails is asked for again once before a check block replaces it;
# transient overload should not cost a whole extra block.
FETCH_RETRIES = 1
INSERT_RETRIES = 3
# Seconds before the first retry of a failed insert, doubled for each next one
# (with jitter): an insert fails at once when every peer is at its in-flight
# limit or refusing (a full disk), and retrying at once only meets the same
# queue. 0.25 + 0.5 + 1 s lets it drain.
INSERT_RETRY_DELAY = 0.25
# A block with no FEC around it (a file's top metadata block, a signed key's
# block) is inserted 1 + N times, each copy an independent network insert (its
# own uid and random first hop), so that one hostile first hop cannot hold it
# alone (specs/threat-model.md §10). Freenet's default for both kinds of block
# (FCP ExtraInsertsSingleBlock, ExtraInsertsSplitfileHeaderBlock) is 2.
DEFAULT_EXTRA_INSERTS = 2
# Each copy costs a whole insert; three first hops all hostile is already rare
# (specs/threat-model.md), and beyond ten the cost grows, the gain does not.
MAX_EXTRA_INSERTS = 10
# An extra copy is insurance, and a put waits for all its copies: it is retried
# once (the first copy, which a put cannot do without, INSERT_RETRIES times).
EXTRA_COPY_RETRIES = 1


class Sink(Protocol):
    """Where fetched bytes go, in order."""

    async def write(self, data: bytes, /) -> object: ...


class BytesSink:
    """A :class:`Sink` that collects everything in memory, with a size bound."""

    def __init__(self, limit: int | None = None) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.limit = limit

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.limit is not None and self.size > self.limit:
            raise BlockDecodeError("the content is larger than its metadata allows")
        self.parts.append(data)

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


@dataclass(slots=True, kw_only=True)
class Transfer:
    """What one request shares between its splitfile operations.

    ``network`` is ``None`` for a CHK-only insert (compute keys, send nothing).
    ``fec`` is the erasure code of new segments; fetches use each segment's own.
    ``extra_single`` and ``extra_header`` are the extra copies of single blocks
    (:func:`insert_block`): blocks that hold their whole content, and metadata
    blocks that point at other blocks.
    """

    network: BlockNetwork | None
    pool: CpuPool
    progress: ProgressTracker = field(default_factory=ProgressTracker)
    window: anyio.CapacityLimiter = field(
        default_factory=lambda: anyio.CapacityLimiter(DEFAULT_WINDOW)
    )
    healer: Healer | None = None
    max_k: int = MAX_SEGMENT_DATA
    fec: FecCodec = DEFAULT_FEC
    rng: random.Random = field(default_factory=random.Random)
    extra_single: int = DEFAULT_EXTRA_INSERTS
    extra_header: int = DEFAULT_EXTRA_INSERTS


# --- insert ------------------------------------------------------------------------------


async def insert_payload(
    t: Transfer, payload: bytes, crypt_key: bytes | None
) -> tuple[Segment, ...]:
    """Encode ``payload`` into segments, insert every block, return the segment list."""
    blocks = split_blocks(payload)
    plan = plan_segments(len(blocks), t.max_k)
    t.progress.add(total=sum(n for _, n in plan), required=sum(n for _, n in plan))
    results: list[Segment | None] = [None] * len(plan)
    failures: list[int] = []
    ahead = anyio.Semaphore(SEGMENTS_AHEAD)

    async def one(index: int, first: int, k: int, n: int) -> None:
        try:
            data = blocks[first : first + k]
            encoded = await t.pool.run(encode_segment, data, n, crypt_key, first, t.fec)
            keys = b"".join(e[1] + e[2] for e in encoded)
            results[index] = Segment(k=k, n=n, keys=keys, fec=t.fec)
            # A segment without check blocks (one data block: see check_blocks_for)
            # has no FEC around it: its block is a single block, inserted 1 + N times.
            extra = t.extra_single if n == k else 0
            await _insert_encoded(t, encoded, failures, extra=extra)
        finally:
            ahead.release()

    with collapse_groups():
        async with anyio.create_task_group() as tg:
            first = 0
            for index, (k, n) in enumerate(plan):
                await ahead.acquire()
                tg.start_soon(one, index, first, k, n)
                first += k
    if failures:
        raise BlocksFailed(
            f"{len(failures)} of {t.progress.total} blocks could not be inserted; "
            "the network may be overloaded: try again later"
        )
    return tuple(s for s in results if s is not None)


async def _insert_encoded(
    t: Transfer, encoded: list[EncodedBlock], failures: list[int], *, extra: int = 0
) -> None:
    """Insert a segment's blocks, ``extra`` more copies of each (:func:`insert_copies`)."""
    if t.network is None:
        t.progress.success(len(encoded))
        return
    network = t.network

    async def put(item: EncodedBlock) -> None:
        block = Block(KeyKind.CHK, item[1], item[3])
        if extra:
            try:
                await insert_copies(t, block, extra=extra, count_retries=True)
            except NetworkError:
                failures.append(item[0])
                t.progress.failure(fatal=True)
            else:
                t.progress.success()
            return
        async with t.window:
            for attempt in range(INSERT_RETRIES + 1):
                try:
                    await network.insert(block)
                except NetworkError:
                    if attempt == INSERT_RETRIES:
                        failures.append(item[0])
                        t.progress.failure(fatal=True)
                        return
                    t.progress.failure()
                    await _retry_pause(t, attempt)
                else:
                    t.progress.success()
                    return

    with collapse_groups():
        async with anyio.create_task_group() as tg:
            for item in encoded:
                tg.start_soon(put, item)


async def insert_block(t: Transfer, block: Block, *, single: bool) -> None:
    """Insert a block that has no FEC around it: 1 + N copies, concurrently.

    ``single`` says the block holds its whole content (an inline file's metadata
    block, a signed SSK/KSK/USK block): N is ``t.extra_single``; otherwise it is
    a metadata block that points at other blocks (a splitfile's document, split
    metadata, a manifest, a redirect): N is ``t.extra_header``. Each copy is an
    independent network insert, under the transfer's window, so a node gives
    each its own uid and random first hop. The first copy is retried
    ``INSERT_RETRIES`` times, the others ``EXTRA_COPY_RETRIES`` times.

    The put of the block succeeds when one copy was inserted and none met a
    collision. Progress counts the block once (in ``total`` and ``required``),
    succeeded when its copies have finished; the extra copies are not counted,
    and retries of the first count as ``failed``.

    Raises:
        Collision: a copy met a different block under the key (an SSK); the
            other copies are cancelled.
        NetworkError: every copy failed: the first copy's error.
    """
    t.progress.add(total=1, required=1)
    if t.network is None:
        t.progress.success()
        return
    extra = t.extra_single if single else t.extra_header
    try:
        await insert_copies(t, block, extra=extra, count_retries=True)
    except NetworkError:
        t.progress.failure(fatal=True)
        raise
    t.progress.success()


async def insert_copies(
    t: Transfer,
    block: Block,
    *,
    extra: int,
    retries: int = INSERT_RETRIES,
    count_retries: bool = False,
) -> None:
    """Insert ``block`` 1 + ``extra`` times concurrently, without counting progress
    (unless ``count_retries``: the first copy's retries count as ``failed``).

    The first copy is retried up to ``retries`` times, the others up to
    ``min(retries, EXTRA_COPY_RETRIES)``. Raises as :func:`insert_block`.
    """
    network = t.network
    assert network is not None
    copies = 1 + max(0, extra)
    errors: list[NetworkError | None] = [None] * copies
    landed = [False] * copies
    collisions: list[Collision] = []

    async def one(index: int, scope: anyio.CancelScope) -> None:
        limit = retries if index == 0 else min(retries, EXTRA_COPY_RETRIES)
        for attempt in range(limit + 1):
            try:
                async with t.window:
                    await network.insert(block)
            except Collision as exc:
                collisions.append(exc)
                scope.cancel()  # the key is taken: the other copies cannot help
                return
            except NetworkError as exc:
                if attempt == limit or not _retryable(exc):
                    errors[index] = exc
                    return
                if index == 0 and count_retries:
                    t.progress.failure()
                await _retry_pause(t, attempt)
            else:
                landed[index] = True
                return

    with collapse_groups():
        async with anyio.create_task_group() as tg:
            for index in range(copies):
                tg.start_soon(one, index, tg.cancel_scope)
    if collisions:
        raise collisions[0]
    if any(landed):
        return
    first = errors[0]
    assert first is not None
    raise first


async def fetch_block(t: Transfer, kind: KeyKind, routing_key: bytes) -> Block:
    """Fetch one block (metadata, SSK) with the splitfile retries, counting progress."""
    if t.network is None:
        raise AllDataNotFound("no network to fetch from")
    t.progress.add(total=1, required=1)
    for attempt in range(FETCH_RETRIES + 1):
        try:
            async with t.window:
                block = await t.network.fetch(kind, routing_key)
        except NetworkError:
            t.progress.failure(fatal=attempt == FETCH_RETRIES)
            if attempt == FETCH_RETRIES:
                raise
        else:
            t.progress.success()
            return block
    raise AssertionError("unreachable")  # pragma: no cover


def _retryable(exc: NetworkError) -> bool:
    return not exc.fatal


async def _retry_pause(t: Transfer, attempt: int) -> None:
    await anyio.sleep(INSERT_RETRY_DELAY * 2**attempt * t.rng.uniform(0.5, 1.0))


# --- fetch -------------------------------------------------------------------------------


async def fetch_content(t: Transfer, content: Content, sink: Sink) -> None:
    """Fetch, decode, decrypt, decompress and verify ``content`` into ``sink``.

    Raises:
        AllDataNotFound: a segment could not get ``k`` of its blocks.
        BlockDecodeError: the content does not decompress or hash as promised.
    """
    decompressor = Decompressor(content.codec, content.size)
    hasher = ContentHasher()

    async def emit(payload: bytes) -> None:
        out = decompressor.feed(payload)
        hasher.update(out)
        if out:
            await sink.write(out)

    if content.inline is not None:
        payload = content.inline
        if content.crypt_key is not None:
            from node.client.crypt import keystream_xor

            payload = keystream_xor(content.crypt_key, 0, payload)
        await emit(payload)
    else:
        await _fetch_segments(t, content, emit)
    decompressor.finish()
    if hasher.digest() != content.hash:
        raise BlockDecodeError("the fetched content does not match its hash: it was tampered with")


async def _fetch_segments(
    t: Transfer, content: Content, emit: Callable[[bytes], Awaitable[None]]
) -> None:
    t.progress.add(total=content.total_blocks, required=content.data_blocks)
    ready: dict[int, bytes] = {}
    state = {"next": 0, "left": content.payload_size}
    ahead = anyio.Semaphore(SEGMENTS_AHEAD)
    writer = anyio.Lock()

    async def one(index: int, segment: Segment, first: int) -> None:
        payload = await _fetch_segment(t, segment, first, content.crypt_key, index)
        ready[index] = payload
        async with writer:
            while state["next"] in ready:
                chunk = ready.pop(state["next"])
                chunk = chunk[: state["left"]]
                state["left"] -= len(chunk)
                state["next"] += 1
                await emit(chunk)
                ahead.release()

    with collapse_groups():
        async with anyio.create_task_group() as tg:
            first = 0
            for index, segment in enumerate(content.segments):
                await ahead.acquire()
                tg.start_soon(one, index, segment, first)
                first += segment.k


async def _fetch_segment(
    t: Transfer, segment: Segment, first: int, crypt_key: bytes | None, index: int
) -> bytes:
    if t.network is None:
        raise AllDataNotFound("no network to fetch from")
    network = t.network
    k, n = segment.k, segment.n
    checks = list(range(k, n))
    t.rng.shuffle(checks)
    order = list(range(k)) + checks
    got: dict[int, bytes] = {}
    failed: list[int] = []
    cursor = {"next": 0}

    async def get(i: int, tg: anyio.abc.TaskGroup) -> None:
        routing_key, decryption_key = segment.block_key(i)
        for attempt in range(FETCH_RETRIES + 1):
            try:
                async with t.window:
                    block = await network.fetch(KeyKind.CHK, routing_key)
                got[i] = decode_chk(block, decryption_key)
            except (NetworkError, CryptoError):
                t.progress.failure(fatal=attempt == FETCH_RETRIES)
                continue
            t.progress.success()
            if len(got) >= k:
                tg.cancel_scope.cancel()
            return
        failed.append(i)
        launch(tg)

    def launch(tg: anyio.abc.TaskGroup) -> None:
        if cursor["next"] < len(order) and len(got) < k:
            tg.start_soon(get, order[cursor["next"]], tg)
            cursor["next"] += 1

    with collapse_groups():
        async with anyio.create_task_group() as tg:
            for _ in range(k):
                launch(tg)
    if len(got) < k:
        raise AllDataNotFound(
            f"segment {index + 1}: only {len(got)} of the {k} blocks it needs were found "
            f"({len(failed)} of {n} failed); the file may be only partly in the network, "
            "try again later"
        )
    chosen = dict(sorted(got.items())[:k])
    if crypt_key is None and all(i < k for i in chosen):
        stored = [chosen[i] for i in range(k)]  # nothing to decode: skip the worker round trip
        payload = b"".join(stored)
    else:
        stored, payload = await t.pool.run(
            decode_and_decrypt, chosen, k, n, crypt_key, first, segment.fec
        )
    if failed and t.healer is not None:
        t.healer.heal(segment, stored, failed)
    return payload


# --- healing -----------------------------------------------------------------------------


@dataclass(slots=True)
class HealStats:
    """What a :class:`Healer` has done, for tests and the node's statistics."""

    queued: int = 0
    inserted: int = 0
    failed: int = 0


class Healer:
    """Re-inserts blocks a fetch had to rebuild, in the background, best effort.

    An async context manager owning its task group; leaving it waits for the
    queued re-inserts (cancel the enclosing scope to drop them).
    """

    # Healing competes with the user's own requests; keep it to a trickle.
    CONCURRENCY = 8
    MAX_QUEUED_SEGMENTS = 64  # beyond this, further healing is dropped, not queued

    def __init__(self, network: BlockNetwork, pool: CpuPool) -> None:
        self.network = network
        self.pool = pool
        self.stats = HealStats()
        self._limiter = anyio.CapacityLimiter(self.CONCURRENCY)
        self._pending = 0
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> Healer:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        tg, self._tg = self._tg, None
        assert tg is not None
        if exc is not None:
            # The owner failed or was cancelled: drop queued healing and let the
            # owner's exception through unwrapped.
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)
            return None
        return await tg.__aexit__(None, None, None)

    def heal(self, segment: Segment, stored: list[bytes], missing: list[int]) -> None:
        """Queue the blocks at ``missing`` of ``segment`` for re-insertion."""
        if self._tg is None or self._pending >= self.MAX_QUEUED_SEGMENTS:
            return
        self._pending += 1
        self.stats.queued += len(missing)
        self._tg.start_soon(self._heal, segment, stored, sorted(missing))

    async def _heal(self, segment: Segment, stored: list[bytes], missing: list[int]) -> None:
        try:
            try:
                rebuilt = await self.pool.run(
                    reencode_blocks, stored, segment.n, missing, segment.fec
                )
            except Exception:  # healing is best effort; a failure must not hurt the owner
                self.stats.failed += len(missing)
                return
            for i, routing_key, _key, data in rebuilt:
                if routing_key != segment.block_key(i)[0]:
                    self.stats.failed += 1  # the inserter used other FEC: nothing to heal
                    continue
                try:
                    async with self._limiter:
                        await self.network.insert(Block(KeyKind.CHK, routing_key, data))
                except NetworkError:
                    self.stats.failed += 1
                else:
                    self.stats.inserted += 1
        finally:
            self._pending -= 1
