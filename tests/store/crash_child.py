"""Child process for the crash test: put batches of blocks forever, reporting each commit.

Run as ``python -m tests.store.crash_child DB START``. Prints ``begin I J`` before
putting blocks ``I..J-1`` in one batch and ``ack I J`` once the put returned
(committed). The parent kills it with SIGKILL at a random moment.
"""

import random
import sys
from pathlib import Path

from store import Area, BlockStore, StoreConfig, Synchronous
from tests.store.conftest import chk_block

CONFIG = StoreConfig(size_bytes=10**9, synchronous=Synchronous.FULL, check_on_open=False)


def main() -> None:
    path, start = Path(sys.argv[1]), int(sys.argv[2])
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


if __name__ == "__main__":
    main()
