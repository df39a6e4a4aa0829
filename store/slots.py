"""The slot file: full-size CHK records kept out of SQLite, one sealed record per fixed-size slot.

Theory of operation (``specs/store.md`` §The slot file is normative):

- The file (``datastore.slots`` next to ``datastore.sqlite``) is an array of
  :data:`SLOT_SIZE`-byte slots, no header, no padding: slot *n* is bytes
  ``n * SLOT_SIZE`` to ``(n + 1) * SLOT_SIZE``. A slot holds exactly one sealed
  CHK record (§Record layout), whose row in ``blocks`` names the slot; the
  record's associated data holds that row's id, so a record read from the
  wrong slot fails to open.
- Every slot is in one of four states, all kept in memory: **free** (in the
  min-heap, reused lowest first so the file stays compact), **in use** (a
  committed row names it), **taken** by the running transaction (allocated
  from the free slots, its record staged in memory), or **released** by the
  running transaction (a committed row named it and has just been deleted).
- Writes are staged and written by :meth:`SlotFile.flush` just before the
  transaction's ``COMMIT`` (one ``os.pwritev`` for each run of neighbouring
  slots, then ``fdatasync`` when commits must be durable): a committed row
  never names a slot whose record is not on disk.
- A released slot becomes free only in :meth:`SlotFile.commit`, after the
  deletion committed; :meth:`SlotFile.rollback` puts taken slots back and
  forgets releases. So no slot a committed row names is ever rewritten, and a
  ``kill -9`` at any instant leaves each committed row's own record in its slot.
  A slot taken and released inside one transaction was never named by a
  committed row: it is free again at once.

Not thread-safe: the :class:`~store.block_store.BlockStore` lock serialises every call.
"""

import heapq
import mmap
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from crypto.blocks import KeyKind, block_size
from store.records import RECORD_OVERHEAD

# One sealed CHK record in the suite written now (suite 3): 32,788 bytes of block
# data and 50 of header and tag. Slots are packed, not padded to 4 KiB pages:
# padding would waste 11 % of the file, and a write never changes bytes outside
# its range (SQLite's "powersafe overwrite", which SQLite's own WAL relies on too).
SLOT_SIZE = block_size(KeyKind.CHK) + RECORD_OVERHEAD
SUFFIX = ".slots"

T = TypeVar("T")


def _iov_max() -> int:
    try:
        return int(os.sysconf("SC_IOV_MAX"))
    except (AttributeError, ValueError, OSError):
        return 16  # POSIX's least IOV_MAX


# The most records one pwritev writes (the system's IOV_MAX; Linux's is 1,024).
_MAX_RUN = max(1, min(64, _iov_max()))
_pwritev = getattr(os, "pwritev", None)

# preadv's flag for "only what is in the page cache" (Linux 4.14 and later).
_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None) if hasattr(os, "preadv") else None


def slot_path(database: Path) -> Path:
    """Where the slot file of the datastore at ``database`` lives: same directory and stem."""
    return database.with_suffix(SUFFIX)


