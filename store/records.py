"""Sealing blocks for rest: row ids, per-key record keys and the record byte layout.

Layout of a record (``specs/store.md`` §Record layout)::

    0   suite   1               1 = XChaCha20-Poly1305 (crypto.primitives.aead_encrypt)
    1   kind    1               crypto.blocks.KeyKind
    2   nonce   24              random per write
    26  sealed  len(data) + 16   AEAD(block key, nonce, data, associated)

    row id     = H("samizdat/store-row-id/v1",    salt || routing key)
    block key  = H("samizdat/store-block-key/v1", salt || routing key)
    associated = "samizdat/store-record/v1\\0" || row id || record[0:26]

The row id lets a holder of a routing key find its row in one probe without the
file listing any key; the block key can be derived only from the full routing
key; the associated data binds each record to its row, so records cannot be
swapped, replayed into another row, or have their header changed.
"""

from dataclasses import dataclass

from crypto.blocks import Block, KeyKind
from crypto.errors import DecryptionFailed, InvalidBlock
from crypto.primitives import (
    AEAD_NONCE_SIZE,
    AEAD_TAG_SIZE,
    aead_decrypt,
    aead_encrypt,
    hash_for,
    random_bytes,
)

SALT_SIZE = 32
ROW_ID_CONTEXT = "samizdat/store-row-id/v1"
BLOCK_KEY_CONTEXT = "samizdat/store-block-key/v1"
ASSOCIATED_LABEL = b"samizdat/store-record/v1\x00"

SUITE_XCHACHA20_POLY1305 = 1
HEADER_SIZE = 2 + AEAD_NONCE_SIZE
# What sealing adds to a block's size: the header and the AEAD tag.
RECORD_OVERHEAD = HEADER_SIZE + AEAD_TAG_SIZE


class DamagedRecord(Exception):
    """A record failed authentication or has an unknown layout (internal to :mod:`store`)."""


@dataclass(frozen=True, slots=True)
class RowKeys:
    """What a routing key becomes inside one store: its row id and its record key."""

    row_id: bytes
    block_key: bytes


def row_keys(salt: bytes, routing_key: bytes) -> RowKeys:
    """The row id and block key of ``routing_key`` in the store salted with ``salt``."""
    return RowKeys(
        row_id=hash_for(ROW_ID_CONTEXT, salt, routing_key),
        block_key=hash_for(BLOCK_KEY_CONTEXT, salt, routing_key),
    )


def seal(keys: RowKeys, block: Block) -> bytes:
    """The record that holds ``block`` at rest in the row ``keys.row_id``."""
    header = bytes((SUITE_XCHACHA20_POLY1305, block.kind)) + random_bytes(AEAD_NONCE_SIZE)
    associated = ASSOCIATED_LABEL + keys.row_id + header
    return header + aead_encrypt(keys.block_key, header[2:], block.data, associated)


def unseal(keys: RowKeys, routing_key: bytes, record: bytes) -> Block:
    """The block a record holds.

    Raises:
        DamagedRecord: the record was altered, moved from another row, or is of
            a suite or kind this version does not know.
    """
    if len(record) < RECORD_OVERHEAD or record[0] != SUITE_XCHACHA20_POLY1305:
        raise DamagedRecord("the record is too short or of an unknown suite")
    try:
        kind = KeyKind(record[1])
    except ValueError:
        raise DamagedRecord("the record names an unknown block kind") from None
    header = record[:HEADER_SIZE]
    associated = ASSOCIATED_LABEL + keys.row_id + header
    try:
        data = aead_decrypt(keys.block_key, header[2:], record[HEADER_SIZE:], associated)
        return Block(kind, routing_key, data)
    except (DecryptionFailed, InvalidBlock) as exc:
        raise DamagedRecord(str(exc)) from None
