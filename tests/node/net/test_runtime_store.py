"""How the runtime reaches the datastore: misses answered without a thread hop,
lookups of one loop turn in one ``get_many``, stores of one turn in one ``put_many``.

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
from crypto.keys import insert_chk
from node.core import Area, Outcome, StoreBlock
from node.net.runtime import FetchResult, NodeRuntime
from store import Area as StoreArea
from store import AsyncBlockStore, PutResult
from tests.node.net.test_runtime import running, settings

pytestmark = pytest.mark.anyio


class Counting:
    """Wraps a runtime's store: how many get_many/put_many calls, with how many keys."""

    def __init__(self, store: AsyncBlockStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gets: list[int] = []
        self.puts: list[int] = []
        get_many, put_many = store.get_many, store.put_many

        async def counted_get_many(keys: Sequence[bytes]) -> list[Block | None]:
            self.gets.append(len(keys))
            return await get_many(keys)

        async def counted_put_many(blocks: Iterable[Block], area: StoreArea) -> list[PutResult]:
            items = list(blocks)
            self.puts.append(len(items))
            return await put_many(items, area)

        monkeypatch.setattr(store, "get_many", counted_get_many)
        monkeypatch.setattr(store, "put_many", counted_put_many)
        monkeypatch.setattr(store, "get", None)  # the runtime must not use single gets
        monkeypatch.setattr(store, "put", None)


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


async def test_misses_need_no_thread_and_hits_share_one_get_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held, absent = blocks(16, "held"), blocks(16, "absent")
    node = NodeRuntime(settings(tmp_path / "n", opennet=False), rng=random.Random(1))
    async with running(node):
        assert node.store is not None
        await node.store.put_many(held, StoreArea.STORE)
        counting = Counting(node.store, monkeypatch)
        misses = (await node.store.stats()).misses

        found = await fetch_all(node, [b.routing_key for b in absent])
        assert all(r.outcome is not Outcome.FOUND for r in found)
        assert counting.gets == []  # every miss answered from the presence index
        assert (await node.store.stats()).misses == misses + len(absent)

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
        gate = anyio.Event()
        put_many = store.put_many

        async def gated_put_many(items: Iterable[Block], area: StoreArea) -> list[PutResult]:
            await gate.wait()
            return await put_many(items, area)

        monkeypatch.setattr(store, "put_many", gated_put_many)
        # What the core asks of a relay caching blocks on the way back (fire and forget).
        node._apply([StoreBlock(block=block, area=Area.CACHE) for block in inserted])
        await anyio.sleep(0.05)
        # Queued (the write is held back), not yet written: lookups find them in _writing.
        assert not any(store.might_contain(b.routing_key) for b in inserted)
        found = await fetch_all(node, [b.routing_key for b in inserted])
        assert [r.block for r in found] == inserted
        assert counting.gets == []

        gate.set()
        with anyio.fail_after(10):
            while node._writing:
                await anyio.sleep(0.01)
        assert counting.puts == [len(inserted)]  # the stores of one loop turn go together
        assert all(store.might_contain(b.routing_key) for b in inserted)
        assert await store.get_many([b.routing_key for b in inserted]) == inserted
