"""The datastore against a dict model: puts, gets, deletes, evictions, reopens.

The model re-implements the eviction policy the simple way (sort everything,
drop the first), independently of the index walks :mod:`store.eviction` uses,
so any disagreement about which block goes is caught.
"""

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from crypto.blocks import Block, verify_block
from crypto.location import distance
from store import Area, BlockStore, PutOutcome, PutResult, StoreConfig, Synchronous
from store.errors import WouldBlock
from store.write_path import index_entry
from tests.store.conftest import CHK, chk_block, ssk_blocks

POOL_CHK = [chk_block(n) for n in range(10)]
POOL_SSK = [ssk_blocks(n) for n in range(4)]
POOL = POOL_CHK + [pair[0] for pair in POOL_SSK] + [pair[1] for pair in POOL_SSK]
KEYS = sorted({block.routing_key for block in POOL})
# Three CHK blocks per area (the SSKs fit in the slack): every few puts evict.
CONFIG = StoreConfig(size_bytes=6 * CHK + 2000, synchronous=Synchronous.NORMAL)
# With FULL, puts of one or two CHK blocks stay inline and larger batches use
# slots, so inline and slot rows mix, are evicted and reopened together.
MIXED_CONFIG = StoreConfig(size_bytes=6 * CHK + 2000, synchronous=Synchronous.FULL, inline_below=3)


@dataclass
class Held:
    block: Block
    area: Area
    seq: int


def bucket_distance(block: Block, location: float) -> float:
    return distance((int.from_bytes(block.routing_key[:2], "big") + 0.5) / 65536, location)


