"""Datastore throughput next to bare SQLite on the same 32 KiB blobs, in the same run.

Prints puts/s (one commit per put, and batched), gets/s (random order) and get
latency percentiles for :class:`store.BlockStore` and for a plain
``CREATE TABLE raw (k BLOB PRIMARY KEY, v BLOB)`` with the same journal mode and
synchronous setting and SQLite's defaults otherwise, so the ratio is the cost of
what the store adds: verifying, sealing/unsealing, bookkeeping, less what its
own SQLite settings save (exclusive locking, reading through a memory map). So
that the second part shows, gets are also run on bare SQLite with the store's
``mmap_size`` (a second connection to the same table), printed on their own
line: that ratio is the store's overhead over SQLite tuned as it is. Then
concurrent single puts through :class:`store.AsyncBlockStore` (group commit)
next to bare SQLite committing each put. Last, the same puts on a bare file
(each block's data written with ``pwrite`` at the next 32 KiB offset, and with
FULL an ``fdatasync`` a commit), alone, after everything else: the floor the
store's slot file stands on, printed on its own line; not the baseline, and
not interleaved, so that the baseline's runs are as before. The sides
run interleaved in chunks, so both meet the same disk weather (a VM disk's
fsync time swings several-fold while earlier writes are flushed). Between the
puts and the gets both sides close and reopen their file, so that both start
the gets with the WAL checkpointed. Never pass/fail.

    .venv/bin/python -m bench.store_bench [--blocks 20000] [--synchronous FULL|NORMAL]
"""

import argparse
import dataclasses
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import anyio

from crypto.blocks import Block
from crypto.keys import insert_chk
from store import Area, AsyncBlockStore, BlockStore, StoreConfig, Synchronous
from store.block_store import MMAP_SIZE

BATCH = 100  # blocks per transaction in the batched runs: a typical splitfile segment
CHUNK = 500  # operations one side runs before the other side takes its turn
CONCURRENCY = 64  # async tasks putting at once: a busy node's requests in flight

Work = TypeVar("Work")


class Raw:
    """Bare SQLite doing what the store does, with nothing added."""

    def __init__(self, path: Path, sync: Synchronous) -> None:
        self.path, self.sync = path, sync
        self.db = self._connect()
        self.db.execute("CREATE TABLE raw (k BLOB PRIMARY KEY, v BLOB NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {self.sync.value}")
        return db

    def reopen(self) -> None:
        """Close (which checkpoints the WAL) and open again, as the store is between phases."""
        self.db.close()
        self.db = self._connect()

    def put(self, block: Block) -> None:
        self.put_many([block])

    def put_many(self, blocks: list[Block]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(
            "INSERT INTO raw VALUES (?, ?)", [(b.routing_key, b.data) for b in blocks]
        )
        self.db.execute("COMMIT")

    def get(self, key: bytes) -> bytes:
        return bytes(self.db.execute("SELECT v FROM raw WHERE k = ?", (key,)).fetchone()[0])


class RawFile:
    """Bare file writes: what the slot file costs with nothing else (no SQLite, no crypto)."""

    def __init__(self, path: Path, sync: Synchronous) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self.sync = sync is Synchronous.FULL
        self.offset = 0

    def put(self, block: Block) -> None:
        self.put_many([block])

    def put_many(self, blocks: list[Block]) -> None:
        for block in blocks:
            os.pwrite(self.fd, block.data, self.offset)
            self.offset += len(block.data)
        if self.sync:
            os.fdatasync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


class RawMapped:
    """Reads of a copy of :class:`Raw`'s file, with the store's ``mmap_size``.

    A copy, not a second connection to the same file: reading the same pages
    right after the baseline did could find them in the CPU's cache (this VM
    reports a 480 MiB L3), which would favour whichever of the two goes second.
    """

    def __init__(self, raw: Raw, path: Path) -> None:
        (_, _, name) = raw.db.execute("PRAGMA database_list").fetchone()
        for suffix in ("", "-wal"):  # no write is in progress: the pair is consistent
            source = Path(name + suffix)
            if source.exists():
                shutil.copyfile(source, path.with_name(path.name + suffix))
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute(f"PRAGMA mmap_size = {MMAP_SIZE}")

    def get(self, key: bytes) -> bytes:
        return bytes(self.db.execute("SELECT v FROM raw WHERE k = ?", (key,)).fetchone()[0])


def interleaved(
    work: Sequence[Work], sides: dict[str, Callable[[Work], object]]
) -> dict[str, list[float]]:
    """Run every side over ``work`` in alternating chunks; each side's per-item latencies.

    The order of the sides rotates from chunk to chunk: whichever side goes
    first in a chunk was measured slower (the same bare SQLite batched puts,
    5,826/s going first of three, 9,414/s going last), so a fixed order would
    favour the sides that follow.
    """
    latencies: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides.items())
    for number, start in enumerate(range(0, len(work), CHUNK)):
        shift = number % len(order)
        for name, call in order[shift:] + order[:shift]:
            for item in work[start : start + CHUNK]:
                t = time.perf_counter()
                call(item)
                latencies[name].append(time.perf_counter() - t)
    return latencies


async def concurrent_puts(
    store: BlockStore, raw: Raw, blocks: list[Block]
) -> tuple[float, float, float]:
    """Raw puts/s (commit each), async store puts/s with CONCURRENCY tasks, mean group size.

    Interleaved in chunks like the rest. Closes ``store`` (through the async face).
    """
    face = AsyncBlockStore(store)
    spent = {"raw": 0.0, "store": 0.0}
    for start in range(0, len(blocks), CHUNK):
        chunk = blocks[start : start + CHUNK]
        t = time.perf_counter()
        for block in chunk:
            raw.put(block)
        spent["raw"] += time.perf_counter() - t
        todo = iter(chunk)  # shared: each task takes the next block
        t = time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(CONCURRENCY):
                group.start_soon(_put_all, face, todo)
        spent["store"] += time.perf_counter() - t
    stats = face.writer_stats
    await face.aclose()
    return len(blocks) / spent["raw"], len(blocks) / spent["store"], stats.blocks / stats.commits


