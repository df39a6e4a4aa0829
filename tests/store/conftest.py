"""Shared fixtures for the datastore tests: ready-made valid blocks and small stores."""

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from crypto.blocks import Block, KeyKind, block_size
from crypto.keys import generate_ssk, insert_chk, insert_ssk
from store import DATASTORE_SCHEMA, BlockStore, StoreConfig
from store.schema import Schema

CHK = block_size(KeyKind.CHK)
SSK = block_size(KeyKind.SSK)


def datastore_schema_at(version: int) -> Schema:
    """The datastore schema as a reader of ``version`` knows it: its first migrations."""
    return Schema(
        name=DATASTORE_SCHEMA.name,
        application_id=DATASTORE_SCHEMA.application_id,
        migrations=DATASTORE_SCHEMA.migrations[:version],
    )


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
    """Everything SQLite keeps for ``db_path``: the database, its WAL and shared memory."""
    parts = []
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = db_path.with_name(db_path.name + suffix)
        if candidate.exists():
            parts.append(candidate.read_bytes())
    return b"".join(parts)
