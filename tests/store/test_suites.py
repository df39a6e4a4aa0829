"""Record suites: files of older versions (suite 1 and 2 records) open, migrate and stay readable.

A version 1 file is built the way schema version 1 wrote it: migration 1 only,
and suite 1 records sealed exactly as ``specs/store.md`` describes them; a
version 3 file likewise with suite 2 (AEGIS-256) records.
"""

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.blocks import Block, KeyKind
from crypto.primitives import (
    AEAD_NONCE_SIZE,
    FAST_AEAD_NONCE_SIZE,
    aead_encrypt,
    fast_aead_encrypt,
    hash_for,
    random_bytes,
)
from store import DATASTORE_SCHEMA, Area, BlockStore, PutOutcome, SchemaTooNew, StoreConfig
from store.records import (
    ASSOCIATED_LABEL,
    BLOCK_KEY_V1_CONTEXT,
    BLOCK_KEY_V2_CONTEXT,
    RECORD_OVERHEAD,
    SUITE_AEGIS128L,
    SUITE_AEGIS256,
    SUITE_WRITTEN,
    SUITE_XCHACHA20_POLY1305,
    DamagedRecord,
    row_id,
    seal,
    unseal,
)
from store.schema import open_database
from store.slots import SLOT_SIZE, slot_path
from tests.store.conftest import datastore_schema_at, records, write_old_file
from tests.strategies import key32

SCHEMA_V1 = datastore_schema_at(1)


def seal_v1(salt: bytes, row: bytes, block: Block) -> bytes:
    header = bytes((SUITE_XCHACHA20_POLY1305, block.kind)) + random_bytes(AEAD_NONCE_SIZE)
    key = hash_for(BLOCK_KEY_V1_CONTEXT, salt, block.routing_key)
    return header + aead_encrypt(key, header[2:], block.data, ASSOCIATED_LABEL + row + header)


SCHEMA_V3 = datastore_schema_at(3)


def seal_v2(salt: bytes, row: bytes, block: Block) -> bytes:
    header = bytes((SUITE_AEGIS256, block.kind)) + random_bytes(FAST_AEAD_NONCE_SIZE)
    key = hash_for(BLOCK_KEY_V2_CONTEXT, salt, block.routing_key)
    return header + fast_aead_encrypt(key, header[2:], block.data, ASSOCIATED_LABEL + row + header)


def write_v1_file(path: Path, blocks: list[tuple[Block, Area]]) -> None:
    write_old_file(path, blocks, SCHEMA_V1, seal_v1)


def suites(path: Path) -> list[int]:
    return [record[0] for record in records(path)]


def test_a_version_1_file_is_migrated_and_both_suites_are_read(
    tmp_path: Path, chks: list[Block], ssk_pairs: list[tuple[Block, Block]]
) -> None:
    path = tmp_path / "datastore.sqlite"
    old_ssk, new_ssk = ssk_pairs[0]
    write_v1_file(path, [(chks[0], Area.STORE), (chks[1], Area.CACHE), (old_ssk, Area.CACHE)])
    assert suites(path) == [1, 1, 1]
    config = StoreConfig(size_bytes=10**7, inline_below=0)
    with BlockStore.open(path, config) as store:
        stats = store.stats()
        assert (stats.store.blocks, stats.cache.blocks) == (1, 2)
        assert store.get(chks[0].routing_key) == chks[0]
        assert store.get(old_ssk.routing_key) == old_ssk
        # A suite 1 SSK is read back to detect a collision, and stays.
        collision = store.put(new_ssk, Area.STORE)
        assert collision.outcome is PutOutcome.COLLISION and collision.existing == old_ssk
        # A cache -> store move keeps the suite 1 record as it is (no rewrite).
        assert store.put(chks[1], Area.STORE).outcome is PutOutcome.STORED
        assert store.put(chks[2], Area.CACHE).outcome is PutOutcome.STORED
        assert store.stats().dropped == 0
    assert suites(path) == [1, 1, 1, SUITE_WRITTEN]
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == DATASTORE_SCHEMA.version
        # The old records stay inline; the new CHK record went to the slot file.
        slots = raw.execute("SELECT slot FROM blocks ORDER BY id").fetchall()
        assert slots == [(None,), (None,), (None,), (0,)]
    raw.close()
    record = records(path)[3]
    assert len(record) == len(chks[2].data) + RECORD_OVERHEAD == len(chks[2].data) + 50
    with BlockStore.open(path, config) as store:
        assert [store.get(b.routing_key) for b in (*chks[:3], old_ssk)] == [*chks[:3], old_ssk]
        assert store.delete(chks[0].routing_key)


