"""Choosing eviction victims: LRU for the cache, farthest-from-our-location for the store.

Blocks are placed on the circle by a coarse *bucket* (the first 16 bits of the
routing key; ``specs/store.md`` §Location buckets explains why no more). The
store area evicts the block whose bucket centre is farthest from the node's
location, ties least-recently-used first. The farthest point from the node is
its antipode, so victims are found by walking the ``placement_far`` index
(bucket, store rows only) outward from the antipode's bucket in both directions and
merging the two walks: each walk is already ordered by distance, so the
nearest-to-the-antipode rows overall are among the first ``n`` of either walk.
SQLite orders the rows within a bucket by seq as it goes (a bucket holds few
rows: seq is not in the index, so that LRU marks need not move rows in it).
Cost: a few index range scans per batch of victims, however large the store.
"""

import sqlite3
from dataclasses import dataclass

from crypto.location import distance, normalize
from store.values import Area

BUCKET_BITS = 16
BUCKETS = 1 << BUCKET_BITS


@dataclass(frozen=True, slots=True)
class Candidate:
    """A row that may be evicted: its internal id, bucket, last use and size."""

    id: int
    bucket: int
    seq: int
    size: int


def bucket_of(routing_key: bytes) -> int:
    """The coarse location stored for a routing key: its first 16 bits."""
    return int.from_bytes(routing_key[:2], "big")


def bucket_centre(bucket: int) -> float:
    return (bucket + 0.5) / BUCKETS


def antipode_bucket(location: float) -> int:
    """The bucket holding the point of the circle farthest from ``location``."""
    return int(normalize(location + 0.5) * BUCKETS) % BUCKETS


# The area is written into each query, not bound: SQLite may use a partial
# index (``placement_far`` holds store rows only, ``placement_lru`` cache rows
# only) only for a query whose WHERE clause implies the index's, so the plan
# must not hang on a bound value (``specs/store.md`` §Schema).
_COLUMNS = "SELECT id, bucket, seq, size FROM placement WHERE area = "
_STORE = f"{_COLUMNS}{int(Area.STORE)}"
_UP_FROM = f"{_STORE} AND bucket >= ? ORDER BY bucket, seq LIMIT ?"
_UP_WRAPPED = f"{_STORE} AND bucket < ? ORDER BY bucket, seq LIMIT ?"
_DOWN_FROM = f"{_STORE} AND bucket < ? ORDER BY bucket DESC, seq LIMIT ?"
_DOWN_WRAPPED = f"{_STORE} AND bucket >= ? ORDER BY bucket DESC, seq LIMIT ?"
_OLDEST = f"{_COLUMNS}{int(Area.CACHE)} ORDER BY seq LIMIT ?"


def victims(
    connection: sqlite3.Connection, area: Area, location: float, count: int
) -> list[Candidate]:
    """Up to ``count`` rows of ``area`` in the order they should be evicted."""
    if area is Area.CACHE:
        return _fetch(connection, _OLDEST, (count,))
    antipode = antipode_bucket(location)
    up = _fetch(connection, _UP_FROM, (antipode, count))
    if len(up) < count:
        up += _fetch(connection, _UP_WRAPPED, (antipode, count - len(up)))
    down = _fetch(connection, _DOWN_FROM, (antipode, count))
    if len(down) < count:
        down += _fetch(connection, _DOWN_WRAPPED, (antipode, count - len(down)))
    merged = {candidate.id: candidate for candidate in up + down}
    return farthest_first(list(merged.values()), location)[:count]


def farthest_first(candidates: list[Candidate], location: float) -> list[Candidate]:
    """Order rows farthest from ``location`` first, ties least-recently-used first."""
    return sorted(candidates, key=lambda c: (-distance(bucket_centre(c.bucket), location), c.seq))


def _fetch(
    connection: sqlite3.Connection, query: str, parameters: tuple[int, ...]
) -> list[Candidate]:
    return [Candidate(*row) for row in connection.execute(query, parameters)]
