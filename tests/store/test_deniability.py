"""Nothing in the file names a key or holds a block, and another salt finds nothing."""

import sqlite3
from pathlib import Path

import pytest

from crypto.blocks import Block
from store import Area, BlockStore, StoreConfig
from store.slots import slot_path
from tests.store.conftest import chk_plaintext, file_bytes

# Windows short enough to sit inside one page, long enough never to occur by chance.
WINDOW = 16


def needles(block: Block, plaintext: bytes | None) -> list[bytes]:
    """Pieces of a block an operator might search the file for."""
    found: list[bytes] = [
        block.routing_key,
        block.routing_key[:8],
    ]  # the key and its 64-bit location
    for offset in (0, 100, 1000, len(block.data) // 2, len(block.data) - WINDOW):
        found.append(block.data[offset : offset + WINDOW])
    if plaintext is not None:
        found += [plaintext[:WINDOW], plaintext[1000 : 1000 + WINDOW]]
    assert all(len(piece) >= 8 for piece in found)
    return found


@pytest.fixture
def blocks(chks: list[Block], ssk_pairs: list[tuple[Block, Block]]) -> list[Block]:
    return chks[:20] + [first for first, _ in ssk_pairs]


def test_the_file_holds_no_key_block_or_plaintext(db_path: Path, blocks: list[Block]) -> None:
    store = BlockStore.open(db_path, StoreConfig(size_bytes=10**7))
    for index, block in enumerate(blocks):
        store.put(block, Area.STORE if index % 2 else Area.CACHE)
    store.get(blocks[0].routing_key)
    searches = [
        needles(block, chk_plaintext(n) if n < 20 else None) for n, block in enumerate(blocks)
    ]

    def assert_absent(raw: bytes) -> None:
        for pieces in searches:
            for piece in pieces:
                assert piece not in raw

    while_open = file_bytes(db_path)  # the WAL holds the recent commits
    assert_absent(while_open)
    store.close()
    closed = file_bytes(db_path)
    assert_absent(closed)
    # The search can fail: the salt, which the file does hold, is found.
    with sqlite3.connect(db_path) as raw:
        (salt,) = raw.execute("SELECT value FROM meta WHERE name = 'salt'").fetchone()
    raw.close()
    assert salt in closed


def test_the_search_finds_blocks_stored_in_the_clear(tmp_path: Path, blocks: list[Block]) -> None:
    """Control: the same needles are found when blocks are stored unencrypted."""
    path = tmp_path / "plain.sqlite"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE t (k BLOB PRIMARY KEY, v BLOB)")
        raw.executemany("INSERT INTO t VALUES (?, ?)", [(b.routing_key, b.data) for b in blocks])
    raw.close()
    content = file_bytes(path)
    for block in blocks:
        assert all(piece in content for piece in needles(block, None))


def test_a_store_with_another_salt_finds_nothing(
    db_path: Path, tmp_path: Path, blocks: list[Block]
) -> None:
    config = StoreConfig(size_bytes=10**7)
    with BlockStore.open(db_path, config) as store:
        store.put_many(blocks, Area.STORE)
    copy = tmp_path / "resalted.sqlite"
    copy.write_bytes(db_path.read_bytes())
    slot_path(copy).write_bytes(slot_path(db_path).read_bytes())
    with sqlite3.connect(copy) as raw:
        raw.execute("UPDATE meta SET value = randomblob(32) WHERE name = 'salt'")
    raw.close()
    with BlockStore.open(copy, config) as resalted:
        assert not any(resalted.contains(b.routing_key) for b in blocks)
        assert all(resalted.get(b.routing_key) is None for b in blocks)
        assert resalted.stats().store.blocks == len(blocks)  # the rows are there, unfindable
    with BlockStore.open(db_path, config) as original:
        assert all(original.get(b.routing_key) == b for b in blocks)
