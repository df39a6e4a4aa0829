"""The abstract block network the client layer runs on, and an in-memory one for tests.

The client never talks to peers: it asks a :class:`BlockNetwork` for one block
by kind and routing key, or hands it one block to insert. The node runtime
implements it over the routing core; :class:`MemoryNetwork` implements it with
a dict and fault knobs (seeded loss, delay, fail-once, counters) in the manner
of Tahoe-LAFS's ``no_network`` grid and trio's fake net.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import anyio

from crypto.blocks import Block, KeyKind, verify_block
from crypto.errors import InvalidBlock
from node.client.errors import Collision, DataNotFound, InsertFailed


@runtime_checkable
class BlockNetwork(Protocol):
    """One-block fetch and insert: everything the client needs from a node.

    ``fetch`` returns a block already verified against ``routing_key`` (the
    client verifies again while decrypting, so a faulty implementation cannot
    hand it wrong data). Raises :class:`~node.client.errors.DataNotFound`,
    :class:`~node.client.errors.RouteNotFound` or
    :class:`~node.client.errors.Overloaded`.

    ``insert`` stores one block; raises :class:`~node.client.errors.Collision`
    (carrying the block already there) when a different SSK block holds the
    routing key, or :class:`~node.client.errors.InsertFailed`. Re-inserting an
    identical block is not a collision.
    """

    async def fetch(self, kind: KeyKind, routing_key: bytes) -> Block: ...

    async def insert(self, block: Block) -> None: ...


@dataclass(slots=True)
class NetworkStats:
    """What a :class:`MemoryNetwork` was asked to do, for tests and benchmarks."""

    fetches: int = 0
    fetch_failures: int = 0
    inserts: int = 0
    inserted_keys: Counter[bytes] = field(default_factory=Counter)


class MemoryNetwork:
    """A dict-backed :class:`BlockNetwork` with fault knobs.

    Args:
        loss: fraction of blocks (0..1) that are "lost": the decision is made per
            routing key the first time it is inserted, with ``rng``, so a lost
            block stays lost, as a block that fell out of every store would.
        rng: the random source for ``loss`` (seed it in tests).
        delay: seconds each operation sleeps, to exercise concurrency.
        verify: check every inserted block (off only in benchmarks that measure
            the client alone).
    """

    def __init__(
        self,
        *,
        loss: float = 0.0,
        rng: random.Random | None = None,
        delay: float = 0.0,
        verify: bool = True,
    ) -> None:
        if not 0.0 <= loss <= 1.0:
            raise ValueError("loss is a fraction between 0 and 1")
        self.blocks: dict[tuple[KeyKind, bytes], Block] = {}
        self.lost: set[bytes] = set()
        self.fail_once: set[bytes] = set()
        self.loss = loss
        self.rng = rng if rng is not None else random.Random(0)
        self.delay = delay
        self.verify = verify
        self.stats = NetworkStats()
        self.offline = False

    async def fetch(self, kind: KeyKind, routing_key: bytes) -> Block:
        self.stats.fetches += 1
        if self.delay:
            await anyio.sleep(self.delay)
        else:
            await anyio.lowlevel.checkpoint()
        if routing_key in self.fail_once:
            self.fail_once.discard(routing_key)
            self.stats.fetch_failures += 1
            raise DataNotFound("the block was not found (injected one-time failure)")
        block = self.blocks.get((kind, routing_key))
        if block is None or routing_key in self.lost or self.offline:
            self.stats.fetch_failures += 1
            raise DataNotFound("the block was not found")
        return block

    async def insert(self, block: Block) -> None:
        self.stats.inserts += 1
        self.stats.inserted_keys[block.routing_key] += 1
        if self.delay:
            await anyio.sleep(self.delay)
        else:
            await anyio.lowlevel.checkpoint()
        if self.offline:
            raise InsertFailed("the network is offline (injected)")
        if self.verify:
            try:
                verify_block(block)
            except InvalidBlock as exc:
                raise InsertFailed(f"the block was rejected: {exc}") from None
        slot = (block.kind, block.routing_key)
        existing = self.blocks.get(slot)
        if existing is not None and existing.data != block.data:
            raise Collision("a different block is already stored under this key", existing)
        if existing is None and self.loss and self.rng.random() < self.loss:
            self.lost.add(block.routing_key)
        elif existing is not None:
            self.lost.discard(block.routing_key)  # re-inserting heals a lost block
        self.blocks[slot] = block

    def drop(self, routing_key: bytes) -> None:
        """Make one block unfetchable (until it is inserted again)."""
        self.lost.add(routing_key)

    def has(self, routing_key: bytes) -> bool:
        """True when the block is stored and not lost."""
        return routing_key not in self.lost and any(
            (kind, routing_key) in self.blocks for kind in KeyKind
        )
