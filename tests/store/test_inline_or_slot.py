"""Where a CHK record goes: inline with FULL for small transactions, else the slot file.

With ``synchronous=FULL`` a transaction putting fewer than
``StoreConfig.inline_below`` full-size CHK records keeps them inline (one
fsync, the WAL's), a larger one puts them in slots (two fsyncs, less CPU a
block), and with NORMAL every one goes to a slot (``specs/store.md`` §The slot
file). Rows of both forms live side by side: evicted, deleted and reopened.
"""

import os
import random
from pathlib import Path

import anyio
import pytest

from crypto.blocks import Block
from store import Area, AsyncBlockStore, BlockStore, StoreConfig, Synchronous
from store.slots import SLOT_SIZE, slot_path
from store.values import INLINE_BELOW
from tests.store.conftest import CHK, chk_block, row_forms, ssk_blocks


def test_the_default_threshold_is_a_few_blocks() -> None:
    assert StoreConfig(size_bytes=10**7).inline_below == INLINE_BELOW == 4
    with pytest.raises(ValueError, match="inline_below"):
        StoreConfig(size_bytes=10**7, inline_below=-1)


def test_full_keeps_small_transactions_inline_and_larger_ones_in_slots(
    tmp_path: Path, chks: list[Block], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    fdatasync = os.fdatasync

    def counted(fd: int) -> None:
        calls.append(fd)
        fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", counted)
    path = tmp_path / "datastore.sqlite"
    ssk = ssk_blocks(0)[0]
    with BlockStore.open(path, StoreConfig(size_bytes=10**7)) as store:
        store.put(chks[0], Area.STORE)  # 1 CHK: inline, no fsync of the slot file
        store.put_many([*chks[1:4], ssk], Area.CACHE)  # 3 CHKs (and an SSK): inline
        assert calls == []
        store.put_many(chks[4:8], Area.STORE)  # 4 CHKs: slots, one fdatasync
        assert len(calls) == 1
        assert store.get_many([b.routing_key for b in chks[:8]]) == chks[:8]
    assert row_forms(path) == (5, 4)
    assert slot_path(path).stat().st_size == 4 * SLOT_SIZE
    with BlockStore.open(path, StoreConfig(size_bytes=10**7)) as store:
        assert store.get_many([b.routing_key for b in chks[:8]]) == chks[:8]
        assert store.get(ssk.routing_key) == ssk


def test_normal_always_uses_slots(db_path: Path, chks: list[Block]) -> None:
    config = StoreConfig(size_bytes=10**7, synchronous=Synchronous.NORMAL, inline_below=100)
    with BlockStore.open(db_path, config) as store:
        store.put(chks[0], Area.STORE)
        store.put_many(chks[1:3], Area.CACHE)
    assert row_forms(db_path) == (0, 3)


def test_group_commits_choose_by_the_group(db_path: Path, chks: list[Block]) -> None:
    """A group of concurrent puts is one transaction: large groups use slots."""

    async def run() -> None:
        face = await AsyncBlockStore.open(db_path, StoreConfig(size_bytes=10**7))
        try:
            await face.put(chks[0], Area.CACHE)  # a lone put: inline
            await face.put_many(chks[1:6], Area.CACHE)  # one request of five: slots
        finally:
            await face.aclose()

    anyio.run(run)
    assert row_forms(db_path) == (1, 5)


@pytest.mark.parametrize("seed", range(3))
def test_inline_and_slot_rows_mix_under_eviction_deletes_and_reopens(
    db_path: Path, seed: int
) -> None:
    """A full cache where lone puts (inline) and batches (slots) evict each other."""
    rng = random.Random(seed)
    config = StoreConfig(size_bytes=10 * CHK, check_on_open=True)  # five CHKs an area
    pool = [chk_block(n) for n in range(40)]
    held: set[int] = set()
    seen = [0, 0]
    store = BlockStore.open(db_path, config)
    try:
        for _ in range(60):
            step = rng.random()
            if step < 0.4:
                n = rng.randrange(len(pool))
                store.put(pool[n], Area.CACHE)
            elif step < 0.7:
                picks = rng.sample(range(len(pool)), rng.randint(4, 7))
                store.put_many([pool[n] for n in picks], Area.CACHE)
            elif step < 0.8:
                store.delete(pool[rng.randrange(len(pool))].routing_key)
            else:
                store.close()
                inline, in_slots = row_forms(db_path)
                seen = [seen[0] + inline, seen[1] + in_slots]
                # Trailing free slots are cut at close: the file holds at most
                # an area's worth of slots and one batch.
                assert slot_path(db_path).stat().st_size <= (5 + 7) * SLOT_SIZE
                store = BlockStore.open(db_path, config)
            held = {n for n, block in enumerate(pool) if store.contains(block.routing_key)}
            assert store.stats().cache.blocks == len(held) <= 5
            for n in held:
                assert store.get(pool[n].routing_key) == pool[n]
        assert store.stats().dropped == 0
    finally:
        store.close()
    inline, in_slots = row_forms(db_path)
    assert seen[0] + inline and seen[1] + in_slots, "only one form of row was ever written"