class DatastoreMachine(RuleBasedStateMachine):
    config = CONFIG  # NORMAL: every CHK record in a slot

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="samizdat-store-"))
        self.path = self.directory / "datastore.sqlite"
        self.location = 0.0
        self.store = BlockStore.open(self.path, self.config, location=self.location)
        self.model: dict[bytes, Held] = {}
        self.seq = 0
        self.evicted: set[bytes] = set()

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.directory)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def model_bytes(self, area: Area) -> int:
        return sum(len(h.block.data) for h in self.model.values() if h.area is area)

    def model_evict(self, area: Area, keep: bytes) -> int:
        count = 0
        while self.model_bytes(area) > self.config.limit(area):
            candidates = [k for k, h in self.model.items() if h.area is area and k != keep]
            if area is Area.CACHE:
                victim = min(candidates, key=lambda k: self.model[k].seq)
            else:
                victim = min(
                    candidates,
                    key=lambda k: (
                        -bucket_distance(self.model[k].block, self.location),
                        self.model[k].seq,
                    ),
                )
            del self.model[victim]
            self.evicted.add(victim)
            count += 1
        return count

    @rule(block=st.sampled_from(POOL), area=st.sampled_from(Area))
    def put(self, block: Block, area: Area) -> None:
        self.check_put(block, area, self.store.put(block, area))

    # Indexes into POOL: a list of blocks would make hypothesis print ~1 MB of repr.
    @rule(
        indexes=st.lists(st.integers(0, len(POOL) - 1), min_size=2, max_size=4),
        area=st.sampled_from(Area),
    )
    def put_many(self, indexes: list[int], area: Area) -> None:
        # New blocks that fit go in two statements, the rest one by one: the
        # results and the file must be those of the same puts made one at a time.
        blocks = [POOL[index] for index in indexes]
        results = self.store.put_many(blocks, area)
        assert len(results) == len(blocks)
        for block, result in zip(blocks, results, strict=True):
            self.check_put(block, area, result)

    def check_put(self, block: Block, area: Area, result: PutResult) -> None:
        held = self.model.get(block.routing_key)
        if held is None:
            self.model[block.routing_key] = Held(block, area, self.next_seq())
            self.evicted.discard(block.routing_key)
            assert result.outcome is PutOutcome.STORED and result.area is area
            assert result.evicted == self.model_evict(area, block.routing_key)
        elif held.block != block:
            assert result.outcome is PutOutcome.COLLISION
            assert result.existing == held.block and result.area is held.area
        else:
            held.seq = self.next_seq()
            if area is Area.STORE and held.area is Area.CACHE:
                held.area = Area.STORE
                assert result.outcome is PutOutcome.STORED and result.area is Area.STORE
                assert result.evicted == self.model_evict(Area.STORE, block.routing_key)
            else:
                assert result.outcome is PutOutcome.DUPLICATE and result.area is held.area

    def check_got(self, key: bytes, block: Block | None) -> None:
        """``block`` is what the model holds under ``key``, which was just read."""
        held = self.model.get(key)
        if held is None:
            assert block is None
        else:
            assert block == held.block
            verify_block(block)
            held.seq = self.next_seq()

    @rule(key=st.sampled_from(KEYS))
    def get(self, key: bytes) -> None:
        self.check_got(key, self.store.get(key))

    @rule(key=st.sampled_from(KEYS))
    def get_nowait(self, key: bytes) -> None:
        # The event loop's read: the same answer as get, or WouldBlock (an inline
        # record, or one not in the page cache), never a wrong one.
        try:
            block = self.store.get_nowait(key)
        except WouldBlock:
            return
        self.check_got(key, block)

    @rule(keys=st.lists(st.sampled_from(KEYS), max_size=5))
    def get_many(self, keys: list[bytes]) -> None:
        blocks = self.store.get_many(keys)
        assert len(blocks) == len(keys)
        for key, block in zip(keys, blocks, strict=True):
            held = self.model.get(key)
            if held is None:
                assert block is None
            else:
                assert block == held.block
                held.seq = self.next_seq()

    @rule(key=st.sampled_from(KEYS))
    def delete(self, key: bytes) -> None:
        assert self.store.delete(key) == (self.model.pop(key, None) is not None)

    @rule(location=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
    def move(self, location: float) -> None:
        self.location = location
        self.store.set_location(location)

    @precondition(lambda self: self.seq % 4 == 0)
    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = BlockStore.open(self.path, self.config, location=self.location)

    @invariant()
    def sizes_match_the_model_and_stay_within_limits(self) -> None:
        stats = self.store.stats()
        for area, area_stats in ((Area.STORE, stats.store), (Area.CACHE, stats.cache)):
            assert area_stats.bytes <= self.config.limit(area)
            assert area_stats.bytes == self.model_bytes(area)
            assert area_stats.blocks == sum(h.area is area for h in self.model.values())

    @invariant()
    def held_keys_are_exactly_the_models(self) -> None:
        for key in KEYS:
            assert self.store.contains(key) == (key in self.model)
        for key in self.evicted - self.model.keys():
            assert not self.store.contains(key)

    @invariant()
    def presence_index_is_exact(self) -> None:
        # might_contain is answered from memory alone: it must agree with the
        # file after every put, get, delete, eviction and reopen.
        for key in KEYS:
            assert self.store.might_contain(key) == (key in self.model)
        # ... and each entry names its row's number and slot (get_nowait reads by them).
        connection = self.store._connection
        assert connection is not None
        rows = connection.execute("SELECT row_id, id, slot FROM blocks")
        assert self.store._present == {bytes(k): index_entry(n, s) for k, n, s in rows}

    @invariant()
    def slots_are_named_once_and_the_rest_are_free(self) -> None:
        # Each committed row's slot is its own; every other slot below the end
        # is free, and the end stays within what the limits allow plus one batch.
        connection = self.store._connection
        assert connection is not None
        used = [slot for (slot,) in connection.execute("SELECT slot FROM blocks")]
        used = [slot for slot in used if slot is not None]
        slots = self.store._slots
        assert len(used) == len(set(used))
        assert sorted(set(used) | set(slots._free)) == list(range(slots.end))
        assert slots.free + len(used) == slots.end
        assert slots.end <= self.config.size_bytes // CHK + 4  # put_many takes at most 4 here


TestDatastoreMachine = DatastoreMachine.TestCase


class MixedRowsMachine(DatastoreMachine):
    """The same rules with FULL: inline rows (small transactions) beside slot rows."""

    config = MIXED_CONFIG


TestMixedRowsMachine = MixedRowsMachine.TestCase
