"""Child process for the crash test: put blocks forever, reporting each commit.

Run as ``python -m tests.store.crash_child DB START [sync|async]``. Prints
``begin I J`` before putting blocks ``I..J-1`` and ``ack I J`` once the put
returned (committed). ``sync`` puts batches of 1-4 blocks with
``BlockStore.put_many``; ``async`` runs :data:`WRITERS` concurrent tasks doing
single ``AsyncBlockStore.put`` calls, so acknowledgements come from group
commits. The parent kills it with SIGKILL at a random moment.
"""

import random
import sys
from pathlib import Path

import anyio

from store import Area, AsyncBlockStore, BlockStore, StoreConfig, Synchronous
from tests.store.conftest import chk_block

CONFIG = StoreConfig(size_bytes=10**9, synchronous=Synchronous.FULL, check_on_open=False)
WRITERS = 8


def run_sync(path: Path, start: int) -> None:
    rng = random.Random(start)
    store = BlockStore.open(path, CONFIG)
    index = start
    while True:
        count = rng.randint(1, 4)
        blocks = [chk_block(n) for n in range(index, index + count)]
        print(f"begin {index} {index + count}", flush=True)
        store.put_many(blocks, Area.STORE if rng.random() < 0.5 else Area.CACHE)
        print(f"ack {index} {index + count}", flush=True)
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
    path, start = Path(sys.argv[1]), int(sys.argv[2])
    if len(sys.argv) > 3 and sys.argv[3] == "async":
        anyio.run(run_async, path, start)
    else:
        run_sync(path, start)


if __name__ == "__main__":
    main()
