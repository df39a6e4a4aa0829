"""The client database: persistent requests, their blobs and the USK edition cache.

One SQLite file (``client.db`` in the node's data directory) opened with
:func:`store.schema.open_database`, so it shares the datastore's identity
checks, WAL settings and migration table. Nothing in it is readable without
the master key (``client.key`` beside it, or wherever the node keeps it):

* rows are found by a keyed hash of the request identifier (identifiers often
  carry file names), never the identifier itself;
* every record, upload, result and cached block is sealed with
  XChaCha20-Poly1305 under the master key (:func:`node.client.crypt.seal`);
* cached blocks and insert marks are keyed by a keyed hash of the routing key,
  so someone holding a known file cannot test whether it is being moved.

Deleting the key file makes the whole database unreadable at once.

Layout (schema version 1)::

    requests(id BLOB PRIMARY KEY, seq INTEGER, record BLOB)   -- sealed CBOR record
    blobs(id BLOB, name TEXT, data BLOB, PRIMARY KEY(id, name)) -- sealed uploads/results
    blocks(id BLOB, key BLOB, data BLOB, PRIMARY KEY(id, key))  -- sealed fetched block,
                                                                -- or NULL: "inserted"
    editions(key BLOB PRIMARY KEY, record BLOB)                 -- sealed (usk, edition)
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import cbor2

from crypto.primitives import keyed_hash, random_bytes
from node.client.crypt import seal, unseal
from store.schema import Migration, Schema, Synchronous, open_database, sql_steps

APPLICATION_ID = 0x535A_434C  # "SZCL"
KEY_SIZE = 32

SCHEMA = Schema(
    name="client state",
    application_id=APPLICATION_ID,
    migrations=(
        Migration(
            1,
            "requests, blobs, blocks and editions",
            sql_steps(
                "CREATE TABLE requests (id BLOB PRIMARY KEY, seq INTEGER NOT NULL, "
                "record BLOB NOT NULL)",
                "CREATE TABLE blobs (id BLOB NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL, "
                "PRIMARY KEY (id, name))",
                "CREATE TABLE blocks (id BLOB NOT NULL, key BLOB NOT NULL, data BLOB, "
                "PRIMARY KEY (id, key))",
                "CREATE TABLE editions (key BLOB PRIMARY KEY, record BLOB NOT NULL)",
            ),
        ),
    ),
    damaged_hint=" (persistent requests in it are lost; the datastore is not affected)",
)


def load_or_create_key(path: Path) -> bytes:
    """The master key in ``path`` (created, mode 0600, if absent)."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = random_bytes(KEY_SIZE)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        return key
    if len(key) != KEY_SIZE:
        raise ValueError(f"{path} is not a client key file ({len(key)} bytes, expected 32)")
    return key


class ClientDatabase:
    """Sealed storage for the request manager. Blocking calls: each is one short query."""

    def __init__(self, path: Path | None, master_key: bytes) -> None:
        if len(master_key) != KEY_SIZE:
            raise ValueError("the client master key is 32 bytes")
        self.key = master_key
        if path is None:
            self.conn = sqlite3.connect(":memory:", isolation_level=None)
            SCHEMA.migrations[0].apply(self.conn)
        else:
            self.conn = open_database(path, SCHEMA, synchronous=Synchronous.NORMAL)

    def close(self) -> None:
        self.conn.close()

    def _id(self, identifier: str) -> bytes:
        return keyed_hash(self.key, b"request\x00" + identifier.encode("utf-8"))

    def _block_id(self, routing_key: bytes) -> bytes:
        return keyed_hash(self.key, b"block\x00" + routing_key)

    # requests

    def save_request(self, identifier: str, seq: int, record: dict[str, object]) -> None:
        sealed = seal(self.key, "request", cbor2.dumps(record))
        self.conn.execute(
            "INSERT OR REPLACE INTO requests (id, seq, record) VALUES (?, ?, ?)",
            (self._id(identifier), seq, sealed),
        )

    def load_requests(self) -> Iterator[dict[str, object]]:
        rows = self.conn.execute("SELECT record FROM requests ORDER BY seq").fetchall()
        for (sealed,) in rows:
            record = cbor2.loads(unseal(self.key, "request", sealed))
            assert isinstance(record, dict)
            yield record

    def delete_request(self, identifier: str) -> None:
        rid = self._id(identifier)
        self.conn.execute("BEGIN IMMEDIATE")
        for table in ("requests", "blobs", "blocks"):
            self.conn.execute(f"DELETE FROM {table} WHERE id = ?", (rid,))
        self.conn.execute("COMMIT")

    # blobs

    def put_blob(self, identifier: str, name: str, data: bytes) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO blobs (id, name, data) VALUES (?, ?, ?)",
            (self._id(identifier), name, seal(self.key, "blob\x00" + name, data)),
        )

    def get_blob(self, identifier: str, name: str) -> bytes | None:
        row = self.conn.execute(
            "SELECT data FROM blobs WHERE id = ? AND name = ?", (self._id(identifier), name)
        ).fetchone()
        return None if row is None else unseal(self.key, "blob\x00" + name, row[0])

    def drop_blobs(self, identifier: str, prefix: str) -> None:
        self.conn.execute(
            "DELETE FROM blobs WHERE id = ? AND substr(name, 1, ?) = ?",
            (self._id(identifier), len(prefix), prefix),
        )

    # blocks of unfinished requests

    def put_block(self, identifier: str, routing_key: bytes, data: bytes | None) -> None:
        sealed = None if data is None else seal(self.key, "block", data)
        self.conn.execute(
            "INSERT OR REPLACE INTO blocks (id, key, data) VALUES (?, ?, ?)",
            (self._id(identifier), self._block_id(routing_key), sealed),
        )

    def get_block(self, identifier: str, routing_key: bytes) -> tuple[bool, bytes | None]:
        """``(known, data)``: data is ``None`` for an insert mark."""
        row = self.conn.execute(
            "SELECT data FROM blocks WHERE id = ? AND key = ?",
            (self._id(identifier), self._block_id(routing_key)),
        ).fetchone()
        if row is None:
            return False, None
        return True, None if row[0] is None else unseal(self.key, "block", row[0])

    def drop_blocks(self, identifier: str) -> None:
        self.conn.execute("DELETE FROM blocks WHERE id = ?", (self._id(identifier),))

    # USK editions

    def save_edition(self, usk: str, edition: int) -> None:
        key = keyed_hash(self.key, b"usk\x00" + usk.encode("utf-8"))
        record = seal(self.key, "edition", cbor2.dumps([usk, edition]))
        self.conn.execute(
            "INSERT OR REPLACE INTO editions (key, record) VALUES (?, ?)", (key, record)
        )

    def load_editions(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (sealed,) in self.conn.execute("SELECT record FROM editions"):
            usk, edition = cbor2.loads(unseal(self.key, "edition", sealed))
            out[str(usk)] = int(edition)
        return out
