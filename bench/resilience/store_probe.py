"""Store deniability, measured: what an operator holding one node's datastore file learns.

The file keeps rows under ``row_id(salt, routing key)`` (a keyed hash) and seals
each block under a key derived from the full routing key, so the file names no
key and holds no readable block: ``tests/store/test_deniability.py`` searches a
datastore file for every key, its 64-bit location and windows of every block and
plaintext, and finds none. Without candidate keys the operator learns only how
many blocks there are and how big (the file's size).

Given candidate keys, the operator can ask the store itself. This module
measures that price with the real :class:`store.BlockStore`: open a copy of the
file (the salt is in it) and probe each candidate with ``contains`` (one keyed
hash and one index lookup) and with ``get`` (which also unseals a hit). A
candidate list is a routing key per entry; a CHK/SSK URI carries it, so turning
a URI into a probe costs nothing more.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any

from crypto.keys import insert_chk
from store import Area, BlockStore, StoreConfig, Synchronous

BLOCK_BYTES = 32 * 1024


def measure(
    stored: int, candidates: int = 10_000, hits: int = 1_000, seed: int = 1
) -> dict[str, Any]:
    """Fill a store with ``stored`` blocks; probe ``candidates`` keys, ``hits`` of them stored."""
    rng = random.Random(seed)
    hits = min(hits, stored, candidates)
    with tempfile.TemporaryDirectory(prefix="samizdat-probe-") as tmp:
        path = Path(tmp) / "datastore.sqlite"
        config = StoreConfig(
            size_bytes=2 * (stored + 16) * BLOCK_BYTES, synchronous=Synchronous.NORMAL
        )
        keys: list[bytes] = []
        with BlockStore.open(path, config) as store:
            for start in range(0, stored, 500):
                batch = [
                    insert_chk(rng.randbytes(1024))[0] for _ in range(min(500, stored - start))
                ]
                store.put_many(batch, Area.STORE)
                keys += [b.routing_key for b in batch]
        absent = [insert_chk(rng.randbytes(64))[0].routing_key for _ in range(candidates - hits)]
        probe = rng.sample(keys, hits) + absent
        rng.shuffle(probe)
        file_mib = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20

        t0 = time.perf_counter()
        store = BlockStore.open(path, config)  # the operator's copy: quick_check reads it all
        t1 = time.perf_counter()
        found = sum(store.contains(k) for k in probe)
        t2 = time.perf_counter()
        got = sum(store.get(k) is not None for k in probe)
        t3 = time.perf_counter()
        store.close()
    return {
        "stored_blocks": stored,
        "file_mib": round(file_mib, 1),
        "candidates": candidates,
        "candidates_stored": hits,
        "found_by_contains": found,
        "found_by_get": got,
        "open_seconds": round(t1 - t0, 3),
        "contains_us_per_probe": round((t2 - t1) / candidates * 1e6, 1),
        "get_us_per_probe": round((t3 - t2) / candidates * 1e6, 1),
        "all_candidates_seconds": round(t1 - t0 + t2 - t1, 3),
    }
