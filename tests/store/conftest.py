"""Shared fixtures for the datastore tests: ready-made valid blocks and small stores."""

import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crypto.blocks import Block, KeyKind, block_size
from crypto.keys import generate_ssk, insert_chk, insert_ssk
from store import DATASTORE_SCHEMA, Area, BlockStore, StoreConfig
from store.eviction import bucket_of
from store.records import row_id, seal
from store.schema import Schema, open_database
from store.slots import SLOT_SIZE, slot_path

CHK = block_size(KeyKind.CHK)
SSK = block_size(KeyKind.SSK)


def datastore_schema_at(version: int) -> Schema:
    """The datastore schema as a reader of ``version`` knows it: its first migrations."""
    return Schema(
        name=DATASTORE_SCHEMA.name,
        application_id=DATASTORE_SCHEMA.application_id,
        migrations=DATASTORE_SCHEMA.migrations[:version],
    )


def row_forms(path: Path) -> tuple[int, int]:
    """How many rows keep their record inline, and how many in a slot."""
    raw = sqlite3.connect(path)
    try:
        inline, in_slots = raw.execute(
            "SELECT count(*) - count(slot), count(slot) FROM blocks"
        ).fetchone()
        return inline, in_slots
    finally:
        raw.close()


def chk_block(n: int) -> Block:
    """A deterministic CHK block: the same ``n`` gives the same block in any process."""
    return insert_chk(chk_plaintext(n))[0]


def chk_plaintext(n: int) -> bytes:
    return (b"SAMIZDAT-TEST-PLAINTEXT-%08d|" % n) + hashlib.sha256(b"%d" % n).digest() * 64


def ssk_blocks(n: int, docname: str = "doc") -> tuple[Block, Block]:
    """Two different valid SSK blocks under the same routing key: a collision pair."""
    _request, insert = generate_ssk(hashlib.sha512(b"ssk %d" % n).digest())
    uri = insert.with_docname(docname)
    return insert_ssk(uri, b"first edition %d" % n), insert_ssk(uri, b"second edition %d" % n)


@pytest.fixture(scope="session")
def chks() -> list[Block]:
    return [chk_block(n) for n in range(24)]


@pytest.fixture(scope="session")
def ssk_pairs() -> list[tuple[Block, Block]]:
    return [ssk_blocks(n) for n in range(6)]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "datastore.sqlite"


@pytest.fixture
def small_config() -> StoreConfig:
    """Room for exactly three CHK blocks in each area."""
    return StoreConfig(size_bytes=6 * CHK)


@pytest.fixture
def store(db_path: Path, small_config: StoreConfig) -> Iterator[BlockStore]:
    with BlockStore.open(db_path, small_config, location=0.25) as opened:
        yield opened


def file_bytes(db_path: Path) -> bytes:
    """Everything the store keeps for ``db_path``: the database, its WAL and shared memory,
    and the slot file."""
    parts = []
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = db_path.with_name(db_path.name + suffix)
        if candidate.exists():
            parts.append(candidate.read_bytes())
    if slot_path(db_path).exists():
        parts.append(slot_path(db_path).read_bytes())
    return b"".join(parts)


def damage_record(db_path: Path, row_number: int, offset: int = 100) -> None:
    """Flip one bit of a closed store's record in row ``row_number``, in its slot or inline."""
    with sqlite3.connect(db_path) as raw:
        record, slot = raw.execute(
            "SELECT record, slot FROM blocks WHERE id = ?", (row_number,)
        ).fetchone()
        if slot is None:
            flipped = record[:offset] + bytes([record[offset] ^ 1]) + record[offset + 1 :]
            raw.execute("UPDATE blocks SET record = ? WHERE id = ?", (flipped, row_number))
    raw.close()
    if slot is not None:
        with slot_path(db_path).open("r+b") as slots:
            slots.seek(slot * SLOT_SIZE + offset)
            (byte,) = slots.read(1)
            slots.seek(slot * SLOT_SIZE + offset)
            slots.write(bytes([byte ^ 1]))


def write_old_file(
    path: Path,
    blocks: list[tuple[Block, Area]],
    schema: Schema,
    sealer: Callable[[bytes, bytes, Block], bytes] = seal,
) -> None:
    """A datastore as a Samizdat of ``schema``'s version (5 or older) wrote it: every record
    inline in ``blocks.record``, last-use order that of ``blocks``."""
    connection = open_database(path, schema)
    (salt,) = connection.execute("SELECT value FROM meta WHERE name = 'salt'").fetchone()
    connection.execute("BEGIN IMMEDIATE")
    for seq, (block, area) in enumerate(blocks, start=1):
        row = row_id(salt, block.routing_key)
        cursor = connection.execute(
            "INSERT INTO blocks (row_id, record) VALUES (?, ?)", (row, sealer(salt, row, block))
        )
        connection.execute(
            "INSERT INTO placement VALUES (?, ?, ?, ?, ?)",
            (cursor.lastrowid, area, bucket_of(block.routing_key), seq, len(block.data)),
        )
    connection.execute("COMMIT")
    connection.close()


def records(path: Path) -> list[bytes]:
    """Every row's record in row order, read inline or from its slot (a closed store)."""
    with sqlite3.connect(path) as raw:
        columns = {row[1] for row in raw.execute("PRAGMA table_info(blocks)")}
        slot = "slot" if "slot" in columns else "NULL"  # a file older than version 6
        rows = raw.execute(f"SELECT record, {slot} FROM blocks ORDER BY id").fetchall()
    raw.close()
    found = []
    for record, slot in rows:
        if slot is None:
            found.append(bytes(record))
        else:
            with slot_path(path).open("rb") as slots:
                slots.seek(slot * SLOT_SIZE)
                found.append(slots.read(SLOT_SIZE))
    return found
