"""The datastore's behaviour through its synchronous API."""

import dataclasses
import logging
import sqlite3
from pathlib import Path

import pytest

from crypto.blocks import Block, KeyKind
from store import (
    Area,
    BlockStore,
    DatabaseError,
    PutOutcome,
    RejectedBlock,
    StoreClosed,
    StoreConfig,
    StoreInUse,
    Synchronous,
    eviction,
)
from store import block_store as block_store_module
from store import schema as schema_module
from store.errors import WouldBlock
from tests.store.conftest import CHK, SSK, chk_block, damage_record


def with_prefix(block_number: int, prefix: int) -> Block:
    """A CHK block whose routing key starts with the 16-bit ``prefix`` (searched for)."""
    n = block_number
    while True:
        block = chk_block(n)
        if block.routing_key[0] == prefix >> 8:
            return block
        n += 1000


def test_put_then_get_returns_the_same_blocks(
    store: BlockStore, chks: list[Block], ssk_pairs: list[tuple[Block, Block]]
) -> None:
    first, _ = ssk_pairs[0]
    assert store.put(chks[0], Area.STORE).outcome is PutOutcome.STORED
    assert store.put(first, Area.CACHE).outcome is PutOutcome.STORED
    assert store.get(chks[0].routing_key) == chks[0]
    assert store.get(first.routing_key) == first
    assert store.get(chks[1].routing_key) is None
    stats = store.stats()
    assert (stats.hits, stats.misses) == (2, 1)
    assert (stats.store.blocks, stats.store.bytes) == (1, CHK)
    assert (stats.cache.blocks, stats.cache.bytes) == (1, SSK)


def test_an_invalid_block_is_refused_and_nothing_is_written(
    store: BlockStore, chks: list[Block], ssk_pairs: list[tuple[Block, Block]]
) -> None:
    tampered = dataclasses.replace(chks[0], data=chks[0].data[:-1] + b"\x00")
    wrong_key = Block(KeyKind.CHK, chks[1].routing_key, chks[0].data)
    ssk = ssk_pairs[0][0]
    forged = dataclasses.replace(ssk, data=ssk.data[:-1] + bytes([ssk.data[-1] ^ 1]))
    for bad in (tampered, wrong_key, forged):
        with pytest.raises(RejectedBlock, match="refused to store"):
            store.put(bad, Area.STORE)
    with pytest.raises(RejectedBlock, match="block 1 of the batch"):
        store.put_many([chks[2], tampered], Area.CACHE)
    assert not store.contains(chks[2].routing_key)
    assert store.stats().store.blocks == store.stats().cache.blocks == 0


def test_a_different_ssk_under_a_held_key_is_a_collision_and_the_old_block_stays(
    store: BlockStore, ssk_pairs: list[tuple[Block, Block]]
) -> None:
    first, second = ssk_pairs[1]
    store.put(first, Area.STORE)
    result = store.put(second, Area.CACHE)
    assert result.collision and result.outcome is PutOutcome.COLLISION
    assert result.existing == first and result.area is Area.STORE
    assert store.get(first.routing_key) == first
    assert store.stats().collisions == 1
    again = store.put(first, Area.STORE)
    assert again.outcome is PutOutcome.DUPLICATE and again.existing is None


def test_a_cached_block_put_into_the_store_moves_there(
    store: BlockStore, chks: list[Block]
) -> None:
    store.put(chks[0], Area.CACHE)
    assert store.put(chks[0], Area.STORE).area is Area.STORE
    assert store.put(chks[0], Area.CACHE).outcome is PutOutcome.DUPLICATE
    stats = store.stats()
    assert (stats.store.blocks, stats.cache.blocks) == (1, 0)


def test_delete_and_contains(store: BlockStore, chks: list[Block]) -> None:
    store.put(chks[0], Area.CACHE)
    assert store.contains(chks[0].routing_key)
    assert store.delete(chks[0].routing_key)
    assert not store.contains(chks[0].routing_key)
    assert not store.delete(chks[0].routing_key)
    assert store.get(chks[0].routing_key) is None
    assert store.stats().cache.bytes == 0


