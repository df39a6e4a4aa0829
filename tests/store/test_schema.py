"""Opening SQLite files: migrations, too-new and foreign files, damaged files."""

import random
import sqlite3
from pathlib import Path

import pytest

from crypto.blocks import Block
from crypto.location import distance
from store import (
    DATASTORE_SCHEMA,
    Area,
    BlockStore,
    DatabaseCorrupt,
    DatabaseError,
    SchemaTooNew,
    StoreConfig,
    WrongDatabase,
)
from store.eviction import bucket_centre, bucket_of
from store.schema import Migration, Schema, open_database, sql_steps
from tests.store.conftest import CHK, datastore_schema_at, write_old_file

V1 = Migration(1, "notes", sql_steps("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
V2 = Migration(2, "note titles", sql_steps("ALTER TABLE notes ADD COLUMN title TEXT"))
OLD = Schema(name="notebook", application_id=0x4E4F5445, migrations=(V1,))
NEW = Schema(name="notebook", application_id=0x4E4F5445, migrations=(V1, V2))


def version_of(path: Path) -> int:
    with sqlite3.connect(path) as raw:
        version = int(raw.execute("PRAGMA user_version").fetchone()[0])
    raw.close()
    return version


def test_an_older_file_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    connection = open_database(path, OLD)
    connection.execute("INSERT INTO notes (body) VALUES ('kept')")
    connection.close()
    connection = open_database(path, NEW)
    assert connection.execute("SELECT body, title FROM notes").fetchall() == [("kept", None)]
    connection.close()
    assert version_of(path) == 2


def test_a_newer_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    open_database(path, NEW).close()
    before = path.read_bytes()
    with pytest.raises(SchemaTooNew, match="schema version 2; this version reads up to 1"):
        open_database(path, OLD)
    assert path.read_bytes() == before


def test_a_failing_migration_leaves_the_old_version(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    open_database(path, OLD).close()

    def broken(connection: sqlite3.Connection) -> None:
        connection.execute("ALTER TABLE notes ADD COLUMN title TEXT")
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        open_database(path, Schema("notebook", 0x4E4F5445, (V1, Migration(2, "x", broken))))
    assert version_of(path) == 1
    connection = open_database(path, NEW)  # the half-done step was rolled back
    connection.close()


def test_migrations_must_be_numbered_in_order() -> None:
    with pytest.raises(ValueError, match="numbered 1, 2, 3"):
        Schema("bad", 1, (V2,))


def test_foreign_sqlite_files_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as raw:
        raw.execute("CREATE TABLE t (x)")
    raw.close()
    with pytest.raises(WrongDatabase, match="not a Samizdat notebook file"):
        open_database(other, NEW)
    notebook = tmp_path / "notes.sqlite"
    open_database(notebook, NEW).close()
    with pytest.raises(WrongDatabase, match="not a Samizdat datastore file"):
        BlockStore.open(notebook, StoreConfig(size_bytes=10**6))


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "datastore.sqlite"
    path.write_bytes(b"this is a shopping list, not a database\n" * 200)
    with pytest.raises(DatabaseCorrupt, match="Move it aside"):
        BlockStore.open(path, StoreConfig(size_bytes=10**6))


def test_a_newer_datastore_is_refused(tmp_path: Path, small_config: StoreConfig) -> None:
    path = tmp_path / "datastore.sqlite"
    BlockStore.open(path, small_config).close()
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 7")
    raw.close()
    with pytest.raises(SchemaTooNew, match="upgrade Samizdat"):
        BlockStore.open(path, small_config)


@pytest.fixture
def filled(tmp_path: Path, chks: list[Block]) -> Path:
    path = tmp_path / "datastore.sqlite"
    with BlockStore.open(path, StoreConfig(size_bytes=10**7)) as store:
        store.put_many(chks[:12], Area.STORE)
    return path


def test_a_truncated_datastore_is_refused_at_open(filled: Path) -> None:
    data = filled.read_bytes()
    filled.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatabaseCorrupt, match="damaged"):
        BlockStore.open(filled, StoreConfig(size_bytes=10**7))


def test_a_damaged_first_page_is_refused_at_open(filled: Path) -> None:
    data = bytearray(filled.read_bytes())
    data[100:4096] = random.Random(1).randbytes(3996)
    filled.write_bytes(bytes(data))
    with pytest.raises(DatabaseCorrupt, match="damaged"):
        BlockStore.open(filled, StoreConfig(size_bytes=10**7))


@pytest.mark.parametrize("seed", range(12))
def test_random_overwrites_give_a_clear_error_or_correct_blocks(
    filled: Path, chks: list[Block], seed: int
) -> None:
    """Never a crash deeper inside: either open refuses, or each get is right or None."""
    rng = random.Random(seed)
    data = bytearray(filled.read_bytes())
    for _ in range(3):
        start = rng.randrange(len(data) - 256)
        data[start : start + 256] = rng.randbytes(256)
    filled.write_bytes(bytes(data))
    try:
        store = BlockStore.open(filled, StoreConfig(size_bytes=10**7))
    except DatabaseError:
        return
    with store:
        for block in chks[:12]:
            try:
                got = store.get(block.routing_key)
            except DatabaseCorrupt:
                continue  # a clear, typed error is acceptable; any other exception is not
            assert got is None or got == block


def test_a_version_2_datastore_migrates_to_the_far_index_without_seq(
    tmp_path: Path, chks: list[Block]
) -> None:
    """Version 3 only redefines ``placement_far``; blocks, placement rows and LRU order stay."""
    path = tmp_path / "datastore.sqlite"
    version_2 = datastore_schema_at(2)
    write_old_file(path, [(b, Area.STORE) for b in chks[:3]], datastore_schema_at(5))
    with sqlite3.connect(path) as raw:  # back to how version 2 left the file
        placement = raw.execute("SELECT * FROM placement ORDER BY id").fetchall()
        raw.execute("DROP INDEX placement_far")
        raw.execute("CREATE INDEX placement_far ON placement (area, bucket, seq)")
        raw.execute("PRAGMA user_version = 2")
    raw.close()
    open_database(path, version_2).close()  # a version 2 reader opens it as its own
    BlockStore.open(path, StoreConfig(size_bytes=6 * CHK)).close()
    assert version_of(path) == DATASTORE_SCHEMA.version
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT * FROM placement ORDER BY id").fetchall() == placement
        (sql,) = raw.execute(
            "SELECT sql FROM sqlite_schema WHERE name = 'placement_far'"
        ).fetchone()
    raw.close()
    assert sql == "CREATE INDEX placement_far ON placement (bucket) WHERE area = 1"  # v5
    with BlockStore.open(path, StoreConfig(size_bytes=6 * CHK)) as store:
        assert [store.get(b.routing_key) for b in chks[:3]] == chks[:3]


def _index_sql(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as raw:
        rows = raw.execute("SELECT name, sql FROM sqlite_schema WHERE type = 'index'").fetchall()
    raw.close()
    return {name: sql for name, sql in rows if sql is not None}


def test_a_version_4_datastore_migrates_to_one_eviction_index_per_area(
    tmp_path: Path, chks: list[Block]
) -> None:
    """Version 5 only redefines the two placement indexes; rows, LRU and eviction order stay."""
    path = tmp_path / "datastore.sqlite"
    version_4 = datastore_schema_at(4)
    config = StoreConfig(size_bytes=6 * CHK)  # three CHK blocks an area
    placed = [(b, Area.STORE) for b in chks[3:6]] + [(chks[n], Area.CACHE) for n in (1, 2, 0)]
    write_old_file(path, placed, datastore_schema_at(5))  # chks[1]: least recently used
    with sqlite3.connect(path) as raw:  # back to how version 4 left the file
        placement = raw.execute("SELECT * FROM placement ORDER BY id").fetchall()
        raw.execute("DROP INDEX placement_lru")
        raw.execute("DROP INDEX placement_far")
        raw.execute("CREATE INDEX placement_lru ON placement (area, seq)")
        raw.execute("CREATE INDEX placement_far ON placement (area, bucket)")
        raw.execute("PRAGMA user_version = 4")
    raw.close()
    open_database(path, version_4).close()  # a version 4 reader opens it as its own
    BlockStore.open(path, config, location=0.0).close()
    assert version_of(path) == DATASTORE_SCHEMA.version == 6
    assert _index_sql(path) == {
        "placement_lru": "CREATE INDEX placement_lru ON placement (seq) WHERE area = 2",
        "placement_far": "CREATE INDEX placement_far ON placement (bucket) WHERE area = 1",
        "blocks_slot": "CREATE UNIQUE INDEX blocks_slot ON blocks (slot) WHERE slot IS NOT NULL",
    }
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT * FROM placement ORDER BY id").fetchall() == placement
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    raw.close()
    with BlockStore.open(path, config, location=0.0) as store:
        # The cache still evicts least recently used first: chks[1].
        assert store.put(chks[6], Area.CACHE).evicted == 1
        assert not store.contains(chks[1].routing_key)
        # The store still evicts the block farthest from its location first.
        farthest = max(
            chks[3:6], key=lambda b: distance(bucket_centre(bucket_of(b.routing_key)), 0.0)
        )
        assert store.put(chks[7], Area.STORE).evicted == 1
        assert not store.contains(farthest.routing_key)
        assert [store.get(b.routing_key) for b in (chks[0], chks[2], chks[6])] == [
            chks[0],
            chks[2],
            chks[6],
        ]
    with pytest.raises(SchemaTooNew, match="schema version 6; this version reads up to 4"):
        open_database(path, version_4).close()