class SlotFile:
    """An open slot file and the in-memory state of its slots (see the module docstring)."""

    def __init__(self, path: Path, fd: int, used: list[int]) -> None:
        """Adopt an open descriptor; ``used`` holds the slot of every committed row, ascending."""
        self.path = path
        self._fd = fd
        self._end = 0  # slots below this exist (or are taken); the rest of the file is unused
        self._free: list[int] = []  # a heap
        self._taken: set[int] = set()
        self._released: list[int] = []
        self._staged: dict[int, bytes] = {}
        # A read-only map of the file, remapped when a read reaches past its end.
        # A map is never closed while in use: views of it hold it alive.
        self._map: mmap.mmap | None = None
        self._read_buffer = bytearray(SLOT_SIZE)  # read_nowait's
        self.reset(used)

    @classmethod
    def open(cls, path: Path, used: list[int], *, durable: bool) -> "SlotFile":
        """Open (creating if absent) the slot file at ``path``.

        Args:
            used: the slot of every committed row, ascending.
            durable: fsync the directory after creating the file, so that the
                file itself survives a power loss (``synchronous=FULL``).

        Raises:
            FileNotFoundError: the file is missing although ``used`` names slots.
            OSError: the file cannot be opened or created.
        """
        flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0)
        if used and not path.exists():
            raise FileNotFoundError(path)
        created = not path.exists()
        fd = os.open(path, flags | os.O_CREAT, 0o600)
        try:
            if created and durable:
                directory = os.open(path.parent, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
            return cls(path, fd, used)
        except BaseException:
            os.close(fd)
            raise

    # -- state -----------------------------------------------------------------

    def reset(self, used: list[int]) -> None:
        """Rebuild the free slots from the slots committed rows name (ascending); no transaction."""
        self._end = used[-1] + 1 if used else 0
        in_use = set(used)
        self._free = [slot for slot in range(self._end) if slot not in in_use]  # sorted: a heap
        self._taken.clear()
        self._released.clear()
        self._staged.clear()

    def whole_slots(self) -> int:
        """How many complete slots the file holds now (a slot beyond them cannot be read whole)."""
        return os.fstat(self._fd).st_size // SLOT_SIZE

    @property
    def end(self) -> int:
        """One past the highest slot in use or taken (the file's size in slots once truncated)."""
        return self._end

    @property
    def free(self) -> int:
        """Free slots below :attr:`end` (holes the next puts fill first)."""
        return len(self._free)

    # -- inside a transaction ------------------------------------------------------

    def take(self, record: bytes) -> int:
        """Reserve the lowest free slot for ``record`` (written at :meth:`flush`); its number."""
        if len(record) != SLOT_SIZE:
            raise ValueError(f"a slot holds a {SLOT_SIZE}-byte record, not {len(record)} bytes")
        if self._free:
            slot = heapq.heappop(self._free)
        else:
            slot = self._end
            self._end += 1
        self._taken.add(slot)
        self._staged[slot] = record
        return slot

    def release(self, slot: int) -> None:
        """The row naming ``slot`` is being deleted: free it once the deletion commits."""
        if slot in self._taken:  # never named by a committed row: free at once
            self._taken.remove(slot)
            del self._staged[slot]
            heapq.heappush(self._free, slot)
        else:
            self._released.append(slot)

    def flush(self, *, sync: bool) -> None:
        """Write the staged records (call just before ``COMMIT``); with ``sync``, fdatasync them.

        Raises:
            OSError: a write failed (the transaction must roll back).
        """
        staged = self._staged
        if not staged:
            return
        # Records of neighbouring slots go out in one pwritev: new slots are
        # taken lowest first, so a batch of puts is mostly one run.
        slots = sorted(staged)
        start = 0
        for end in range(1, len(slots) + 1):
            if end == len(slots) or slots[end] != slots[end - 1] + 1 or end - start == _MAX_RUN:
                self._write_run(slots[start], [staged[slot] for slot in slots[start:end]])
                start = end
        if sync:
            os.fdatasync(self._fd)

    def commit(self) -> None:
        """The transaction committed: its taken slots are in use, its released slots free."""
        for slot in self._released:
            heapq.heappush(self._free, slot)
        self._released.clear()
        self._taken.clear()
        self._staged.clear()

    def rollback(self) -> None:
        """The transaction rolled back: its taken slots are free again, its releases void.

        A taken slot may already hold the record staged for it (the rollback
        came after :meth:`flush`): no committed row names it, so that is harmless.
        """
        for slot in self._taken:
            heapq.heappush(self._free, slot)
        self._taken.clear()
        self._released.clear()
        self._staged.clear()

    # -- outside a transaction -----------------------------------------------------

    def read(self, slot: int) -> bytes:
        """The record in ``slot`` (shorter than a slot if the file ends inside it).

        Raises:
            OSError: the read failed.
        """
        staged = self._staged.get(slot)
        if staged is not None:  # taken by the running transaction, not yet written
            return staged
        return os.pread(self._fd, SLOT_SIZE, slot * SLOT_SIZE)

    def read_nowait(self, slot: int) -> memoryview | None:
        """The record in ``slot`` if its bytes are all in the page cache, else None.

        A read with ``RWF_NOWAIT`` (Linux): it copies what is cached and never
        waits for the disk. None also where that flag is not supported, if
        the file ends inside the slot, or if the read fails: the caller then
        reads the slot the ordinary way, off the event loop.

        The view is of one buffer that every call reads into (no fresh 32 KiB
        to allocate and clear, and one that stays in the CPU's cache): it is
        valid until the next call, and the caller, who holds the store's lock
        as for every call here, must be done with it by then.
        """
        if _NOWAIT is None or slot in self._staged:
            return None
        buffer = self._read_buffer
        try:
            got = os.preadv(self._fd, [buffer], slot * SLOT_SIZE, _NOWAIT)
        except OSError:  # EAGAIN: not cached; EOPNOTSUPP: not on this file system
            return None
        return memoryview(buffer) if got == SLOT_SIZE else None

    def open_record(self, slot: int, opener: Callable[[bytes | memoryview], T]) -> T:
        """``opener`` applied to the record in ``slot``, read in place through the map.

        No copy of the record is made: the view is valid only during the call
        (the caller holds the store's lock, so no commit can free and rewrite
        the slot meanwhile), and ``opener`` must not keep it.

        Raises:
            OSError: mapping the file failed.
        """
        staged = self._staged.get(slot)
        if staged is not None:
            return opener(staged)
        start, end = slot * SLOT_SIZE, (slot + 1) * SLOT_SIZE
        mapped = self._map
        if mapped is None or len(mapped) < end:
            size = os.fstat(self._fd).st_size
            if size < end:  # the file ends inside the slot: what there is, damaged
                return opener(os.pread(self._fd, SLOT_SIZE, start))
            mapped = self._map = mmap.mmap(self._fd, size, prot=mmap.PROT_READ)
        return opener(memoryview(mapped)[start:end])

    def truncate(self, end: int) -> None:
        """Drop the slots from ``end`` on: no committed row may name one (outside a transaction)."""
        if end < self._end:
            self._free = [slot for slot in self._free if slot < end]
            heapq.heapify(self._free)
            self._end = end
        if os.fstat(self._fd).st_size > end * SLOT_SIZE:
            self._map = None  # no read may reach past the new end through an old map
            os.ftruncate(self._fd, end * SLOT_SIZE)

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        self._map = None  # unmapped once no view of it is left
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _write_run(self, first: int, records: list[bytes]) -> None:
        """Write ``records`` into the slots from ``first`` on, one after the other."""
        offset = first * SLOT_SIZE
        if len(records) == 1 or _pwritev is None:
            for record in records:
                self._write_at(record, offset)
                offset += SLOT_SIZE
            return
        written = _pwritev(self._fd, records, offset)
        if written < len(records) * SLOT_SIZE:  # a short write: the rest the plain way
            self._write_at(b"".join(records)[written:], offset + written)

    def _write_at(self, data: bytes, offset: int) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, offset)
            if written <= 0:
                raise OSError(f"short write to {self.path}")
            view, offset = view[written:], offset + written
