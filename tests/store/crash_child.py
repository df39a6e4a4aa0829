"""Child process for the crash test: put blocks forever, reporting each commit.

Run as ``python -m tests.store.crash_child DB START MODE [HOLD_AFTER]``. Prints
``begin I J`` before putting blocks ``I..J-1`` and ``ack I J`` once the put
returned (committed). ``sync`` puts batches of 1-4 blocks with
``BlockStore.put_many``; ``async`` runs :data:`WRITERS` concurrent tasks doing
single ``AsyncBlockStore.put`` calls, so acknowledgements come from group
commits; ``evict`` is ``sync`` into a cache of :data:`SMALL_BLOCKS` blocks, so
that nearly every put evicts and slots are reused all the time. ``sync`` and
``evict`` keep the batches of fewer than ``inline_below`` (4) blocks inline and
put larger ones in slots; ``slots`` is ``sync`` with every record in a slot,
``inline`` with every record inline. The parent
kills it with SIGKILL at a random moment, or, given ``HOLD_AFTER``, once the
transaction after that many acknowledgements has written its slot records and
prints ``written``: the child then waits before its ``COMMIT``, so the kill
lands between the slot writes and the commit.
"""

import dataclasses
import random
import sys
import time
from pathlib import Path

import anyio

from crypto.blocks import KeyKind, block_size
from store import Area, AsyncBlockStore, BlockStore, StoreConfig, Synchronous
from store.slots import SlotFile
from tests.store.conftest import chk_block

CONFIG = StoreConfig(size_bytes=10**9, synchronous=Synchronous.FULL, check_on_open=False)
SMALL_BLOCKS = 8  # the cache of the ``evict`` mode, in CHK blocks
SMALL_CONFIG = StoreConfig(
    size_bytes=2 * SMALL_BLOCKS * block_size(KeyKind.CHK),
    synchronous=Synchronous.FULL,
    check_on_open=False,
)
WRITERS = 8
CONFIGS = {
    "sync": CONFIG,
    "slots": dataclasses.replace(CONFIG, inline_below=0),
    "inline": dataclasses.replace(CONFIG, inline_below=5),  # batches hold 1-4 blocks
}


def hold_before_commit(after: int) -> list[int]:
    """Make the transaction after ``after`` acknowledgements stop between its slot writes
    and its commit; the returned list counts the acknowledgements (the caller appends)."""
    acks: list[int] = []
    flush = SlotFile.flush

    def flush_then_hold(self: SlotFile, *, sync: bool) -> None:
        flush(self, sync=sync)
        if len(acks) >= after:
            print("written", flush=True)
            time.sleep(60)

    SlotFile.flush = flush_then_hold  # type: ignore[method-assign]
    return acks


def run_sync(path: Path, start: int, config: StoreConfig, area: Area | None, hold: int) -> None:
    rng = random.Random(start)
    acks = hold_before_commit(hold) if hold >= 0 else []
    store = BlockStore.open(path, config)
    index = start
    while True:
        count = rng.randint(1, 4)
        blocks = [chk_block(n) for n in range(index, index + count)]
        print(f"begin {index} {index + count}", flush=True)
        chosen = area or (Area.STORE if rng.random() < 0.5 else Area.CACHE)
        store.put_many(blocks, chosen)
        print(f"ack {index} {index + count}", flush=True)
        acks.append(index)
        index += count


async def run_async(path: Path, start: int) -> None:
    store = await AsyncBlockStore.open(path, CONFIG)
    counter = iter(range(start, 2**62))

    async def writer() -> None:
        while True:
            n = next(counter)
            block = chk_block(n)
            print(f"begin {n} {n + 1}", flush=True)
            await store.put(block, Area.STORE if n % 2 else Area.CACHE)
            print(f"ack {n} {n + 1}", flush=True)

    async with anyio.create_task_group() as group:
        for _ in range(WRITERS):
            group.start_soon(writer)


def main() -> None:
    path, start, mode = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    hold = int(sys.argv[4]) if len(sys.argv) > 4 else -1
    if mode == "async":
        anyio.run(run_async, path, start)
    elif mode == "evict":
        run_sync(path, start, SMALL_CONFIG, Area.CACHE, hold)
    else:
        run_sync(path, start, CONFIGS[mode], None, hold)


if __name__ == "__main__":
    main()
