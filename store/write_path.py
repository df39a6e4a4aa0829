"""The inside of a datastore write transaction: inserting rows, placing, evicting, removing.

Theory of operation (``specs/store.md`` §Schema, §The slot file, §Areas, sizes
and eviction, §Presence index):

- A new block's row holds its record inline or names the slot it took
  (:meth:`WritePath._stored_form`); its ``placement`` row holds its area,
  bucket, last use and size, and the area's size in memory grows with it.
- A put that makes its area overflow evicts in the same transaction (LRU for
  the cache, farthest bucket first for the store: :mod:`store.eviction`),
  never the block just put; a removed row's slot is released, free only once
  the deletion commits.
- Every row inserted or removed changes the presence index at once and is
  noted in ``_undo``, so that a rollback can take the change back.
"""

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from crypto.blocks import Block, KeyKind
from store import eviction
from store.records import DamagedRecord, unseal
from store.slots import SLOT_SIZE, SlotFile
from store.values import Area, PutOutcome, PutResult, StoreConfig

log = logging.getLogger("store.block_store")  # the name the store's warnings always had

# Victims fetched per eviction query: one CHK put into a full area usually
# evicts one CHK or up to 28 SSKs. The first query asks for two rows (one victim,
# and one more in case the first is the row just put), which is all a put of a
# CHK into an area of CHKs needs; fetching 17 there cost ~20 µs of CPU a put in
# Candidate rows never used. Later queries fetch this many.
EVICTION_BATCH = 16
FIRST_EVICTION_QUERY = 2
_INSERT_NEW_BLOCK = (
    "INSERT INTO blocks (row_id, record, slot) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
)
_INSERT_NEW_BLOCK_AT = (
    "INSERT INTO blocks (id, row_id, record, slot) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_INSERT_PLACEMENT = "INSERT INTO placement (id, area, bucket, seq, size) VALUES (?, ?, ?, ?, ?)"
_MAX_ROW_NUMBER = (1 << 63) - 1  # SQLite's largest rowid
# The result of a put that stored its block and evicted nothing: results are
# frozen, so every such put into an area can share one.
_STORED = {area: PutResult(outcome=PutOutcome.STORED, area=area) for area in Area}


@dataclass(slots=True)
class AreaUsage:
    """Live blocks and bytes of one area (mutable bookkeeping, restored on rollback)."""

    blocks: int = 0
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class Prepared:
    """A verified block, ready to write: its row id and sealed record (opaque to callers)."""

    block: Block
    row_id: bytes
    record: bytes


class WritePath:
    """What a write transaction does to rows, placement, slots and the bookkeeping in memory.

    A base of :class:`~store.block_store.BlockStore`, which sets these
    attributes in its ``__init__``; every method runs with the store's lock
    held, inside ``BlockStore._write`` (which commits, or rolls back and
    restores the sizes, the presence index and the slots).
    """

    _config: StoreConfig
    _salt: bytes
    _location: float
    _slots: SlotFile
    _usage: dict[Area, AreaUsage]
    _limits: dict[Area, int]
    _full: bool  # synchronous=FULL
    _inline_chk: bool  # whether the running transaction keeps its CHK records inline
    _touched: dict[int, int]  # row number -> its pending last-use mark
    _seq: int
    _evictions: int
    _collisions: int
    _dropped: int
    _present: dict[bytes, int]  # the presence index: row id -> its entry (see index_entry)
    _undo: list[tuple[bytes, int | None]]  # this transaction's changes: (row id, entry before)

    def _put_all(
        self, connection: sqlite3.Connection, items: Sequence[tuple[Prepared, Area]]
    ) -> list[PutResult]:
        """Write a transaction's blocks, in order; their results.

        Several new blocks that fit without an eviction are written in two
        ``executemany`` statements (one for ``blocks``, one for ``placement``)
        instead of two statements each, with row numbers chosen here as SQLite
        would (one past the largest), so that their placement rows can be
        written without reading back each row number. Anything else (a key the
        presence index holds, a key twice in the batch, an area that would
        overflow) goes one block at a time, as does a single block.
        """
        self._inline_chk = self._full and (
            len(items) < self._config.inline_below
            or sum(len(item.record) == SLOT_SIZE for item, _ in items) < self._config.inline_below
        )
        if len(items) < 2 or not self._all_fresh(items):
            return [self._put_one(connection, item, area) for item, area in items]
        (largest,) = connection.execute("SELECT max(id) FROM blocks").fetchone()
        first = (largest or 0) + 1
        if first + len(items) > _MAX_ROW_NUMBER:  # SQLite would pick random numbers now
            return [self._put_one(connection, item, area) for item, area in items]
        rows = [
            (first + index, item.row_id, *self._stored_form(item))
            for index, (item, _) in enumerate(items)
        ]
        cursor = connection.executemany(_INSERT_NEW_BLOCK_AT, rows)
        inserted: set[int] | None = None  # None: all of them
        if cursor.rowcount != len(items):
            # The presence index was wrong about some key: its insert did nothing,
            # and that block takes the path of a held key below.
            inserted = {
                number
                for (number,) in connection.execute(
                    "SELECT id FROM blocks WHERE id >= ? AND id < ?", (first, first + len(items))
                )
            }
        results: list[PutResult | None] = []
        placements: list[tuple[int, Area, int, int, int]] = []
        for index, (item, area) in enumerate(items):
            number = first + index
            if inserted is not None and number not in inserted:
                slot = rows[index][3]
                if slot is not None:  # its insert did nothing: the slot was never named
                    self._slots.release(slot)
                results.append(None)
                continue
            self._index(item.row_id, number, rows[index][3])
            size = len(item.block.data)
            placements.append(
                (number, area, eviction.bucket_of(item.block.routing_key), self._next_seq(), size)
            )
            usage = self._usage[area]
            usage.blocks += 1
            usage.bytes += size
            results.append(_STORED[area])
        connection.executemany(_INSERT_PLACEMENT, placements)
        return [
            self._put_one(connection, *items[index]) if result is None else result
            for index, result in enumerate(results)
        ]

    def _all_fresh(self, items: Sequence[tuple[Prepared, Area]]) -> bool:
        """Whether every block is new, once in ``items``, and all fit without an eviction."""
        row_ids = {item.row_id for item, _ in items}
        if len(row_ids) != len(items) or not self._present.keys().isdisjoint(row_ids):
            return False
        added = dict.fromkeys(Area, 0)
        for item, area in items:
            added[area] += len(item.block.data)
        return all(self._usage[area].bytes + added[area] <= self._limits[area] for area in Area)

    def _put_one(self, connection: sqlite3.Connection, item: Prepared, area: Area) -> PutResult:
        if item.row_id not in self._present:
            # Not held as far as the presence index knows: insert without a probe.
            # ON CONFLICT makes a wrong index cost a probe below, never a failed put.
            record, slot = self._stored_form(item)
            cursor = connection.execute(_INSERT_NEW_BLOCK, (item.row_id, record, slot))
            if cursor.rowcount == 1:
                return self._place(connection, item, area, cursor.lastrowid, slot)
            if slot is not None:  # the insert did nothing: the slot was never named
                self._slots.release(slot)
        row = connection.execute(
            "SELECT b.id, p.area, b.slot FROM blocks AS b JOIN placement AS p ON p.id = b.id"
            " WHERE b.row_id = ?",
            (item.row_id,),
        ).fetchone()
        if row is not None:
            if item.row_id not in self._present:  # the index missed a held row: repair it
                self._index(item.row_id, row[0], row[2])
            existing = self._existing(connection, row[0], item)
            if existing is not None:
                return self._put_over(connection, row[0], Area(row[1]), existing, item, area)
        record, slot = self._stored_form(item)
        cursor = connection.execute(
            "INSERT INTO blocks (row_id, record, slot) VALUES (?, ?, ?)",
            (item.row_id, record, slot),
        )
        return self._place(connection, item, area, cursor.lastrowid, slot)

    def _stored_form(self, item: Prepared) -> tuple[bytes, int | None]:
        """What a new ``blocks`` row holds: an empty record and a slot taken for the record
        (a full-size CHK record), or the record inline and no slot (anything smaller, and
        with FULL, the CHK records of a transaction of fewer than ``inline_below``)."""
        if len(item.record) == SLOT_SIZE and not self._inline_chk:
            return b"", self._slots.take(item.record)
        return item.record, None

    def _place(
        self,
        connection: sqlite3.Connection,
        item: Prepared,
        area: Area,
        row_number: int | None,
        slot: int | None,
    ) -> PutResult:
        """Add the placement row of a block just inserted into ``blocks``, then evict."""
        assert row_number is not None
        self._index(item.row_id, row_number, slot)
        size = len(item.block.data)
        connection.execute(
            _INSERT_PLACEMENT,
            (row_number, area, eviction.bucket_of(item.block.routing_key), self._next_seq(), size),
        )
        usage = self._usage[area]
        usage.blocks += 1
        usage.bytes += size
        return PutResult(
            outcome=PutOutcome.STORED, area=area, evicted=self._evict(connection, area, row_number)
        )

    def _existing(
        self, connection: sqlite3.Connection, row_number: int, item: Prepared
    ) -> Block | None:
        """The block held in row ``row_number`` (None if its record was damaged and dropped).

        CHK blocks under one routing key are identical by construction (the key
        is their hash), so only an SSK's record is read back to look for a collision.
        """
        if item.block.kind is KeyKind.CHK:
            return item.block
        record, slot = connection.execute(
            "SELECT record, slot FROM blocks WHERE id = ?", (row_number,)
        ).fetchone()
        if slot is not None:  # an OSError is translated by BlockStore._write, around this
            record = self._slots.read(slot)
        try:
            return unseal(self._salt, item.row_id, item.block.routing_key, record)
        except DamagedRecord as exc:
            self._drop_damaged(connection, row_number, str(exc))
            return None

    def _put_over(
        self,
        connection: sqlite3.Connection,
        row_number: int,
        held_in: Area,
        existing: Block,
        item: Prepared,
        area: Area,
    ) -> PutResult:
        """A put under a routing key already held: collision, duplicate, or cache→store move."""
        if existing.kind != item.block.kind or existing.data != item.block.data:
            self._collisions += 1
            return PutResult(outcome=PutOutcome.COLLISION, area=held_in, existing=existing)
        self._touch(row_number)
        if held_in is Area.STORE or area is Area.CACHE:
            return PutResult(outcome=PutOutcome.DUPLICATE, area=held_in)
        connection.execute("UPDATE placement SET area = ? WHERE id = ?", (Area.STORE, row_number))
        size = len(existing.data)
        for source, sign in ((Area.CACHE, -1), (Area.STORE, 1)):
            self._usage[source].blocks += sign
            self._usage[source].bytes += sign * size
        return PutResult(
            outcome=PutOutcome.STORED,
            area=Area.STORE,
            evicted=self._evict(connection, Area.STORE, row_number),
        )

    def _evict(self, connection: sqlite3.Connection, area: Area, keep: int | None) -> int:
        """Evict from ``area`` until it is within its limit, never row ``keep``."""
        usage, limit = self._usage[area], self._limits[area]
        if usage.bytes <= limit:
            return 0
        # A duplicate put earlier in this transaction marked its block used:
        # the victims must be chosen with that mark, as if each put committed alone.
        self._write_marks(connection)
        evicted = 0
        wanted = FIRST_EVICTION_QUERY
        while usage.bytes > limit:
            batch = [
                candidate
                for candidate in eviction.victims(connection, area, self._location, wanted)
                if candidate.id != keep
            ]
            if not batch:
                break  # only the block just put is left: it fits by StoreConfig's minimum
            wanted = EVICTION_BATCH + 1
            for candidate in batch:
                self._remove(connection, candidate.id)
                evicted += 1
                if usage.bytes <= limit:
                    break
        self._evictions += evicted
        return evicted

    def _remove(self, connection: sqlite3.Connection, row_number: int) -> None:
        removed = connection.execute(
            "DELETE FROM blocks WHERE id = ? RETURNING row_id, slot", (row_number,)
        ).fetchall()
        row = connection.execute(
            "DELETE FROM placement WHERE id = ? RETURNING area, size", (row_number,)
        ).fetchone()
        for row_key, slot in removed:
            # Rewritten only once this deletion has committed. A value that is no
            # slot number (a damaged row, dropped at open) names no slot to free.
            if isinstance(slot, int) and slot >= 0:
                self._slots.release(slot)
            entry = self._present.pop(row_key, None)
            if entry is not None:
                self._undo.append((row_key, entry))
        self._touched.pop(row_number, None)
        if row is not None and row[0] in Area._value2member_map_:
            usage = self._usage[Area(row[0])]
            usage.blocks -= 1
            usage.bytes -= row[1]

    def _index(self, row_key: bytes, row_number: int, slot: object) -> None:
        """Enter a row in the presence index (in this transaction: undone if it rolls back)."""
        self._undo.append((row_key, self._present.get(row_key)))
        self._present[row_key] = index_entry(row_number, slot)

    def _drop_damaged(self, connection: sqlite3.Connection, row_number: int, why: str) -> None:
        # Deniability: name the row by its internal id only, never by a key.
        log.warning("dropping damaged datastore row %d: %s", row_number, why)
        self._remove(connection, row_number)
        self._dropped += 1

    def _touch(self, row_number: int) -> None:
        """Mark a row used now; the mark is written by the next write transaction."""
        self._touched[row_number] = self._next_seq()

    def _write_marks(self, connection: sqlite3.Connection) -> None:
        """Write the pending last-use marks (inside a write transaction)."""
        if self._touched:
            connection.executemany(
                "UPDATE placement SET seq = ? WHERE id = ?",
                [(seq, row_number) for row_number, seq in self._touched.items()],
            )
            self._touched.clear()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq


def index_entry(row_number: int, slot: object) -> int:
    """A row's presence index entry: its row number and its slot in one int (a tuple
    would double the index's memory). The low :data:`ENTRY_SLOT_BITS` bits hold the
    slot plus one, 0 for a row whose record is inline (or whose slot is not a number)."""
    slot_bits = slot + 1 if type(slot) is int and 0 <= slot < ENTRY_NO_SLOT else 0
    return row_number << ENTRY_SLOT_BITS | slot_bits


ENTRY_SLOT_BITS = 40
"""Bits of a presence index entry that hold the slot: 2**40 slots of 32 KiB are 32 PiB."""
ENTRY_NO_SLOT = (1 << ENTRY_SLOT_BITS) - 1
