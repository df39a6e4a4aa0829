"""The datastore's schema: the migrations that take its file from each version to the next.

``specs/store.md`` §Schema versions and migration holds the table of versions
and why each exists. A shipped migration is never edited; a change is a new
migration (:mod:`store.schema` runs the missing ones in one transaction).
"""

import sqlite3

from crypto.primitives import random_bytes
from store.records import SALT_SIZE
from store.schema import Migration, Schema, sql_steps

APPLICATION_ID = 0x534D5A44  # "SMZD": a Samizdat datastore


def _create_v1(connection: sqlite3.Connection) -> None:
    sql_steps(
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
        "CREATE TABLE blocks ("
        " id INTEGER PRIMARY KEY, row_id BLOB NOT NULL UNIQUE, record BLOB NOT NULL)",
        "CREATE TABLE placement ("
        " id INTEGER PRIMARY KEY, area INTEGER NOT NULL, bucket INTEGER NOT NULL,"
        " seq INTEGER NOT NULL, size INTEGER NOT NULL)",
        "CREATE INDEX placement_lru ON placement (area, seq)",
        "CREATE INDEX placement_far ON placement (area, bucket, seq)",
    )(connection)
    connection.execute("INSERT INTO meta VALUES ('salt', ?)", (random_bytes(SALT_SIZE),))


def _allow_suite_2(connection: sqlite3.Connection) -> None:
    """Version 2 changes no table: from it on, records may be sealed with suite 2 (AEGIS-256).

    The version bump is what matters: a Samizdat that knows only suite 1 would
    take suite 2 records for damaged ones and drop them, so it must refuse the
    file (``SchemaTooNew``) instead. Suite 1 records are not rewritten: they are
    read as they are and replaced as the areas turn over (``specs/store.md``).
    """
    del connection


def _far_index_by_bucket(connection: sqlite3.Connection) -> None:
    """Version 3: ``placement_far`` indexes (area, bucket), no longer seq.

    Every LRU mark changes ``seq``, so with seq in both indexes each mark moved
    its row in two of them; now only in ``placement_lru``, which measured 2.6 ->
    1.6 µs of CPU a mark (``specs/store.md`` §Schema versions). Store eviction
    still orders ties in a bucket by seq: SQLite sorts each bucket's few rows.
    """
    sql_steps(
        "DROP INDEX placement_far",
        "CREATE INDEX placement_far ON placement (area, bucket)",
    )(connection)


def _allow_suite_3(connection: sqlite3.Connection) -> None:
    """Version 4 changes no table: from it on, records are sealed with suite 3 (AEGIS-128L).

    As for version 2, the bump makes an older Samizdat, which would drop suite 3
    records as damaged, refuse the file instead. Suite 1 and 2 records are read
    as they are and replaced as the areas turn over (``specs/store.md``).
    """
    del connection


def _placement_indexes_per_area(connection: sqlite3.Connection) -> None:
    """Version 5: each area's eviction index covers that area's rows only (partial indexes).

    The cache evicts by ``seq`` alone and the store by ``bucket`` (ties by seq,
    which SQLite sorts per bucket), so each put now adds one index entry instead
    of two, and an LRU mark on a store-area block moves no index entry at all.
    Drop and re-create: one scan of the small ``placement`` rows, no record is
    read (``specs/store.md`` §Schema versions).
    """
    sql_steps(
        "DROP INDEX placement_lru",
        "DROP INDEX placement_far",
        "CREATE INDEX placement_lru ON placement (seq) WHERE area = 2",  # the cache
        "CREATE INDEX placement_far ON placement (bucket) WHERE area = 1",  # the store
    )(connection)


def _records_in_slots(connection: sqlite3.Connection) -> None:
    """Version 6: full-size CHK records live in the slot file; ``blocks.slot`` names the slot.

    A row with a slot holds an empty ``record``; a row without one (every row
    of an older file, and every SSK) keeps its record inline, and reads handle
    both. Nothing is rewritten: ``ADD COLUMN`` changes only the table's
    definition, and old records move out as the areas turn over. The partial
    unique index makes a slot named twice impossible, and lets the open read
    the slots in use without touching the records (``specs/store.md``).
    """
    sql_steps(
        "ALTER TABLE blocks ADD COLUMN slot INTEGER",
        "CREATE UNIQUE INDEX blocks_slot ON blocks (slot) WHERE slot IS NOT NULL",
    )(connection)


DATASTORE_SCHEMA = Schema(
    name="datastore",
    application_id=APPLICATION_ID,
    migrations=(
        Migration(1, "blocks, placement and the per-store salt", _create_v1),
        Migration(2, "records may be sealed with AEGIS-256 (suite 2)", _allow_suite_2),
        Migration(3, "placement_far without seq: cheaper LRU marks", _far_index_by_bucket),
        Migration(4, "records are sealed with AEGIS-128L (suite 3)", _allow_suite_3),
        Migration(5, "one eviction index per area (partial indexes)", _placement_indexes_per_area),
        Migration(6, "full-size CHK records in the slot file", _records_in_slots),
    ),
    damaged_hint=(
        " (the datastore only holds copies of network data: a fresh, empty one loses nothing"
        " that cannot be fetched again)"
    ),
)
