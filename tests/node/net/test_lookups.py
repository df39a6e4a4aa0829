"""The runtime's lookup thread: answers on the loop, in order, batched, errors reported."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from crypto.blocks import Block
from crypto.keys import insert_chk
from node.net.lookups import LookupThread
from store import Area, BlockStore, StoreClosed, StoreConfig, StoreError


def blocks(count: int, label: str) -> list[Block]:
    return [insert_chk(f"{label} {n}".encode())[0] for n in range(count)]


Answers = list[tuple[list[int], list[Block | None] | StoreError, int]]


async def collect(store: BlockStore, submit: list[tuple[int, bytes]], *, close: bool) -> Answers:
    """Submit everything in one loop turn; return each answer with the thread it ran on."""
    loop = asyncio.get_running_loop()
    answers: Answers = []
    done = asyncio.Event()
    expected = len(submit)

    def answer(items: list[int], outcome: list[Block | None] | StoreError) -> None:
        answers.append((items, outcome, threading.get_ident()))
        if sum(len(a[0]) for a in answers) >= expected:
            done.set()

    thread = LookupThread(store, loop, answer)
    for item, key in submit:
        thread.submit(item, key)
    if close:
        thread.close()
    await asyncio.wait_for(done.wait(), 10)
    thread.close()
    await asyncio.to_thread(thread.join, 10)
    return answers


def test_answers_come_back_on_the_loop_in_order_and_batched(tmp_path: Path) -> None:
    held, absent = blocks(40, "held"), blocks(40, "absent")
    with BlockStore.open(tmp_path / "s.sqlite", StoreConfig(size_bytes=10**8)) as store:
        store.put_many(held, Area.STORE)
        calls: list[int] = []
        get_many = store.get_many

        def counted(keys: Sequence[bytes]) -> list[Block | None]:
            calls.append(len(keys))
            return get_many(keys)

        store.get_many = counted  # type: ignore[method-assign, assignment]
        keys = [b.routing_key for pair in zip(held, absent, strict=True) for b in pair]

        async def main() -> tuple[Answers, int]:
            return await collect(store, list(enumerate(keys)), close=True), threading.get_ident()

        answers, loop_thread = asyncio.run(main())
    items = [i for a in answers for i in a[0]]
    found = [b for a in answers for b in a[1]]  # type: ignore[union-attr]
    assert items == list(range(len(keys)))
    assert found == [b for pair in zip(held, [None] * 40, strict=True) for b in pair]
    assert all(a[2] == loop_thread for a in answers)  # the answer runs on the event loop
    assert sum(calls) == len(keys)
    assert len(calls) < len(keys)  # lookups queued together share one get_many


def test_a_store_error_is_the_answer_not_a_dead_thread(tmp_path: Path) -> None:
    store = BlockStore.open(tmp_path / "s.sqlite", StoreConfig(size_bytes=10**8))
    store.close()
    keys = [b.routing_key for b in blocks(3, "x")]

    async def main() -> Answers:
        return await collect(store, list(enumerate(keys)), close=False)

    answers = asyncio.run(main())
    assert [i for a in answers for i in a[0]] == [0, 1, 2]
    assert all(isinstance(a[1], StoreClosed) for a in answers)


@pytest.mark.parametrize("pending", [0, 5])
def test_close_ends_the_thread_after_what_is_queued(tmp_path: Path, pending: int) -> None:
    with BlockStore.open(tmp_path / "s.sqlite", StoreConfig(size_bytes=10**8)) as store:
        keys = [b.routing_key for b in blocks(pending, "y")]

        async def main() -> int:
            answered: list[int] = []
            thread: LookupThread[int] = LookupThread(
                store, asyncio.get_running_loop(), lambda items, _: answered.extend(items)
            )
            for item, key in enumerate(keys):
                thread.submit(item, key)
            thread.close()
            await asyncio.to_thread(thread.join, 10)
            await asyncio.sleep(0)  # the answers queued on the loop run now
            return len(answered)

        assert asyncio.run(main()) == pending
