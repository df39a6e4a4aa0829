"""The async face: same results as the core, and the event loop keeps running."""

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio
import pytest

from crypto.blocks import Block
from store import (
    Area,
    AsyncBlockStore,
    BlockStore,
    DatabaseCorrupt,
    PutOutcome,
    PutResult,
    RejectedBlock,
    StoreClosed,
    StoreConfig,
    StoreError,
)
from store.async_store import WriterStats
from store.block_store import Prepared


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


def _gated(
    store: AsyncBlockStore, monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Event, threading.Event, list[list[bytes]]]:
    """Make the writer's first commit wait for ``release``; record each committed group."""
    entered, release = threading.Event(), threading.Event()
    groups: list[list[bytes]] = []
    original = store.sync.write_prepared

    def gated(items: Sequence[tuple[Prepared, Area]]) -> list[PutResult]:
        if not groups:
            entered.set()
            release.wait(timeout=10)
        results = original(items)  # returns after COMMIT
        groups.append([item.block.routing_key for item, _area in items])
        return results

    monkeypatch.setattr(store.sync, "write_prepared", gated)
    return entered, release, groups


@pytest.mark.anyio
async def test_concurrent_puts_are_group_committed_and_acknowledged_after_commit(
    db_path: Path, chks: list[Block], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = StoreConfig(size_bytes=10**7)
    async with await AsyncBlockStore.open(db_path, config) as store:
        entered, release, groups = _gated(store, monkeypatch)
        acknowledged: list[Block] = []

        async def put(block: Block) -> None:
            result = await store.put(block, Area.STORE)
            assert result.outcome is PutOutcome.STORED
            # Acknowledged => the group holding it has committed.
            assert any(block.routing_key in group for group in groups)
            acknowledged.append(block)

        async with anyio.create_task_group() as group:
            group.start_soon(put, chks[0])
            await anyio.to_thread.run_sync(entered.wait)  # the writer holds chks[0]'s group
            for block in chks[1:]:
                group.start_soon(put, block)
            while _queued(store) < len(chks) - 1:
                await anyio.sleep(0.005)
            assert acknowledged == []  # nothing is acknowledged before its commit
            release.set()
        assert sorted(b.routing_key for b in acknowledged) == sorted(b.routing_key for b in chks)
        stats = store.writer_stats
        assert stats.blocks == len(chks)
        # The first put alone, then the 23 that queued while it committed: one transaction.
        assert [len(g) for g in groups] == [1, len(chks) - 1]
        assert stats.commits == 2
    with BlockStore.open(db_path, config) as reopened:
        assert all(reopened.get(b.routing_key) == b for b in chks)


def _queued(store: AsyncBlockStore) -> int:
    writer = store._writer
    return 0 if writer is None else sum(len(r.items) for r in writer._queue)


@pytest.mark.anyio
async def test_a_failed_group_fails_each_of_its_puts_and_the_writer_goes_on(
    db_path: Path, chks: list[Block], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await AsyncBlockStore.open(db_path, StoreConfig(size_bytes=10**7)) as store:
        original = store.sync.write_prepared
        calls = 0

        def failing_once(items: Sequence[tuple[Prepared, Area]]) -> list[PutResult]:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise DatabaseCorrupt("disk on fire")
            return original(items)

        monkeypatch.setattr(store.sync, "write_prepared", failing_once)
        with pytest.raises(DatabaseCorrupt, match="disk on fire"):
            await store.put(chks[0], Area.CACHE)
        with pytest.raises(RejectedBlock):
            await store.put(Block(chks[1].kind, chks[1].routing_key, chks[2].data), Area.CACHE)
        assert (await store.put(chks[1], Area.CACHE)).outcome is PutOutcome.STORED
        assert not await store.contains(chks[0].routing_key)
        assert store.writer_stats == WriterStats(commits=1, blocks=1)


@pytest.mark.anyio
async def test_cancelled_puts_are_withdrawn_or_committed_never_half(
    db_path: Path, chks: list[Block], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await AsyncBlockStore.open(db_path, StoreConfig(size_bytes=10**7)) as store:
        entered, release, groups = _gated(store, monkeypatch)
        async with anyio.create_task_group() as puts:
            puts.start_soon(store.put, chks[0], Area.STORE)
            await anyio.to_thread.run_sync(entered.wait)  # chks[0] is being committed
            queued = anyio.CancelScope()

            async def queued_put() -> None:
                with queued:
                    await store.put(chks[1], Area.STORE)

            puts.start_soon(queued_put)
            while _queued(store) == 0:
                await anyio.sleep(0.005)
            queued.cancel()  # still in the queue: withdrawn, never written
            threading.Timer(0.05, release.set).start()
            puts.cancel_scope.cancel()  # chks[0]'s commit is under way: it completes
        assert await store.contains(chks[0].routing_key)
        assert not await store.contains(chks[1].routing_key)
        assert groups == [[chks[0].routing_key]]


@pytest.mark.anyio
async def test_close_commits_what_is_queued_and_later_puts_are_refused(
    db_path: Path, chks: list[Block]
) -> None:
    config = StoreConfig(size_bytes=10**7)
    store = await AsyncBlockStore.open(db_path, config)
    async with anyio.create_task_group() as group:
        for block in chks[:8]:
            group.start_soon(store.put, block, Area.CACHE)
    await store.aclose()
    with pytest.raises(StoreClosed):
        await store.put(chks[9], Area.CACHE)
    with BlockStore.open(db_path, config) as reopened:
        assert reopened.stats().cache.blocks == 8


@pytest.mark.anyio
async def test_get_many_in_one_hop_and_might_contain_without_one(
    db_path: Path, chks: list[Block], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await AsyncBlockStore.open(db_path, StoreConfig(size_bytes=10**7)) as store:
        await store.put_many(chks[:3], Area.CACHE)
        hops = 0
        run = store._run

        async def counting(call):  # type: ignore[no-untyped-def]
            nonlocal hops
            hops += 1
            return await run(call)

        monkeypatch.setattr(store, "_run", counting)
        keys = [b.routing_key for b in chks[:5]]
        assert await store.get_many(keys) == [*chks[:3], None, None]
        assert hops == 1
        assert [store.might_contain(key) for key in keys] == [True] * 3 + [False] * 2
        assert hops == 1  # answered on the event loop
        await store.delete(chks[0].routing_key)
        assert not store.might_contain(chks[0].routing_key)


@pytest.mark.anyio
async def test_put_soon_returns_at_once_and_reports_after_the_commit(
    db_path: Path, chks: list[Block]
) -> None:
    loop_thread = threading.get_ident()
    reports: list[tuple[int, object, list[bool]]] = []
    async with await AsyncBlockStore.open(db_path, StoreConfig(size_bytes=10**7)) as store:
        everything = anyio.Event()

        def told(keys: list[bytes]) -> Callable[[list[PutResult] | StoreError], None]:
            def callback(outcome: list[PutResult] | StoreError) -> None:
                held = [store.sync.contains(key) for key in keys]  # committed before we hear
                reports.append((threading.get_ident(), outcome, held))
                if len(reports) == 3:
                    everything.set()

            return callback

        bad = Block(chks[3].kind, chks[3].routing_key, chks[4].data)
        store.put_soon(chks[:2], Area.CACHE, told([b.routing_key for b in chks[:2]]))
        store.put_soon([chks[2], bad], Area.STORE, told([chks[2].routing_key]))
        store.put_soon([chks[5]], Area.STORE, told([chks[5].routing_key]))
        assert (await store.put(chks[6], Area.CACHE)).outcome is PutOutcome.STORED
        with anyio.fail_after(10):
            await everything.wait()
        assert all(thread == loop_thread for thread, _outcome, _held in reports)
        first, second, third = (outcome for _thread, outcome, _held in reports)
        assert isinstance(first, list) and [r.outcome for r in first] == [PutOutcome.STORED] * 2
        assert isinstance(second, RejectedBlock)  # the batch is refused whole
        assert isinstance(third, list) and third[0].area is Area.STORE
        assert [held for _thread, _outcome, held in reports] == [[True, True], [False], [True]]
        assert await store.get_many([b.routing_key for b in chks[:7]]) == [
            *chks[:2],
            None,
            None,
            None,
            chks[5],
            chks[6],
        ]
    with pytest.raises(StoreClosed):
        store.put_soon([chks[7]], Area.CACHE, told([]))


def _committed_within(store: AsyncBlockStore, key: bytes, seconds: float) -> bool:
    """Poll, blocking this thread (the event loop's): the writer commits without it."""
    deadline = time.monotonic() + seconds
    while not store.sync.contains(key):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@pytest.mark.anyio
async def test_the_writer_does_not_wait_for_the_event_loop_between_groups(
    db_path: Path, chks: list[Block]
) -> None:
    """The writer hands a group's callbacks to the event loop and goes on: with the loop
    busy (blocked here), a second put_soon still commits; every callback has run by the
    time the store is closed."""
    outcomes: list[object] = []
    store = await AsyncBlockStore.open(db_path, StoreConfig(size_bytes=10**7))
    store.put_soon(chks[:1], Area.CACHE, outcomes.append)
    assert _committed_within(store, chks[0].routing_key, 10)
    store.put_soon(chks[1:2], Area.CACHE, outcomes.append)
    assert _committed_within(store, chks[1].routing_key, 10)
    assert outcomes == []  # the loop has not run since: the callbacks wait for it
    for block in chks[2:6]:
        store.put_soon([block], Area.STORE, outcomes.append)
    await store.aclose()
    assert len(outcomes) == 6
    assert all(isinstance(outcome, list) for outcome in outcomes)


@pytest.mark.anyio
async def test_put_soon_of_blocks_the_caller_verified_only_seals_them(
    db_path: Path, chks: list[Block], monkeypatch: pytest.MonkeyPatch
) -> None:
    import store.block_store

    checked: list[bytes] = []
    verify = store.block_store.verify_block

    def counting_verify(block: Block) -> None:
        checked.append(block.routing_key)  # list.append is atomic: safe from the writer
        verify(block)

    monkeypatch.setattr(store.block_store, "verify_block", counting_verify)
    async with await AsyncBlockStore.open(db_path, StoreConfig(size_bytes=10**7)) as opened:
        done = anyio.Event()
        outcomes: list[object] = []

        def callback(outcome: list[PutResult] | StoreError) -> None:
            outcomes.append(outcome)
            if len(outcomes) == 2:
                done.set()

        opened.put_soon(chks[:2], Area.CACHE, callback, verified=True)
        opened.put_soon(chks[2:3], Area.CACHE, callback)
        with anyio.fail_after(10):
            await done.wait()
        assert checked == [chks[2].routing_key]  # only the block the caller did not verify
        assert await opened.get_many([b.routing_key for b in chks[:3]]) == chks[:3]