def test_the_cache_evicts_least_recently_used_and_a_get_refreshes(
    store: BlockStore, chks: list[Block]
) -> None:
    for block in chks[:3]:
        store.put(block, Area.CACHE)
    assert store.get(chks[0].routing_key) is not None  # 1 is now the oldest
    result = store.put(chks[3], Area.CACHE)
    assert result.evicted == 1
    held = [store.contains(block.routing_key) for block in chks[:4]]
    assert held == [True, False, True, True]
    assert store.stats().evictions == 1


def test_the_store_evicts_farthest_from_our_location_first(
    db_path: Path, small_config: StoreConfig
) -> None:
    # Node at 0.25: its antipode is 0.75 (prefix 0xC000).
    near, middle, far, farther = (
        with_prefix(0, 0x4000),  # 0.25
        with_prefix(1, 0x8000),  # 0.5
        with_prefix(2, 0xB000),  # ~0.69
        with_prefix(3, 0xC000),  # ~0.75: the antipode's bucket
    )
    with BlockStore.open(db_path, small_config, location=0.25) as store:
        for block in (near, farther, middle):
            store.put(block, Area.STORE)
        store.put(far, Area.STORE)
        assert not store.contains(farther.routing_key)
        store.set_location(0.75)  # now "near" is the farthest
        store.put(farther, Area.STORE)
        assert not store.contains(near.routing_key)
        assert all(store.contains(b.routing_key) for b in (middle, far, farther))


def same_bucket_pair() -> tuple[Block, Block]:
    """Two CHK blocks whose routing keys share their first 16 bits (found by birthday search)."""
    seen: dict[bytes, Block] = {}
    n = 10_000
    while True:
        block = chk_block(n)
        prefix = block.routing_key[:2]
        if prefix in seen:
            return seen[prefix], block
        seen[prefix] = block
        n += 1


@pytest.mark.parametrize("refresh_older", [False, True])
def test_store_eviction_ties_go_least_recently_used_first(
    db_path: Path, small_config: StoreConfig, refresh_older: bool
) -> None:
    older, newer = same_bucket_pair()
    location = (older.location + 0.5) % 1.0  # the pair is as far from us as can be
    near1, near2 = with_prefix(1, int(location * 65536)), with_prefix(2, int(location * 65536))
    with BlockStore.open(db_path, small_config, location=location) as store:
        for block in (older, newer, near1):
            store.put(block, Area.STORE)
        if refresh_older:
            assert store.get(older.routing_key) == older
        store.put(near2, Area.STORE)
        evicted, kept = (newer, older) if refresh_older else (older, newer)
        assert not store.contains(evicted.routing_key)
        assert store.contains(kept.routing_key)


def test_blocks_and_sizes_survive_reopening(
    db_path: Path, small_config: StoreConfig, chks: list[Block]
) -> None:
    with BlockStore.open(db_path, small_config) as store:
        store.put_many(chks[:2], Area.STORE)
        store.put(chks[2], Area.CACHE)
    with BlockStore.open(db_path, small_config) as store:
        assert [store.get(b.routing_key) for b in chks[:3]] == chks[:3]
        stats = store.stats()
        assert (stats.store.bytes, stats.cache.bytes) == (2 * CHK, CHK)


def test_lowering_the_limits_evicts_at_open(db_path: Path, chks: list[Block]) -> None:
    with BlockStore.open(db_path, StoreConfig(size_bytes=20 * CHK)) as store:
        store.put_many(chks[:8], Area.CACHE)
    with BlockStore.open(db_path, StoreConfig(size_bytes=6 * CHK)) as store:
        stats = store.stats()
        assert stats.cache.blocks == 3 and stats.evictions == 5
        # LRU: the three newest stay
        assert [store.contains(b.routing_key) for b in chks[:8]] == [False] * 5 + [True] * 3


