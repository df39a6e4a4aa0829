"""The datastore's synchronous core: a salted, encrypted, size-bounded block store on SQLite.

Theory of operation (``specs/store.md`` holds the normative layout):

- A routing key becomes a row id and a record key through the store's salt
  (:mod:`store.records`); ``get`` is one probe of the ``row_id`` index.
- Full-size CHK records live in the slot file beside the database
  (:mod:`store.slots`), their rows naming the slot; smaller records (SSKs),
  the records of files older than schema version 6, and with FULL those of a
  transaction of fewer than ``StoreConfig.inline_below`` CHK records (one
  fsync instead of two) stay inline. A
  transaction writes its slots just before its ``COMMIT`` (and with FULL,
  fdatasyncs them), and a slot its deletions free is reused only after that
  commit: every committed row's slot holds its own record, whatever the crash.
- Every write happens in one ``BEGIN IMMEDIATE … COMMIT`` transaction that
  includes the eviction it causes, so each commit leaves both areas within their
  limits, and a put returns only after its commit: acknowledged means durable.
- Sizes per area live in memory (summed at open) and are adjusted only after a
  transaction commits; a failed transaction restores them.
- A get hit records a last-use mark in memory; marks are written by the next
  write transaction (or after :data:`TOUCH_FLUSH_THRESHOLD` marks, or at close),
  so gets never pay for a commit. Losing marks in a crash only ages LRU a little.
- Crypto (verifying, sealing, unsealing) runs outside the lock, so the async
  face's threads overlap it with database work.
- The salted row ids of the held blocks are also kept in memory (the
  *presence index*, never written anywhere: ``specs/store.md`` §Presence
  index), each with its row number and slot, read from the file at open and
  changed with every row inserted or removed, under the lock, undone if the
  transaction rolls back. It lets :meth:`BlockStore.might_contain` answer
  "not here" without the lock or the database (one keyed hash and one dict
  probe), and :meth:`BlockStore.get_nowait` read a held block from its slot
  without SQLite, when the lock is free and the slot's bytes are in memory.
  A put of a key it does not hold inserts without probing the file first
  (``ON CONFLICT DO NOTHING``: if the index was wrong, the put falls back to
  the probe, so a wrong index costs a probe, never a failed put).

What a write transaction does to the rows (insert, place, evict, remove) is
:class:`store.write_path.WritePath`, a base of ``BlockStore``; the schema's
migrations are in :mod:`store.migrations`.

One ``BlockStore`` owns its file (exclusive locking) and is safe to call from
several threads; calls are serialised by one lock.
"""

import errno
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from crypto.blocks import Block, verify_block
from crypto.errors import InvalidBlock
from crypto.location import ROUTING_KEY_SIZE, normalize
from store.errors import DatabaseCorrupt, DatabaseError, RejectedBlock, StoreClosed, WouldBlock
from store.migrations import APPLICATION_ID, DATASTORE_SCHEMA
from store.records import SALT_SIZE, DamagedRecord, record_nonces, row_id, seal, unseal
from store.schema import Synchronous, open_database
from store.slots import SlotFile, slot_path
from store.values import Area, AreaStats, PutResult, StoreConfig, StoreStats
from store.write_path import (
    ENTRY_NO_SLOT,
    ENTRY_SLOT_BITS,
    AreaUsage,
    Prepared,
    WritePath,
    index_entry,
)

__all__ = ["APPLICATION_ID", "DATASTORE_SCHEMA", "MMAP_SIZE", "BlockStore", "Prepared"]

log = logging.getLogger(__name__)