def test_a_version_2_file_is_refused_by_a_version_1_reader(
    tmp_path: Path, chks: list[Block]
) -> None:
    """An older Samizdat must not open suite 2 records and drop them as damaged."""
    path = tmp_path / "datastore.sqlite"
    with BlockStore.open(path, StoreConfig(size_bytes=10**7)) as store:
        store.put(chks[0], Area.STORE)
    newest = DATASTORE_SCHEMA.version
    with pytest.raises(SchemaTooNew, match=f"schema version {newest}; this version reads up to 1"):
        open_database(path, SCHEMA_V1).close()


def test_a_record_of_an_unknown_suite_is_dropped(tmp_path: Path, chks: list[Block]) -> None:
    path = tmp_path / "datastore.sqlite"
    config = StoreConfig(size_bytes=10**7, inline_below=0)
    with BlockStore.open(path, config) as store:
        store.put_many(chks[:2], Area.STORE)
    with slot_path(path).open("r+b") as slots:  # rows 1 and 2 are in slots 0 and 1
        slots.write(b"\xff")
        slots.seek(SLOT_SIZE)
        # A suite 3 record relabelled as suite 1 fails too: the suite byte is authenticated.
        slots.write(b"\x01")
    with BlockStore.open(path, config) as store:
        assert [store.get(b.routing_key) for b in chks[:2]] == [None, None]
        assert store.stats().dropped == 2


def test_a_version_3_file_is_migrated_and_its_aegis_256_records_are_read(
    tmp_path: Path, chks: list[Block], ssk_pairs: list[tuple[Block, Block]]
) -> None:
    path = tmp_path / "datastore.sqlite"
    old_ssk, new_ssk = ssk_pairs[0]
    write_old_file(path, [(chks[0], Area.STORE), (old_ssk, Area.CACHE)], SCHEMA_V3, seal_v2)
    assert suites(path) == [SUITE_AEGIS256, SUITE_AEGIS256]
    config = StoreConfig(size_bytes=10**7)
    with BlockStore.open(path, config) as store:
        assert store.get(chks[0].routing_key) == chks[0]
        assert store.put(new_ssk, Area.STORE).existing == old_ssk  # read back for a collision
        assert store.put(chks[1], Area.CACHE).outcome is PutOutcome.STORED
        assert store.stats().dropped == 0
    assert suites(path) == [SUITE_AEGIS256, SUITE_AEGIS256, SUITE_AEGIS128L]
    with BlockStore.open(path, config) as store:
        assert [store.get(b.routing_key) for b in (chks[0], chks[1], old_ssk)] == [
            chks[0],
            chks[1],
            old_ssk,
        ]
    with pytest.raises(SchemaTooNew):  # a version 3 reader would drop suite 3 records
        open_database(path, SCHEMA_V3).close()


@given(
    salt=key32,
    routing_key=key32,
    kind=st.sampled_from(KeyKind),
    data=st.binary(max_size=2048),
    flip=st.integers(min_value=0),
)
def test_a_record_opens_to_its_block_and_any_changed_byte_fails(
    salt: bytes, routing_key: bytes, kind: KeyKind, data: bytes, flip: int
) -> None:
    block = Block(kind, routing_key, data)
    row = row_id(salt, routing_key)
    record = seal(salt, row, block)
    assert record[0] == SUITE_WRITTEN == SUITE_AEGIS128L
    assert len(record) == len(data) + RECORD_OVERHEAD
    assert unseal(salt, row, routing_key, record) == block
    position = flip % len(record)
    changed = bytearray(record)
    changed[position] ^= 1 + flip % 255
    with pytest.raises(DamagedRecord):
        unseal(salt, row, routing_key, bytes(changed))
    other_key = bytes(byte ^ 0xFF for byte in routing_key)
    with pytest.raises(DamagedRecord):  # moved into another key's row
        unseal(salt, row_id(salt, other_key), routing_key, record)
    other_salt = bytes(byte ^ 0xFF for byte in salt)
    with pytest.raises(DamagedRecord):  # copied into another store
        unseal(other_salt, row_id(other_salt, routing_key), routing_key, record)
