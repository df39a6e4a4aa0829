"""The values the datastore's API takes and returns: areas, configuration, results, stats."""

import enum
from dataclasses import dataclass

from crypto.blocks import Block, KeyKind, block_size
from store.schema import Synchronous

# Each area must hold at least one block of the largest kind, or a put into it
# could never succeed.
MIN_AREA_BYTES = block_size(KeyKind.CHK)
# With FULL, a transaction putting fewer CHK records than this keeps them
# inline: a slot saves 25-40 µs of CPU a block but costs a second fsync a
# transaction (the slot file's: ~90 µs more wall time a transaction when a slot
# is reused, ~300 µs and ~90 µs of CPU when the file grows; an fdatasync took
# 206-335 µs here). Measured, inline was as fast or faster below 4 blocks and
# slots saved CPU from 4 on (``specs/store.md`` §The slot file).
INLINE_BELOW = 4


class Area(enum.IntEnum):
    """Where a block lives; the value is what the ``placement.area`` column holds."""

    STORE = 1  # inserted near our location: long-lived, evicted farthest-first
    CACHE = 2  # passed through on a successful request: evicted least-recently-used


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    """How big the datastore may grow and how hard it pushes commits to disk.

    Args:
        size_bytes: total budget of block data for both areas.
        store_share: the fraction of ``size_bytes`` given to the store area; the
            cache gets the rest.
        synchronous: FULL survives power loss; NORMAL survives only a killed process.
        check_on_open: run ``PRAGMA quick_check`` at open (reads the whole file).
        inline_below: with FULL, a transaction putting fewer full-size CHK
            records than this keeps them inline in SQLite (one fsync, the WAL's)
            instead of in the slot file (two: the slot file's, then the WAL's);
            0 puts every one in a slot. NORMAL always uses slots
            (``specs/store.md`` §The slot file).
    """

    size_bytes: int
    store_share: float = 0.5
    synchronous: Synchronous = Synchronous.FULL
    check_on_open: bool = True
    inline_below: int = INLINE_BELOW

    def __post_init__(self) -> None:
        if not 0.0 < self.store_share < 1.0:
            raise ValueError(f"store_share must be between 0 and 1, not {self.store_share}")
        if self.inline_below < 0:
            raise ValueError(f"inline_below must be 0 or more, not {self.inline_below}")
        if min(self.store_limit, self.cache_limit) < MIN_AREA_BYTES:
            raise ValueError(
                f"a datastore of {self.size_bytes} bytes is too small: each area needs room for "
                f"one {MIN_AREA_BYTES}-byte block; give it at least "
                f"{int(MIN_AREA_BYTES / min(self.store_share, 1 - self.store_share)) + 1} bytes"
            )

    @property
    def store_limit(self) -> int:
        return int(self.size_bytes * self.store_share)

    @property
    def cache_limit(self) -> int:
        return self.size_bytes - self.store_limit

    def limit(self, area: Area) -> int:
        return self.store_limit if area is Area.STORE else self.cache_limit


class PutOutcome(enum.Enum):
    """What a put did."""

    STORED = "stored"  # written (or moved from the cache into the store)
    DUPLICATE = "duplicate"  # the identical block was already held; nothing written
    COLLISION = "collision"  # a different block is held under this SSK; it stays


@dataclass(frozen=True, slots=True, kw_only=True)
class PutResult:
    """The answer to a put, acknowledged only after its transaction committed.

    ``area`` is where the block now lives (a block held in the store stays
    there when put into the cache). ``existing`` is the block already held under
    the routing key when ``outcome`` is COLLISION: the routing core reports it to
    the inserter.
    """

    outcome: PutOutcome
    area: Area
    evicted: int = 0
    existing: Block | None = None

    @property
    def collision(self) -> bool:
        return self.outcome is PutOutcome.COLLISION


@dataclass(frozen=True, slots=True, kw_only=True)
class AreaStats:
    blocks: int
    bytes: int
    limit: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreStats:
    """Sizes now, and counters since the store was opened."""

    store: AreaStats
    cache: AreaStats
    hits: int
    misses: int
    evictions: int
    collisions: int
    dropped: int  # damaged records found and deleted
