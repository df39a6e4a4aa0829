"""How the runtime reaches the datastore: misses, and hits whose record is in
memory, answered without a thread hop; other lookups queued together read in
one ``get_many`` on the lookup thread; the
stores the core asks for gathered (for either area) to share a commit and handed
to the store's writer in one ``put_soon`` per area.

One real ``NodeRuntime`` with no peers (a darknet node with no friends): every
request ends at it, so each fetch is exactly one local lookup. The stores a
relay makes are driven by hand, as the core's ``StoreBlock`` actions.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from pathlib import Path

import anyio
import pytest

from crypto.blocks import Block, KeyKind
from crypto.errors import InvalidBlock
from crypto.keys import insert_chk
from node.core import Area, Outcome, StoreBlock
from node.net.runtime import WRITE_BATCH_BLOCKS, FetchResult, NodeRuntime
from store import Area as StoreArea
from store import AsyncBlockStore, WouldBlock
from store.async_store import PutCallback
from tests.node.net.test_runtime import running, settings

pytestmark = pytest.mark.anyio


class Counting:
    """Wraps a runtime's store: how many get_many/put_soon calls, with how many keys.

    ``hold`` keeps put_soon calls back (not yet handed to the writer) until ``release``.
    """

    def __init__(self, store: AsyncBlockStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gets: list[int] = []
        self.puts: list[int] = []
        self.verified: list[bool] = []  # each put_soon's ``verified``
        self.held: list[tuple[list[Block], StoreArea, PutCallback, bool]] = []
        self.hold = False
        # The runtime reads on its lookup thread, through the synchronous store.
        get_many, self._put_soon = store.sync.get_many, store.put_soon

        def counted_get_many(keys: Sequence[bytes]) -> list[Block | None]:
            self.gets.append(len(keys))  # list.append is atomic: safe from that thread
            return get_many(keys)

        def counted_put_soon(
            blocks: Iterable[Block], area: StoreArea, done: PutCallback, *, verified: bool = False
        ) -> None:
            items = list(blocks)
            self.puts.append(len(items))
            self.verified.append(verified)
            self.held.append((items, area, done, verified))
            if not self.hold:
                self.release()

        monkeypatch.setattr(store.sync, "get_many", counted_get_many)
        monkeypatch.setattr(store, "put_soon", counted_put_soon)
        for name in ("get", "get_many", "put", "put_many"):  # batched, off-loop calls only
            monkeypatch.setattr(store, name, None)
        monkeypatch.setattr(store.sync, "get", None)

    def release(self) -> None:
        held, self.held = self.held, []
        for items, area, done, verified in held:
            self._put_soon(items, area, done, verified=verified)


def blocks(count: int, label: str) -> list[Block]:
    return [insert_chk(f"{label} {n}".encode())[0] for n in range(count)]


async def fetch_all(node: NodeRuntime, keys: list[bytes]) -> list[FetchResult]:
    results: list[FetchResult | None] = [None] * len(keys)

    async def one(index: int) -> None:
        results[index] = await node.fetch(KeyKind.CHK, keys[index])

    async with anyio.create_task_group() as tg:
        for index in range(len(keys)):
            tg.start_soon(one, index)
    return [r for r in results if r is not None]


async def test_misses_and_hits_in_memory_need_no_thread_the_rest_share_one_get_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held, absent = blocks(16, "held"), blocks(16, "absent")
    node = NodeRuntime(settings(tmp_path / "n", opennet=False), rng=random.Random(1))
    async with running(node):
        assert node.store is not None
        await node.store.put_many(held, StoreArea.STORE)
        counting = Counting(node.store, monkeypatch)
        stats = await node.store.stats()

        found = await fetch_all(node, [b.routing_key for b in absent])
        assert all(r.outcome is not Outcome.FOUND for r in found)
        assert counting.gets == []  # every miss answered from the presence index
        assert (await node.store.stats()).misses == stats.misses + len(absent)

        # Just written, so in the page cache: read on the event loop (get_nowait).
        found = await fetch_all(node, [b.routing_key for b in held])
        assert [r.block for r in found] == held
        assert counting.gets == []
        assert (await node.store.stats()).hits == stats.hits + len(held)

        # Records get_nowait cannot read without waiting go to the lookup thread.
        get_nowait = node.store.sync.get_nowait

        def would_block(key: bytes) -> Block | None:
            if get_nowait(key) is not None:
                raise WouldBlock("as if the record were not in memory")
            return None

        monkeypatch.setattr(node.store.sync, "get_nowait", would_block)
        found = await fetch_all(node, [b.routing_key for b in held])
        assert [r.block for r in found] == held
        assert sum(counting.gets) == len(held)
        assert len(counting.gets) < len(held)  # lookups of one loop turn go together


async def test_stores_are_batched_and_lookups_see_them_before_they_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inserted = blocks(16, "inserted")
    node = NodeRuntime(settings(tmp_path / "n", opennet=False), rng=random.Random(2))
    async with running(node):
        assert node.store is not None
        store = node.store
        counting = Counting(store, monkeypatch)
        counting.hold = True
        # What the core asks of a node keeping inserted blocks (fire and forget):
        # they wait for more to share their commit.
        node._apply([StoreBlock(block=block, area=Area.STORE) for block in inserted[:10]])
        assert counting.puts == []
        # A reader with more messages in hand defers its stores to the next _apply.
        node._apply(
            [StoreBlock(block=block, area=Area.STORE) for block in inserted[10:]], flush=False
        )
        node._apply([])
        assert counting.puts == []
        with anyio.fail_after(10):
            while not counting.puts:
                await anyio.sleep(0.01)
        assert counting.puts == [16]  # one batch for all of them
        # Not yet handed to the writer: lookups find them in _writing, not the store.
        assert not any(store.might_contain(b.routing_key) for b in inserted)
        found = await fetch_all(node, [b.routing_key for b in inserted])
        assert [r.block for r in found] == inserted
        assert counting.gets == []

        counting.release()
        with anyio.fail_after(10):
            while node._writing:
                await anyio.sleep(0.01)
        assert all(store.might_contain(b.routing_key) for b in inserted)
        assert store.sync.get_many([b.routing_key for b in inserted]) == inserted
        stats = await store.stats()
        assert stats.store.blocks == len(inserted)


async def test_writes_wait_to_share_a_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passing = blocks(WRITE_BATCH_BLOCKS + 3, "passing")
    kept = blocks(2, "kept")
    node = NodeRuntime(settings(tmp_path / "n", opennet=False), rng=random.Random(4))
    async with running(node):
        assert node.store is not None
        counting = Counting(node.store, monkeypatch)
        # What the core asks of a relay caching blocks on the way back: they wait
        # for more, and lookups find them meanwhile.
        # (and of a sink keeping inserted blocks, in between).
        for block in passing[:3]:
            node._apply([StoreBlock(block=block, area=Area.CACHE)])
        for block in kept:
            node._apply([StoreBlock(block=block, area=Area.STORE)])
        assert counting.puts == []
        found = await fetch_all(node, [b.routing_key for b in passing[:3] + kept])
        assert [r.block for r in found] == passing[:3] + kept
        # They go once the delay is over, all at once: one batch per area ...
        with anyio.fail_after(10):
            while node._writing:
                await anyio.sleep(0.01)
        assert sorted(counting.puts) == [2, 3]
        # ... or at once when a full batch has gathered.
        node._apply([StoreBlock(block=block, area=Area.CACHE) for block in passing[3:]])
        assert sorted(counting.puts) == [2, 3, WRITE_BATCH_BLOCKS]
        with anyio.fail_after(10):
            while node._writing:
                await anyio.sleep(0.01)
        stats = await node.store.stats()
        assert (stats.cache.blocks, stats.store.blocks) == (len(passing), len(kept))


async def test_a_rejected_batch_is_retried_block_by_block(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = blocks(3, "good")
    bad = Block(KeyKind.CHK, good[0].routing_key[::-1], good[1].data)  # fails verification
    node = NodeRuntime(settings(tmp_path / "n", opennet=False), rng=random.Random(3))
    async with running(node):
        assert node.store is not None
        node._apply([StoreBlock(block=b, area=Area.STORE) for b in (good[0], bad, *good[1:])])
        with anyio.fail_after(10):
            while node._writing:
                await anyio.sleep(0.01)
        assert await node.store.get_many([b.routing_key for b in good]) == good
        assert not node.store.might_contain(bad.routing_key)
        assert "datastore write failed" in caplog.text


async def test_only_blocks_the_core_just_verified_skip_the_stores_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_peer, local, earlier = blocks(2, "peer"), blocks(2, "local"), blocks(1, "earlier")
    bad = Block(KeyKind.CHK, local[0].routing_key[::-1], local[1].data)  # fails verification
    node = NodeRuntime(settings(tmp_path / "n", opennet=False), rng=random.Random(5))
    async with running(node):
        assert node.store is not None and node.core is not None
        counting = Counting(node.store, monkeypatch)
        # The core checks what a peer sends with the runtime's verify ...
        node.core.verify(earlier[0])
        node._apply([])  # ... which is forgotten once an action list has been carried out
        for block in from_peer:
            node.core.verify(block)
        with pytest.raises(InvalidBlock):
            node.core.verify(bad)  # never marked verified
        node._apply(
            [StoreBlock(block=b, area=Area.CACHE) for b in (*from_peer, *earlier, bad)]
            + [StoreBlock(block=b, area=Area.STORE) for b in local]  # a local insert's
        )
        assert not node._verified
        with anyio.fail_after(10):
            while node._writing:
                await anyio.sleep(0.01)
        # Verified by the core: the writer only seals them. The rest it verifies:
        # the cache batch holding the bad block is refused, then retried one by one.
        puts = sorted(zip(counting.verified, counting.puts, strict=True))
        assert puts == [(False, 1), (False, 1), (False, 2), (False, 2), (True, 2)]
        stored = node.store.sync.get_many([b.routing_key for b in (*from_peer, *earlier, *local)])
        assert stored == [*from_peer, *earlier, *local]
        assert not node.store.might_contain(bad.routing_key)