def test_damaged_records_are_dropped_with_a_warning(
    db_path: Path,
    small_config: StoreConfig,
    chks: list[Block],
    ssk_pairs: list[tuple[Block, Block]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocks = [chks[0], chks[1], ssk_pairs[0][0]]  # two records in slots, one inline
    with BlockStore.open(db_path, small_config) as store:
        store.put_many(blocks, Area.CACHE)
    damage_record(db_path, 1)  # in its slot
    with sqlite3.connect(db_path) as raw:
        raw.execute("UPDATE blocks SET record = CAST(record AS TEXT) WHERE id = 3")
    raw.close()
    with BlockStore.open(db_path, small_config) as store, caplog.at_level(logging.WARNING):
        # Row 3 was retyped to TEXT with its bytes intact: still readable, no decode crash.
        assert [store.get(b.routing_key) for b in blocks] == [None, blocks[1], blocks[2]]
        assert "dropping damaged datastore row 1" in caplog.text
        assert chks[0].routing_key.hex() not in caplog.text
        assert not store.contains(chks[0].routing_key)
        assert store.stats().dropped == 1


def test_a_closed_store_says_so(store: BlockStore, chks: list[Block]) -> None:
    store.close()
    store.close()
    with pytest.raises(StoreClosed, match="open it again"):
        store.get(chks[0].routing_key)
    with pytest.raises(StoreClosed):
        store.put(chks[0], Area.CACHE)


def test_a_second_open_of_the_same_file_is_refused(
    store: BlockStore, db_path: Path, small_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema_module, "BUSY_TIMEOUT_MS", 50)
    with pytest.raises(StoreInUse, match="another node"):
        BlockStore.open(db_path, small_config)


def test_routing_keys_of_the_wrong_length_are_refused(store: BlockStore) -> None:
    for call in (store.get, store.contains, store.delete):
        with pytest.raises(ValueError, match="32 bytes"):
            call(b"short")


def test_config_refuses_areas_too_small_for_a_block() -> None:
    with pytest.raises(ValueError, match="too small"):
        StoreConfig(size_bytes=CHK)
    with pytest.raises(ValueError, match="store_share"):
        StoreConfig(size_bytes=10 * CHK, store_share=1.0)


def test_get_many_answers_each_key_in_order_and_counts_hits_and_misses(
    store: BlockStore, chks: list[Block]
) -> None:
    store.put_many(chks[:2], Area.CACHE)
    keys = [chks[1].routing_key, chks[2].routing_key, chks[0].routing_key, chks[1].routing_key]
    assert store.get_many(keys) == [chks[1], None, chks[0], chks[1]]
    assert store.get_many([]) == []
    stats = store.stats()
    assert (stats.hits, stats.misses) == (3, 1)
    with pytest.raises(ValueError, match="32 bytes"):
        store.get_many([chks[0].routing_key, b"short"])


def test_might_contain_follows_puts_deletes_evictions_and_reopening(
    db_path: Path, small_config: StoreConfig, chks: list[Block]
) -> None:
    with BlockStore.open(db_path, small_config) as store:
        assert not any(store.might_contain(b.routing_key) for b in chks)
        store.put_many(chks, Area.CACHE)  # more than the cache holds: the oldest go
        held = [store.contains(b.routing_key) for b in chks]
        assert not all(held) and any(held)
        assert [store.might_contain(b.routing_key) for b in chks] == held
        kept = next(b for b, h in zip(chks, held, strict=True) if h)
        assert store.delete(kept.routing_key)
        assert not store.might_contain(kept.routing_key)
        held = [store.contains(b.routing_key) for b in chks]
        misses = store.stats().misses
        assert not store.might_contain(kept.routing_key)
        assert store.stats().misses == misses + 1  # the get it saves is counted as a miss
    with BlockStore.open(db_path, small_config) as store:  # rebuilt from the id column
        assert [store.might_contain(b.routing_key) for b in chks] == held
    with pytest.raises(ValueError, match="32 bytes"):
        store.might_contain(b"short")


NORMAL = StoreConfig(size_bytes=6 * CHK, synchronous=Synchronous.NORMAL)  # CHKs in slots


def test_get_nowait_answers_from_memory_or_says_it_would_block(
    db_path: Path, chks: list[Block], ssk_pairs: list[tuple[Block, Block]]
) -> None:
    ssk = ssk_pairs[0][0]
    store = BlockStore.open(db_path, NORMAL)
    store.put_many(chks[:2], Area.STORE)
    store.put(ssk, Area.CACHE)
    # A slot row whose record is in the page cache (just written): read without SQLite.
    assert store.get_nowait(chks[0].routing_key) == chks[0]
    assert store.get_nowait(chks[2].routing_key) is None  # not held: a miss at once
    assert (store.stats().hits, store.stats().misses) == (1, 1)
    with pytest.raises(WouldBlock):
        store.get_nowait(ssk.routing_key)  # an inline record: only SQLite has it
    with store._lock, pytest.raises(WouldBlock):  # a commit is running
        store.get_nowait(chks[1].routing_key)
    assert (store.stats().hits, store.stats().misses) == (1, 1)  # WouldBlock counts nothing
    assert store.get(ssk.routing_key) == ssk
    with pytest.raises(ValueError, match="32 bytes"):
        store.get_nowait(b"short")
    store.close()


def test_get_nowait_leaves_a_damaged_record_to_get(db_path: Path, chks: list[Block]) -> None:
    with BlockStore.open(db_path, NORMAL) as store:
        store.put(chks[0], Area.STORE)
    damage_record(db_path, 1)
    with BlockStore.open(db_path, NORMAL) as store:
        with pytest.raises(WouldBlock):
            store.get_nowait(chks[0].routing_key)
        assert store.stats().hits == 0
        assert store.get(chks[0].routing_key) is None  # get drops the row
        assert not store.might_contain(chks[0].routing_key)


@pytest.mark.parametrize("count", [1, 2], ids=["one by one", "batched"])
def test_a_rolled_back_write_leaves_the_presence_index_as_it_was(
    store: BlockStore, chks: list[Block], monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    """Both write paths (one block at a time, and new blocks in two statements) undo
    their presence index changes when the transaction fails after the rows went in."""
    store.put(chks[0], Area.CACHE)
    calls = 0
    bucket_of = eviction.bucket_of

    def failing_bucket_of(routing_key: bytes) -> int:
        nonlocal calls
        calls += 1
        if calls == count:  # every block of the put is in the index by now
            raise sqlite3.OperationalError("disk I/O error")
        return bucket_of(routing_key)

    monkeypatch.setattr(eviction, "bucket_of", failing_bucket_of)
    with pytest.raises(DatabaseError):
        store.put_many(chks[1 : 1 + count], Area.CACHE)
    monkeypatch.undo()
    assert store.might_contain(chks[0].routing_key)
    assert not any(store.might_contain(b.routing_key) for b in chks[1 : 1 + count])
    assert store.stats().cache.blocks == 1
    assert store.delete(chks[0].routing_key)
    assert not store.might_contain(chks[0].routing_key)


def test_a_damaged_record_asked_twice_in_one_get_many_is_two_misses_and_one_drop(
    db_path: Path, small_config: StoreConfig, chks: list[Block]
) -> None:
    with BlockStore.open(db_path, small_config) as store:
        store.put_many(chks[:2], Area.CACHE)
    damage_record(db_path, 1)
    with BlockStore.open(db_path, small_config) as store:
        keys = [chks[0].routing_key, chks[1].routing_key, chks[0].routing_key]
        assert store.get_many(keys) == [None, chks[1], None]
        stats = store.stats()
        assert (stats.hits, stats.misses, stats.dropped) == (1, 2, 1)
        assert store.get(chks[0].routing_key) is None
        assert (store.stats().hits, store.stats().misses) == (1, 3)
        assert not store.might_contain(chks[0].routing_key)


def test_a_damaged_record_on_a_single_get_is_a_miss(
    db_path: Path, small_config: StoreConfig, chks: list[Block]
) -> None:
    with BlockStore.open(db_path, small_config) as store:
        store.put_many(chks[:2], Area.CACHE)
    damage_record(db_path, 1)
    with BlockStore.open(db_path, small_config) as store:
        assert store.get(chks[0].routing_key) is None
        assert store.get(chks[1].routing_key) == chks[1]
        stats = store.stats()
        assert (stats.hits, stats.misses, stats.dropped, stats.cache.blocks) == (1, 1, 1, 1)


def test_marks_are_written_once_enough_gets_have_made_them(
    db_path: Path, chks: list[Block], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = StoreConfig(size_bytes=6 * CHK)
    with BlockStore.open(db_path, config) as store:
        store.put_many(chks[:3], Area.CACHE)
    with BlockStore.open(db_path, config) as store:
        monkeypatch.setattr(block_store_module, "TOUCH_FLUSH_THRESHOLD", 2)
        store.get(chks[0].routing_key)
        store.get_many([chks[1].routing_key])  # the second mark: both are written now
        # A crash now loses no mark: the file (not only memory) makes 2 the oldest.
        connection = store._connection
        assert connection is not None
        order = [row for (row,) in connection.execute("SELECT id FROM placement ORDER BY seq")]
        assert order == [3, 1, 2]


def test_the_store_reads_its_file_through_a_memory_map(store: BlockStore) -> None:
    connection = store._connection
    assert connection is not None
    (size,) = connection.execute("PRAGMA mmap_size").fetchone()
    assert size > 0


def test_a_put_under_a_key_the_presence_index_misses_is_still_a_duplicate(
    store: BlockStore, chks: list[Block], ssk_pairs: list[tuple[Block, Block]]
) -> None:
    """A put of a key not in the presence index inserts without a probe; if the row is
    there after all (the index is wrong), the put falls back to the probe, never fails."""
    first, second = ssk_pairs[0]
    store.put(chks[0], Area.CACHE)
    store.put(first, Area.CACHE)
    store._present.clear()  # simulate a wrong index: the rows are in the file
    assert store.put(chks[0], Area.STORE).area is Area.STORE  # moved, not inserted twice
    assert store.put(chks[0], Area.STORE).outcome is PutOutcome.DUPLICATE
    assert store.put(second, Area.CACHE).existing == first  # still a collision
    assert store.stats().store.blocks == 1
    assert store.stats().cache.blocks == 1
    assert store.get(chks[0].routing_key) == chks[0]
    assert store.might_contain(chks[0].routing_key)


def test_a_batch_with_a_key_the_presence_index_misses_writes_the_rest_and_moves_that_one(
    store: BlockStore, chks: list[Block]
) -> None:
    """The batched insert skips the held row (ON CONFLICT) and that block takes the
    path of a held key; the others are written in the batch, each row placed once."""
    store.put(chks[1], Area.CACHE)
    store._present.clear()  # simulate a wrong index: chks[1] is in the file
    results = store.put_many([chks[0], chks[1], chks[2]], Area.STORE)
    assert [r.outcome for r in results] == [PutOutcome.STORED] * 3
    assert [r.area for r in results] == [Area.STORE] * 3
    assert (store.stats().store.blocks, store.stats().cache.blocks) == (3, 0)
    assert all(store.might_contain(b.routing_key) for b in chks[:3])
    assert store.get_many([b.routing_key for b in chks[:3]]) == chks[:3]
    connection = store._connection
    assert connection is not None
    (orphans,) = connection.execute(
        "SELECT count(*) FROM blocks FULL JOIN placement USING (id)"
        " WHERE blocks.row_id IS NULL OR placement.area IS NULL"
    ).fetchone()
    assert orphans == 0


def test_eviction_walks_the_per_area_indexes(store: BlockStore) -> None:
    """Each eviction query must use its area's partial index (a scan would be O(n) a put)."""
    connection = store._connection
    assert connection is not None
    expected = {
        eviction._OLDEST: ("placement_lru", (1,)),
        eviction._UP_FROM: ("placement_far", (1, 1)),
        eviction._UP_WRAPPED: ("placement_far", (1, 1)),
        eviction._DOWN_FROM: ("placement_far", (1, 1)),
        eviction._DOWN_WRAPPED: ("placement_far", (1, 1)),
    }
    for query, (index, parameters) in expected.items():
        plan = " ".join(
            str(row[3]) for row in connection.execute(f"EXPLAIN QUERY PLAN {query}", parameters)
        )
        assert f"USING INDEX {index}" in plan, (query, plan)