async def _put_all(face: AsyncBlockStore, todo: Iterator[Block]) -> None:
    for block in todo:
        await face.put(block, Area.CACHE)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--blocks", type=int, default=20_000)
    parser.add_argument("--synchronous", choices=[s.value for s in Synchronous], default="FULL")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: tmp)")
    args = parser.parse_args()
    sync = Synchronous(args.synchronous)
    print(f"making {args.blocks} CHK blocks of 32 KiB ...", flush=True)
    rng = random.Random(1)
    blocks = [insert_chk(rng.randbytes(32 * 1024))[0] for _ in range(args.blocks)]
    extra = [insert_chk(rng.randbytes(32 * 1024))[0] for _ in range(args.blocks // 4)]
    half = len(blocks) // 2
    batches = [blocks[i : i + BATCH] for i in range(half, len(blocks), BATCH)]
    keys = [b.routing_key for b in blocks]
    random.Random(2).shuffle(keys)
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        base = Path(directory)
        raw = Raw(base / "raw.sqlite", sync)
        config = StoreConfig(size_bytes=3 * len(blocks) * 33_000, synchronous=sync)
        store = BlockStore.open(base / "datastore.sqlite", config, location=0.5)
        singles = interleaved(
            blocks[:half], {"raw": raw.put, "store": lambda b: store.put(b, Area.STORE)}
        )
        batched = interleaved(
            batches, {"raw": raw.put_many, "store": lambda b: store.put_many(b, Area.CACHE)}
        )
        # Both sides start the gets with their WAL checkpointed (closing does it):
        # otherwise the store's first LRU-mark commit pays the checkpoint the puts
        # left due (copying up to ~1,000 pages and an fsync of the file), which
        # bare SQLite, never writing during the gets, is not charged. No
        # quick_check at this open: it would read every page through the store's
        # memory map, sparing its gets the page faults that bare SQLite's pay.
        store.close()
        reopened = dataclasses.replace(config, check_on_open=False)
        store = BlockStore.open(base / "datastore.sqlite", reopened, location=0.5)
        raw.reopen()
        mapped = RawMapped(raw, base / "raw-mmap.sqlite")
        gets = interleaved(keys, {"raw": raw.get, "store": store.get, "raw+mmap": mapped.get})
        mapped.db.close()
        (base / "raw-mmap.sqlite").unlink()
        assert store.stats().hits == len(keys), "the store lost blocks during the benchmark"
        concurrent = anyio.run(concurrent_puts, store, raw, extra)
        raw.db.close()
        flat = RawFile(base / "raw.file", sync)
        singles |= interleaved(blocks[:half], {"file": flat.put})
        batched |= interleaved(batches, {"file": flat.put_many})
        flat.close()
        sizes = {p.name: p.stat().st_size for p in base.iterdir()}
    rows: dict[str, dict[str, float]] = {}
    for side in ("raw", "store"):
        cuts = statistics.quantiles(gets[side], n=100)
        rows[side] = {
            "puts/s": half / sum(singles[side]),
            "batched puts/s": (len(blocks) - half) / sum(batched[side]),
            "gets/s": len(keys) / sum(gets[side]),
            "get p50 µs": cuts[49] * 1e6,
            "get p99 µs": cuts[98] * 1e6,
        }
    print(
        f"\n{args.blocks} blocks of 32 KiB, synchronous={sync.value}, WAL, "
        f"batches of {BATCH}, {os.cpu_count()} CPUs"
    )
    names = list(rows["raw"])
    print(f"{'':8}" + "".join(f"{n:>16}" for n in names))
    for side, row in rows.items():
        print(f"{side:8}" + "".join(f"{row[n]:16.1f}" for n in names))
    ratios = "  ".join(f"{n} {rows['store'][n] / rows['raw'][n]:.0%}" for n in names[:3])
    print(f"store / raw: {ratios}")
    print(
        f"bare file writes (pwrite{', fdatasync a commit' if sync is Synchronous.FULL else ''}): "
        f"puts/s {half / sum(singles['file']):.1f}, batched puts/s "
        f"{(len(blocks) - half) / sum(batched['file']):.1f}"
    )
    mapped_rate = len(keys) / sum(gets["raw+mmap"])
    mapped_cuts = statistics.quantiles(gets["raw+mmap"], n=100)
    print(
        f"gets on bare SQLite with the store's mmap_size: {mapped_rate:.1f}/s, p50 "
        f"{mapped_cuts[49] * 1e6:.1f} µs, p99 {mapped_cuts[98] * 1e6:.1f} µs; "
        f"store / raw+mmap: gets/s {rows['store']['gets/s'] / mapped_rate:.0%}"
    )
    raw_rate, store_rate, group = concurrent
    print(
        f"concurrent puts ({len(extra)} blocks, {CONCURRENCY} async tasks, group commit, "
        f"mean group {group:.1f} blocks): store {store_rate:.1f}/s vs raw commit-each "
        f"{raw_rate:.1f}/s ({store_rate / raw_rate:.0%}), vs raw batched "
        f"{rows['raw']['batched puts/s']:.1f}/s ({store_rate / rows['raw']['batched puts/s']:.0%})"
    )
    print("file sizes: " + ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in sizes.items()))


if __name__ == "__main__":
    main()
