"""Opening Samizdat's SQLite files: pragmas, identity checks and versioned migrations.

Every SQLite file Samizdat keeps (the datastore; the node's client state) is
described by a :class:`Schema`: a name for messages, an ``application_id`` that
identifies the kind of file, and an ordered tuple of migrations where migration
*i* takes the file from version *i* to *i + 1* (version 0 is the empty file, so
creating a file is migrating it from 0). :func:`open_database` refuses foreign,
damaged and too-new files with errors that say what to do, and runs every missing
migration in one transaction together with the ``user_version`` bump, so that a
crash mid-migration leaves the old version intact. See ``specs/store.md``
§Schema versions and migration.
"""

import enum
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from store.errors import (
    DatabaseCorrupt,
    DatabaseError,
    SchemaTooNew,
    StoreInUse,
    WrongDatabase,
)

# How long a connection waits for another process's lock before giving up. The
# files are single-owner (EXCLUSIVE locking), so waiting longer only delays the
# "already in use" message.
BUSY_TIMEOUT_MS = 2_000


class Synchronous(enum.Enum):
    """How hard SQLite pushes each commit to disk (``PRAGMA synchronous`` in WAL mode)."""

    FULL = "FULL"  # fsync at every commit: an acknowledged write survives power loss
    NORMAL = "NORMAL"  # survives a killed process; power loss may drop the last commits


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of a schema's history: takes the file to ``version`` (from ``version - 1``)."""

    version: int
    description: str
    apply: Callable[[sqlite3.Connection], None]


@dataclass(frozen=True, slots=True)
class Schema:
    """A kind of Samizdat database file and its migration history."""

    name: str
    application_id: int
    migrations: tuple[Migration, ...]
    damaged_hint: str = ""  # appended to "move it aside and start again": what that costs

    def __post_init__(self) -> None:
        for index, migration in enumerate(self.migrations, start=1):
            if migration.version != index:
                raise ValueError(
                    f"{self.name}: migration {index} is labelled version {migration.version}; "
                    "migrations must be numbered 1, 2, 3, ... in order"
                )
        if not 0 < self.application_id < 2**31:
            raise ValueError("an application_id is a positive 32-bit signed integer")

    @property
    def version(self) -> int:
        """The version a file has after every migration has run."""
        return len(self.migrations)


def sql_steps(*statements: str) -> Callable[[sqlite3.Connection], None]:
    """A migration body that runs ``statements`` in order (inside the caller's transaction).

    ``executescript`` is not used because it commits first, which would split a
    migration from its version bump.
    """

    def apply(connection: sqlite3.Connection) -> None:
        for statement in statements:
            connection.execute(statement)

    return apply


def open_database(
    path: Path,
    schema: Schema,
    *,
    synchronous: Synchronous = Synchronous.FULL,
    check: bool = True,
) -> sqlite3.Connection:
    """Open (creating if absent) the SQLite file at ``path`` as ``schema``, migrated to its
    latest version.

    The connection is in autocommit mode (callers issue ``BEGIN IMMEDIATE`` and
    ``COMMIT`` themselves), WAL, exclusive locking, and may be used from any one
    thread at a time.

    Raises:
        DatabaseCorrupt: the file is not SQLite, or ``check`` found damage.
        WrongDatabase: the file belongs to another application or schema.
        SchemaTooNew: a newer Samizdat wrote the file.
        StoreInUse: another process has the file open.
    """
    try:
        connection = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, cached_statements=64
        )
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open {path}: {exc}; check the path and permissions") from exc
    try:
        _configure(connection, path, schema, synchronous)
        _check_identity(connection, path, schema)
        if check:
            _quick_check(connection, path, schema)
        _migrate(connection, path, schema)
    except UnicodeDecodeError as exc:
        # sqlite3 decodes SQLite's error text as UTF-8, and on a damaged file that
        # text can quote damaged bytes (a mangled table name): the file is damaged.
        connection.close()
        raise DatabaseCorrupt(
            f"{path} is damaged (SQLite reported an unreadable error: {exc}). Move it "
            f"aside and start again{schema.damaged_hint}"
        ) from exc
    except BaseException:
        connection.close()
        raise
    return connection


def _configure(
    connection: sqlite3.Connection, path: Path, schema: Schema, synchronous: Synchronous
) -> None:
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA locking_mode = EXCLUSIVE")
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        connection.execute(f"PRAGMA synchronous = {synchronous.value}")
    except sqlite3.Error as exc:
        raise _classify(exc, path, schema) from exc
    if str(mode).lower() != "wal":
        raise DatabaseError(
            f"{path}: SQLite could not switch the file to WAL mode (got {mode!r}); "
            "the file system may not support it: use a local disk for the data directory"
        )


def _check_identity(connection: sqlite3.Connection, path: Path, schema: Schema) -> None:
    try:
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        tables = connection.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    except sqlite3.Error as exc:
        raise _classify(exc, path, schema) from exc
    if application_id == 0 and version == 0 and tables == 0:
        return  # a new, empty file: _migrate creates it
    if application_id != schema.application_id:
        raise WrongDatabase(
            f"{path} is not a Samizdat {schema.name} file (application id {application_id:#x}, "
            f"expected {schema.application_id:#x}); check the path, or move that file aside"
        )
    if version > schema.version:
        raise SchemaTooNew(
            f"{path} was written by a newer Samizdat ({schema.name} schema version {version}; "
            f"this version reads up to {schema.version}): upgrade Samizdat to open it. "
            "The file has not been changed"
        )


def _quick_check(connection: sqlite3.Connection, path: Path, schema: Schema) -> None:
    try:
        rows = connection.execute("PRAGMA quick_check(5)").fetchall()
    except sqlite3.Error as exc:
        raise _classify(exc, path, schema) from exc
    problems = [str(row[0]) for row in rows]
    if problems != ["ok"]:
        raise DatabaseCorrupt(
            f"{path} is damaged ({'; '.join(problems)}). Move it aside and start again"
            f"{schema.damaged_hint}"
        )


def _migrate(connection: sqlite3.Connection, path: Path, schema: Schema) -> None:
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version == schema.version:
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            if version == 0:
                connection.execute(f"PRAGMA application_id = {schema.application_id}")
            for migration in schema.migrations[version:]:
                migration.apply(connection)
            connection.execute(f"PRAGMA user_version = {schema.version}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise _classify(exc, path, schema) from exc


def _classify(exc: sqlite3.Error, path: Path, schema: Schema) -> DatabaseError:
    """Turn an sqlite3 error met while opening into one of ours, worded for the operator."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # primary code of an extended one
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreInUse(
            f"{path} is in use by another process (is another node running with this data "
            "directory?); stop it or choose another data directory"
        )
    if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_IOERR):
        return DatabaseCorrupt(
            f"{path} is damaged or not an SQLite database ({exc}). Move it aside and start "
            f"again{schema.damaged_hint}"
        )
    return DatabaseError(f"{path}: {exc}")