# Pending last-use marks written without waiting for a put: bounds the memory
# they take (~100 bytes a mark) and how stale LRU gets on a read-only node,
# while a flush (one commit) is spread over this many gets. A mark's UPDATE
# moves its row in an index; a flush's cost is mostly the pages it dirties,
# which scatter over the whole table and index, so larger flushes are cheaper
# per mark: measured on 20,000 blocks, 8-16 µs a mark at 512, 3-4 µs at 4,096
# (``specs/store.md`` §Areas, sizes and eviction).
TOUCH_FLUSH_THRESHOLD = 4096
# Bytes of the file SQLite reads through a memory map instead of read() calls
# (SQLite caps it at its compile-time limit, 2 GiB in common builds). A get
# reads 9 pages; through the map it makes no system call for them, which
# measured 13 -> 8 µs for a bare 32 KiB SELECT (``specs/store.md`` §The file).
MMAP_SIZE = 1 << 31
_SELECT_RECORD = "SELECT id, record, slot FROM blocks WHERE row_id = ?"
# The slots committed rows name, ascending (read through the partial index blocks_slot).
_USED_SLOTS = "SELECT slot FROM blocks WHERE slot IS NOT NULL ORDER BY slot"
# Rows whose slot the file cannot hold: past its end, or not a slot number at all.
_ROWS_WITHOUT_THEIR_SLOT = (
    "SELECT id FROM blocks WHERE slot IS NOT NULL"
    " AND (typeof(slot) != 'integer' OR slot < 0 OR slot >= ?)"
)


