"""The async face: same results as the core, and the event loop keeps running."""

import threading
from pathlib import Path

import anyio
import pytest

from crypto.blocks import Block
from store import Area, AsyncBlockStore, PutOutcome, StoreConfig


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_async_calls_run_off_the_event_loop_thread(
    db_path: Path, chks: list[Block], monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    async with await AsyncBlockStore.open(db_path, StoreConfig(size_bytes=10**7)) as store:
        threads: list[int] = []
        original = store.sync.get

        def spy(routing_key: bytes) -> Block | None:
            threads.append(threading.get_ident())
            return original(routing_key)

        monkeypatch.setattr(store.sync, "get", spy)
        assert (await store.put(chks[0], Area.CACHE)).outcome is PutOutcome.STORED
        assert await store.get(chks[0].routing_key) == chks[0]
        assert threads and loop_thread not in threads


@pytest.mark.anyio
async def test_concurrent_async_puts_and_gets(db_path: Path, chks: list[Block]) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0)

    async with await AsyncBlockStore.open(db_path, StoreConfig(size_bytes=10**7)) as store:
        async with anyio.create_task_group() as group:
            group.start_soon(ticker)
            async with anyio.create_task_group() as writers:
                for block in chks:
                    writers.start_soon(store.put, block, Area.STORE)
            got = [await store.get(block.routing_key) for block in chks]
            group.cancel_scope.cancel()
        assert got == chks
        assert ticks > len(chks)  # the loop ran while the puts were on threads
        assert (await store.contains(chks[0].routing_key)) is True
        assert await store.delete(chks[0].routing_key)
        store.set_location(0.5)
        assert (await store.stats()).store.blocks == len(chks) - 1
        assert (await store.put_many(chks[:1], Area.CACHE))[0].outcome is PutOutcome.STORED
