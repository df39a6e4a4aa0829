"""The errors :mod:`store` raises, each worded so the operator knows what to do next."""


class StoreError(Exception):
    """Base of every error the datastore raises."""


class RejectedBlock(StoreError, ValueError):
    """A block failed verification and was not written (the caller passed bad data)."""


class StoreClosed(StoreError):
    """The store was used after :meth:`~store.block_store.BlockStore.close`."""


class WouldBlock(StoreError):
    """:meth:`~store.block_store.BlockStore.get_nowait` cannot answer without waiting
    (for the disk, or for a commit): ask again with ``get`` or ``get_many``."""


class DatabaseError(StoreError):
    """A database file could not be opened or used; the message names the file."""


class DatabaseCorrupt(DatabaseError):
    """The file is not SQLite, or SQLite reports it damaged."""


class WrongDatabase(DatabaseError):
    """The file is an SQLite database, but not the kind of Samizdat file expected."""


class SchemaTooNew(DatabaseError):
    """The file was written by a newer Samizdat whose format this version cannot read."""


class StoreInUse(DatabaseError):
    """Another process (usually another node) holds the file open."""
