"""Sealing blocks for rest: row ids, per-key record keys and the record byte layouts.

Layouts (``specs/store.md`` §Record layout). New records are written in suite 3;
suite 1 and 2 records (schema version 1-3 files) are still read::

    suite 3 (AEGIS-128L, crypto.primitives.aegis128l_encrypt)
    0   suite   1               3
    1   kind    1               crypto.blocks.KeyKind
    2   nonce   16              random per write
    18  sealed  len(data) + 32  AEAD(block key v3, nonce, data, associated)

    suite 2 (AEGIS-256, crypto.primitives.fast_aead_encrypt)
    0   suite   1               2
    1   kind    1               crypto.blocks.KeyKind
    2   nonce   32              random per write
    34  sealed  len(data) + 32  AEAD(block key v2, nonce, data, associated)

    suite 1 (XChaCha20-Poly1305, crypto.primitives.aead_encrypt)
    0   suite   1               1
    1   kind    1               crypto.blocks.KeyKind
    2   nonce   24              random per write
    26  sealed  len(data) + 16  AEAD(block key v1, nonce, data, associated)

    row id       = H("samizdat/store-row-id/v1",    salt || routing key)
    block key v1 = H("samizdat/store-block-key/v1", salt || routing key)
    block key v2 = H("samizdat/store-block-key/v2", salt || routing key)
    block key v3 = H("samizdat/store-block-key/v3", salt || routing key)[:16]
    associated   = "samizdat/store-record/v1\\0" || row id || header

where ``header`` is the record up to the sealed part. The row id lets a holder of
a routing key find its row in one probe without the file listing any key; the
block keys can be derived only from the full routing key (one per suite, so no
key is ever used with two ciphers); the associated data binds each record to its
row, so records cannot be swapped, replayed into another row, or have their
header changed.
"""

from crypto.blocks import Block, KeyKind
from crypto.errors import DecryptionFailed, InvalidBlock
from crypto.primitives import (
    AEAD_NONCE_SIZE,
    AEAD_TAG_SIZE,
    AEGIS128L_KEY_SIZE,
    AEGIS128L_NONCE_SIZE,
    AEGIS128L_TAG_SIZE,
    FAST_AEAD_NONCE_SIZE,
    FAST_AEAD_TAG_SIZE,
    aead_decrypt,
    aegis128l_decrypt,
    aegis128l_encrypt,
    fast_aead_decrypt,
    hash_for,
    random_bytes,
)

SALT_SIZE = 32
ROW_ID_CONTEXT = "samizdat/store-row-id/v1"
BLOCK_KEY_V1_CONTEXT = "samizdat/store-block-key/v1"
BLOCK_KEY_V2_CONTEXT = "samizdat/store-block-key/v2"
BLOCK_KEY_V3_CONTEXT = "samizdat/store-block-key/v3"
ASSOCIATED_LABEL = b"samizdat/store-record/v1\x00"

SUITE_XCHACHA20_POLY1305 = 1  # read only: schema version 1 wrote it
SUITE_AEGIS256 = 2  # read only: schema versions 2 and 3 wrote it
SUITE_AEGIS128L = 3  # written since schema version 4
SUITE_WRITTEN = SUITE_AEGIS128L

# suite -> (header size, tag size, block key context)
_SUITES = {
    SUITE_XCHACHA20_POLY1305: (2 + AEAD_NONCE_SIZE, AEAD_TAG_SIZE, BLOCK_KEY_V1_CONTEXT),
    SUITE_AEGIS256: (2 + FAST_AEAD_NONCE_SIZE, FAST_AEAD_TAG_SIZE, BLOCK_KEY_V2_CONTEXT),
    SUITE_AEGIS128L: (2 + AEGIS128L_NONCE_SIZE, AEGIS128L_TAG_SIZE, BLOCK_KEY_V3_CONTEXT),
}
HEADER_SIZE = 2 + AEGIS128L_NONCE_SIZE
# What sealing adds to a block's size in the suite written now: header and tag.
RECORD_OVERHEAD = HEADER_SIZE + AEGIS128L_TAG_SIZE
_KINDS = {int(kind): kind for kind in KeyKind}


class DamagedRecord(Exception):
    """A record failed authentication or has an unknown layout (internal to :mod:`store`)."""


def row_id(salt: bytes, routing_key: bytes) -> bytes:
    """The id of ``routing_key``'s row in the store salted with ``salt``."""
    return hash_for(ROW_ID_CONTEXT, salt + routing_key)  # one part hashes fastest


def record_nonces(count: int) -> list[bytes]:
    """``count`` fresh random nonces for :func:`seal`, drawn in one system call."""
    pool = random_bytes(AEGIS128L_NONCE_SIZE * count)
    return [pool[i : i + AEGIS128L_NONCE_SIZE] for i in range(0, len(pool), AEGIS128L_NONCE_SIZE)]


def seal(salt: bytes, row: bytes, block: Block, nonce: bytes | None = None) -> bytes:
    """The record that holds ``block`` at rest in the row ``row`` (always the newest suite).

    ``nonce`` is the record's fresh random nonce, for a caller that draws the
    nonces of a whole batch at once (one system call, not one per block).
    """
    if nonce is None:
        nonce = random_bytes(AEGIS128L_NONCE_SIZE)
    header = bytes((SUITE_AEGIS128L, block.kind)) + nonce
    key = hash_for(BLOCK_KEY_V3_CONTEXT, salt + block.routing_key)[:AEGIS128L_KEY_SIZE]
    associated = ASSOCIATED_LABEL + row + header
    return aegis128l_encrypt(key, nonce, block.data, associated, prefix=header)


def unseal(salt: bytes, row: bytes, routing_key: bytes, record: bytes | memoryview) -> Block:
    """The block a record of any suite holds (``record`` may be a view into the slot file).

    Authentication proves the record was sealed for this row by someone holding
    the routing key, unchanged since (``specs/store.md`` §Why a get does not
    re-verify).

    Raises:
        DamagedRecord: the record was altered, moved from another row, or is of
            a suite or kind this version does not know.
    """
    suite = _SUITES.get(record[0]) if record else None
    if suite is None or len(record) < suite[0] + suite[1]:
        raise DamagedRecord("the record is too short or of an unknown suite")
    header_size, _tag, context = suite
    kind = _KINDS.get(record[1])
    if kind is None:
        raise DamagedRecord("the record names an unknown block kind")
    header = bytes(record[:header_size])  # bytes even when the record is a memoryview
    associated = ASSOCIATED_LABEL + row + header
    key = hash_for(context, salt + routing_key)
    try:
        # AEGIS reads the sealed part in place, not copied.
        if record[0] == SUITE_AEGIS128L:
            sealed = memoryview(record)[header_size:]
            data = aegis128l_decrypt(key[:AEGIS128L_KEY_SIZE], header[2:], sealed, associated)
        elif record[0] == SUITE_AEGIS256:
            data = fast_aead_decrypt(key, header[2:], memoryview(record)[header_size:], associated)
        else:
            data = aead_decrypt(key, header[2:], bytes(record[header_size:]), associated)
        return Block(kind, routing_key, data)
    except (DecryptionFailed, InvalidBlock) as exc:
        why = str(exc)
    # Raised here, not in the handler: the failure's traceback (whose frames hold
    # the buffer the AEAD borrowed from a view of the record) is freed at once by
    # reference counting. A view that still lends its buffer must never be
    # cleared by the cycle collector: CPython 3.11 then crashes on freeing it.
    raise DamagedRecord(why)
