"""The datastore: an encrypted, size-bounded, crash-safe block store on SQLite.

``BlockStore`` is the synchronous core, ``AsyncBlockStore`` its face for the
anyio runtime; ``specs/store.md`` describes the file byte by byte.
"""

from store.async_store import AsyncBlockStore
from store.block_store import DATASTORE_SCHEMA, BlockStore
from store.errors import (
    DatabaseCorrupt,
    DatabaseError,
    RejectedBlock,
    SchemaTooNew,
    StoreClosed,
    StoreError,
    StoreInUse,
    WouldBlock,
    WrongDatabase,
)
from store.schema import Synchronous
from store.values import Area, AreaStats, PutOutcome, PutResult, StoreConfig, StoreStats

__all__ = [
    "DATASTORE_SCHEMA",
    "Area",
    "AreaStats",
    "AsyncBlockStore",
    "BlockStore",
    "DatabaseCorrupt",
    "DatabaseError",
    "PutOutcome",
    "PutResult",
    "RejectedBlock",
    "SchemaTooNew",
    "StoreClosed",
    "StoreConfig",
    "StoreError",
    "StoreInUse",
    "StoreStats",
    "Synchronous",
    "WouldBlock",
    "WrongDatabase",
]