class BlockStore(WritePath):
    """A node's datastore: ``put``/``get``/``contains``/``delete`` blocks by routing key.

    Open with :meth:`open`; close with :meth:`close` (or use it as a context manager).
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        config: StoreConfig,
        salt: bytes,
        location: float,
        path: Path,
        slots: SlotFile,
    ) -> None:
        """Use :meth:`open`; this adopts an already opened and migrated connection."""
        self._connection: sqlite3.Connection | None = connection
        self._slots = slots
        self._config = config
        self._salt = salt
        self._location = normalize(location)
        self._path = path
        self._lock = threading.Lock()
        self._usage = {area: AreaUsage() for area in Area}
        self._limits = {area: config.limit(area) for area in Area}
        self._full = config.synchronous is Synchronous.FULL
        # Whether the running transaction keeps its CHK records inline (set per _put_all).
        self._inline_chk = False
        self._touched: dict[int, int] = {}
        self._seq = 0
        self._hits = self._misses = self._evictions = self._collisions = self._dropped = 0
        # The presence index: the row id of every row in ``blocks``, with its row
        # number and slot (write_path.index_entry). Changed only under the lock;
        # ``_undo`` records this transaction's changes.
        self._present: dict[bytes, int] = {}
        self._undo: list[tuple[bytes, int | None]] = []
        # Misses answered by might_contain alone (see there about its counting).
        self._index_misses = 0

    @classmethod
    def open(cls, path: Path | str, config: StoreConfig, *, location: float = 0.0) -> "BlockStore":
        """Open the datastore file at ``path``, creating it if absent.

        Args:
            location: this node's location, which the store area keeps blocks near.

        Raises:
            DatabaseCorrupt, WrongDatabase, SchemaTooNew, StoreInUse: see
                :func:`store.schema.open_database`; each message says what to do.
        """
        path = Path(path)
        connection = open_database(
            path, DATASTORE_SCHEMA, synchronous=config.synchronous, check=config.check_on_open
        )
        # A record tampered into TEXT must reach unseal (and be dropped), not fail to decode.
        connection.text_factory = bytes
        try:
            try:
                connection.execute(f"PRAGMA mmap_size = {MMAP_SIZE}")
                salt = _load_salt(connection, path)
            except sqlite3.Error as exc:
                raise DatabaseCorrupt(
                    f"the datastore {path} is damaged ({exc}); move it aside: a fresh "
                    "datastore is created in its place"
                ) from exc
            slots, invalid = _open_slots(connection, path, config)
            try:
                store = cls(connection, config, salt, location, path, slots)
                store._load_usage()
                store._drop_rows_without_their_slot(invalid)
                store._enforce_limits()
            except BaseException:
                slots.close()
                raise
        except BaseException:
            connection.close()
            raise
        return store

    # -- the API ---------------------------------------------------------------

    def put(self, block: Block, area: Area) -> PutResult:
        """Verify ``block`` and write it into ``area``; return once it is committed.

        Raises:
            RejectedBlock: the block failed verification; nothing was written.
        """
        return self.put_many([block], area)[0]

    def put_many(self, blocks: Iterable[Block], area: Area) -> list[PutResult]:
        """Put several blocks in one transaction: one commit (and fsync) for all.

        Every block is verified first; if any fails, none is written.

        Raises:
            RejectedBlock: a block failed verification (the message says which).
        """
        sealed = self.prepare_many(blocks)
        area = Area(area)
        with self._lock, self._write() as connection:
            return self._put_all(connection, [(item, area) for item in sealed])

    def prepare_many(self, blocks: Iterable[Block], *, verified: bool = False) -> list[Prepared]:
        """Verify and seal blocks for a later :meth:`write_prepared` (no database access).

        The two halves of a put, split so that a group-committing writer can run
        the crypto of many puts on other threads and commit them together.
        ``verified=True`` skips the verification, for blocks the caller has just
        verified itself (the node's core verifies every block a peer sends).

        Raises:
            RejectedBlock: a block failed verification (the message says which).
        """
        batch = list(blocks)
        fresh = record_nonces(len(batch))
        if verified:
            return [self._seal(block, nonce) for block, nonce in zip(batch, fresh, strict=True)]
        return [
            self._verify_and_seal(index, block, nonce)
            for index, (block, nonce) in enumerate(zip(batch, fresh, strict=True))
        ]

    def write_prepared(self, items: Sequence[tuple[Prepared, Area]]) -> list[PutResult]:
        """Write prepared blocks, each into its area, in one transaction; return once committed."""
        with self._lock, self._write() as connection:
            return self._put_all(connection, [(item, Area(area)) for item, area in items])

    def get(self, routing_key: bytes) -> Block | None:
        """The block stored under ``routing_key``, or None. A hit marks it recently used."""
        salt = self._salt
        row_key = row_id(salt, _checked(routing_key))
        with self._lock:
            row = self._probe(self._open(), row_key)
            if row is None:
                self._misses += 1
                return None
            # _count_hits for one row, inlined: this is the hottest path.
            self._hits += 1
            self._seq += 1
            self._touched[row[0]] = self._seq
            if len(self._touched) >= TOUCH_FLUSH_THRESHOLD:
                self._flush_marks()
            if row[2] is not None:  # opened in place under the lock, see _open_slot
                opened = self._open_slot(row[2], row_key, routing_key)
        if row[2] is None:
            opened = _unseal_or_why(salt, row_key, routing_key, row[1])
        if isinstance(opened, str):
            self._forget_hits({row[0]: opened})
            return None
        return opened

    def get_many(self, routing_keys: Sequence[bytes]) -> list[Block | None]:
        """The block stored under each routing key, or None: one lock hold for all the probes.

        Each hit marks its block recently used, as :meth:`get` does.
        """
        salt = self._salt
        row_keys = [row_id(salt, _checked(key)) for key in routing_keys]
        with self._lock:
            connection = self._open()
            rows = [self._probe(connection, key) for key in row_keys]
            found = [row[0] for row in rows if row is not None]
            self._misses += len(rows) - len(found)
            self._count_hits(found)
            in_slots = {
                index: self._open_slot(row[2], row_keys[index], routing_keys[index])
                for index, row in enumerate(rows)
                if row is not None and row[2] is not None
            }
        blocks: list[Block | None] = []
        damaged: dict[int, str] = {}  # row number -> why (a key asked twice is one row)
        for index, (routing_key, row_key, row) in enumerate(
            zip(routing_keys, row_keys, rows, strict=True)
        ):
            block = None
            if row is not None:
                opened = in_slots.get(index)
                if opened is None:
                    opened = _unseal_or_why(salt, row_key, routing_key, row[1])
                if isinstance(opened, str):
                    damaged[row[0]] = opened
                else:
                    block = opened
            blocks.append(block)
        if damaged:
            # A key asked twice counted two hits on its row: take back as many.
            self._forget_hits(damaged, sum(row is not None and row[0] in damaged for row in rows))
        return blocks

    def might_contain(self, routing_key: bytes) -> bool:
        """False if no block is stored under ``routing_key``: never waits, never reads the file.

        Answered from the presence index (one keyed hash and one dict probe, a
        microsecond or two), which holds exactly the row ids of the rows
        committed or being committed, so True means "probably: :meth:`get` it"
        (the row may be removed before the get) and False means "not here", as
        of the last commit. A False counts as a miss in :meth:`stats`, since the
        caller skips the get it would have made: the count is exact when one
        thread makes these calls (the node's event loop), as it takes no lock.
        """
        if row_id(self._salt, _checked(routing_key)) in self._present:
            return True
        self._index_misses += 1
        return False

    def get_nowait(self, routing_key: bytes) -> Block | None:
        """What :meth:`get` answers, if that needs neither the disk nor a wait for a commit.

        For the event loop, where a read must never wait: a key the presence
        index does not hold is a miss at once (as with :meth:`might_contain`);
        a held one is answered only if the lock is free now and the block's
        record is in a slot whose bytes are in the page cache (read with
        ``RWF_NOWAIT``: no disk read), without SQLite. A hit counts and marks
        the block used as :meth:`get` does.

        Raises:
            WouldBlock: answering needs a wait (the lock is held, the record is
                not in memory or is inline in the database, LRU marks are due
                to be written, or it failed to open): use :meth:`get`, which
                also drops a damaged record.
        """
        row_key = row_id(self._salt, _checked(routing_key))
        if row_key not in self._present:
            self._index_misses += 1
            return None
        if not self._lock.acquire(blocking=False):
            raise WouldBlock("a commit holds the datastore")
        try:
            entry = self._present.get(row_key)
            if entry is None:  # removed since the probe above
                self._misses += 1
                return None
            slot = (entry & ENTRY_NO_SLOT) - 1
            if slot < 0 or len(self._touched) + 1 >= TOUCH_FLUSH_THRESHOLD:
                raise WouldBlock("the record is in the database, or marks are due")
            record = self._slots.read_nowait(slot)
            if record is None:
                raise WouldBlock("the record is not in memory")
            opened = _unseal_or_why(self._salt, row_key, routing_key, record)
            if isinstance(opened, str):
                raise WouldBlock("the record failed to open")  # get drops it
            self._hits += 1
            self._seq += 1
            self._touched[entry >> ENTRY_SLOT_BITS] = self._seq
            return opened
        finally:
            self._lock.release()

    def contains(self, routing_key: bytes) -> bool:
        """Whether a block is stored under ``routing_key`` (no hit/miss counted, no LRU mark)."""
        row_key = row_id(self._salt, _checked(routing_key))
        with self._lock, self._database_errors():
            row = (
                self._open().execute("SELECT 1 FROM blocks WHERE row_id = ?", (row_key,)).fetchone()
            )
        return row is not None

    def delete(self, routing_key: bytes) -> bool:
        """Remove the block stored under ``routing_key``; False if there was none."""
        row_key = row_id(self._salt, _checked(routing_key))
        with self._lock, self._write() as connection:
            row = connection.execute(
                "SELECT id FROM blocks WHERE row_id = ?", (row_key,)
            ).fetchone()
            if row is None:
                return False
            self._remove(connection, row[0])
            return True

    def set_location(self, location: float) -> None:
        """Move this node's location; the store area keeps the blocks nearest to it.

        Takes no lock (one attribute store is atomic), so it never waits on a commit.
        """
        self._location = normalize(location)

    def stats(self) -> StoreStats:
        """Blocks and bytes per area, and hit/miss/eviction counters since open."""
        with self._lock:
            return StoreStats(
                store=self._area_stats(Area.STORE),
                cache=self._area_stats(Area.CACHE),
                hits=self._hits,
                misses=self._misses + self._index_misses,
                evictions=self._evictions,
                collisions=self._collisions,
                dropped=self._dropped,
            )

    def close(self) -> None:
        """Write pending LRU marks and close the file (which checkpoints the WAL). Idempotent."""
        with self._lock:
            if self._connection is None:
                return
            try:
                if self._touched:
                    with self._write(durable=False):
                        pass
                # Unused slots at the end go; with NORMAL, the records reach the
                # disk before the close checkpoints the rows naming them.
                self._truncate_slots()
                self._slots.sync()
            finally:
                self._slots.close()
                self._connection.close()
                self._connection = None
                self._present = {}

    @property
    def path(self) -> Path:
        return self._path

    @property
    def location(self) -> float:
        return self._location

    def __enter__(self) -> "BlockStore":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _enforce_limits(self) -> None:
        """Evict down to the configured limits (they may have shrunk since the last run)."""
        if all(self._usage[area].bytes <= self._config.limit(area) for area in Area):
            return
        with self._lock, self._write() as connection:
            for area in Area:
                self._evict(connection, area, None)

    # -- the get path ---------------------------------------------------------
    #
    # A get holds the lock once: the probe, and (optimistically, before the
    # record is opened outside the lock) the hit count and the last-use mark.
    # A record that fails to open is rare: ``_forget_hits`` then counts a miss
    # instead and drops the row, which also discards its mark.

    def _probe(
        self, connection: sqlite3.Connection, row_key: bytes
    ) -> tuple[int, bytes, int | None] | None:
        """The row number, inline record (empty for a slot row) and slot held under ``row_key``."""
        try:
            row: tuple[int, bytes, int | None] | None = connection.execute(
                _SELECT_RECORD, (row_key,)
            ).fetchone()
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        return row

    def _open_slot(self, slot: int, row_key: bytes, routing_key: bytes) -> Block | str:
        """The block in ``slot``, unsealed in place through the slot file's map (the caller
        holds the lock: a slot is rewritten only after its row's deletion commits, and no
        commit comes between), or why it is damaged."""
        salt = self._salt
        try:
            return self._slots.open_record(
                slot, lambda record: _unseal_or_why(salt, row_key, routing_key, record)
            )
        except OSError as exc:
            raise self._translate_os(exc) from exc

    def _count_hits(self, row_numbers: Sequence[int]) -> None:
        """Count hits on these rows and mark them used (the caller holds the lock)."""
        self._hits += len(row_numbers)
        for row_number in row_numbers:
            self._touch(row_number)
        if len(self._touched) >= TOUCH_FLUSH_THRESHOLD:
            self._flush_marks()

    def _flush_marks(self) -> None:
        """Write the pending last-use marks in a transaction of their own (no fsync)."""
        with self._write(durable=False):
            pass

    def _forget_hits(self, damaged: dict[int, str], hits: int | None = None) -> None:
        """Turn the hits on damaged rows into misses, and drop the rows."""
        hits = len(damaged) if hits is None else hits
        with self._lock:
            self._hits -= hits
            self._misses += hits
            with self._write() as connection:
                for row_number, why in damaged.items():
                    self._drop_damaged(connection, row_number, why)

    # -- helpers ---------------------------------------------------------------

    def _verify_and_seal(self, index: int, block: Block, nonce: bytes) -> Prepared:
        try:
            verify_block(block)
        except InvalidBlock as exc:
            which = "the block" if index == 0 else f"block {index} of the batch"
            raise RejectedBlock(f"refused to store {which}: {exc}") from exc
        return self._seal(block, nonce)

    def _seal(self, block: Block, nonce: bytes) -> Prepared:
        row_key = row_id(self._salt, _checked(block.routing_key))
        record = seal(self._salt, row_key, block, nonce)
        return Prepared(block=block, row_id=row_key, record=record)

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction (the caller holds the lock); it also flushes LRU marks.

        On any failure the transaction rolls back and the in-memory sizes and
        presence index are restored.
        ``durable=False`` is for transactions that only write LRU marks: they
        commit without an fsync (``synchronous=NORMAL``, still atomic), since
        losing them only ages LRU a little; the next durable commit's fsync of
        the WAL covers them anyway.
        """
        connection = self._open()
        saved = [(usage.blocks, usage.bytes) for usage in self._usage.values()]
        relax = not durable and self._config.synchronous is not Synchronous.NORMAL
        slots = self._slots
        try:
            if relax:
                connection.execute("PRAGMA synchronous = NORMAL")
            try:
                self._undo.clear()
                connection.execute("BEGIN IMMEDIATE")
                try:
                    self._write_marks(connection)
                    yield connection
                    # Every record this transaction put in a slot is written
                    # (and with FULL, on disk) before the rows naming them commit.
                    slots.flush(sync=self._config.synchronous is Synchronous.FULL)
                    connection.execute("COMMIT")
                except BaseException:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    for usage, (blocks, size) in zip(self._usage.values(), saved, strict=True):
                        usage.blocks, usage.bytes = blocks, size
                    self._undo_index()
                    slots.rollback()
                    raise
                self._undo.clear()
                slots.commit()  # the slots its deletions released are free only now
            finally:
                if relax:
                    connection.execute(f"PRAGMA synchronous = {self._config.synchronous.value}")
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        except OSError as exc:
            raise self._translate_os(exc) from exc

    @contextmanager
    def _database_errors(self) -> Iterator[None]:
        """Turn SQLite failures during use into our errors, naming the file and what to do."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: sqlite3.Error) -> DatabaseError:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            return DatabaseCorrupt(
                f"the datastore {self._path} is damaged ({exc}); stop the node and move "
                "the file aside: a fresh datastore is created in its place"
            )
        if code == sqlite3.SQLITE_FULL:
            return DatabaseError(
                f"the disk holding {self._path} is full: free space or lower --store-size"
            )
        return DatabaseError(f"the datastore {self._path} failed: {exc}")

    def _translate_os(self, exc: OSError) -> DatabaseError:
        if exc.errno == errno.ENOSPC:
            return DatabaseError(
                f"the disk holding {self._slots.path} is full: free space or lower --store-size"
            )
        return DatabaseError(
            f"the slot file {self._slots.path} failed ({exc}); check the disk, or stop the "
            f"node and move {self._path} and {self._slots.path} aside: a fresh datastore "
            "is created in their place"
        )

    def _drop_rows_without_their_slot(self, invalid: int) -> None:
        """Drop the rows whose slot the file does not hold whole (it was cut short), or
        whose slot is no slot number (``invalid`` of them: a damaged or tampered row),
        and truncate the unused slots at the file's end. At open, before any other write."""
        whole = self._slots.whole_slots()
        if self._slots.end > whole or invalid:
            with self._lock, self._write() as connection:
                rows = connection.execute(_ROWS_WITHOUT_THEIR_SLOT, (whole,)).fetchall()
                log.warning(
                    "the slot file %s does not hold the slots of %d datastore rows (it ends "
                    "before them, or they name no slot): dropping them as damaged",
                    self._slots.path,
                    len(rows),
                )
                for (row_number,) in rows:
                    self._remove(connection, row_number)
                self._dropped += len(rows)
        self._truncate_slots()

    def _truncate_slots(self) -> None:
        """Cut the slot file after the last slot a row names (outside a transaction)."""
        connection = self._open()
        with self._database_errors():
            (last,) = connection.execute(
                "SELECT max(slot) FROM blocks WHERE slot IS NOT NULL"
            ).fetchone()
        try:
            self._slots.truncate(0 if last is None else last + 1)
        except OSError as exc:
            raise self._translate_os(exc) from exc

    def _undo_index(self) -> None:
        """Take back the presence index changes of a transaction that rolled back."""
        present = self._present
        for row_key, before in reversed(self._undo):
            if before is None:
                present.pop(row_key, None)
            else:
                present[row_key] = before
        self._undo.clear()

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            raise StoreClosed("the datastore has been closed; open it again to use it")
        return self._connection

    def _area_stats(self, area: Area) -> AreaStats:
        usage = self._usage[area]
        return AreaStats(blocks=usage.blocks, bytes=usage.bytes, limit=self._config.limit(area))

    def _load_usage(self) -> None:
        connection = self._open()
        with self._database_errors():
            self._present = {
                bytes(key): index_entry(number, slot)
                for key, number, slot in connection.execute("SELECT row_id, id, slot FROM blocks")
            }
            for area, blocks, size, seq in connection.execute(
                "SELECT area, count(*), total(size), max(seq) FROM placement GROUP BY area"
            ):
                if area in Area._value2member_map_:
                    self._usage[Area(area)] = AreaUsage(blocks, int(size))
                    self._seq = max(self._seq, seq or 0)


def _open_slots(
    connection: sqlite3.Connection, path: Path, config: StoreConfig
) -> tuple[SlotFile, int]:
    """Open the slot file next to the datastore at ``path``, knowing which slots rows name;
    also how many rows name something that is no slot number (they are dropped next)."""
    where = slot_path(path)
    if where == path:
        raise DatabaseError(f"{path}: a datastore's file name may not end in .slots")
    try:
        named = [slot for (slot,) in connection.execute(_USED_SLOTS)]
    except sqlite3.Error as exc:
        raise DatabaseCorrupt(
            f"the datastore {path} is damaged ({exc}); move it aside: a fresh "
            "datastore is created in its place"
        ) from exc
    used = [slot for slot in named if isinstance(slot, int) and slot >= 0]  # ascending
    try:
        slots = SlotFile.open(where, used, durable=config.synchronous is Synchronous.FULL)
    except FileNotFoundError as exc:
        raise DatabaseCorrupt(
            f"the slot file {where} is missing, but the datastore {path} keeps {len(used)} "
            f"blocks in it: put it back, or move {path} aside too: a fresh datastore is "
            "created in its place"
        ) from exc
    except OSError as exc:
        raise DatabaseError(
            f"cannot open the slot file {where}: {exc}; check the path and permissions"
        ) from exc
    return slots, len(named) - len(used)


def _load_salt(connection: sqlite3.Connection, path: Path) -> bytes:
    row = connection.execute("SELECT value FROM meta WHERE name = 'salt'").fetchone()
    if row is None or not isinstance(row[0], bytes) or len(row[0]) != SALT_SIZE:
        raise DatabaseCorrupt(
            f"the datastore {path} has lost its salt, so none of its blocks can be found; "
            "move the file aside: a fresh datastore is created in its place"
        )
    return bytes(row[0])


def _unseal_or_why(
    salt: bytes, row_key: bytes, routing_key: bytes, record: bytes | memoryview
) -> Block | str:
    """The block ``record`` holds, or why it is damaged (no exception outlives the call,
    so none keeps a view of the slot file alive)."""
    try:
        return unseal(salt, row_key, routing_key, record)
    except DamagedRecord as exc:
        return str(exc)


def _checked(routing_key: bytes) -> bytes:
    if len(routing_key) != ROUTING_KEY_SIZE:
        raise ValueError(f"a routing key is {ROUTING_KEY_SIZE} bytes, not {len(routing_key)}")
    return routing_key
