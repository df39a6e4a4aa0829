"""Client-side key operations: generating SSKs, deriving KSKs, and insert helpers.

Nodes never call these: they need only routing keys and :mod:`crypto.blocks`.
"""

from crypto.blocks import Block, KeyKind
from crypto.chk import decode_chk, encode_chk
from crypto.errors import InvalidKey
from crypto.primitives import hash_for, random_bytes, sign_public_key
from crypto.ssk import decode_ssk, encode_ssk, pubkey_hash
from crypto.uri import CHKURI, KSKURI, SSKURI, URI, USKURI, Extra

KSK_PRIVATE_CONTEXT = "samizdat/ksk-private-key/v1"
KSK_CRYPTO_CONTEXT = "samizdat/ksk-crypto-key/v1"


def generate_ssk(seed: bytes | None = None) -> tuple[SSKURI, SSKURI]:
    """A fresh SSK: ``(request URI, insert URI)``, both with an empty docname.

    ``seed`` (64 bytes) makes the result reproducible, for tests and vectors.
    """
    material = random_bytes(64) if seed is None else seed
    private = hash_for("samizdat/ssk-generate-private/v1", material)
    crypto_key = hash_for("samizdat/ssk-generate-crypto/v1", material)
    insert = SSKURI(key=private, crypto_key=crypto_key, extra=Extra(insert=True))
    return insert.public(), insert


def ksk_as_ssk(uri: KSKURI) -> SSKURI:
    """The insert SSK behind a keyword: anyone who knows the word can derive it."""
    word = uri.keyword.encode("utf-8")
    return SSKURI(
        key=hash_for(KSK_PRIVATE_CONTEXT, word),
        crypto_key=hash_for(KSK_CRYPTO_CONTEXT, word),
        extra=Extra(insert=True),
        docname=uri.keyword,
        path=uri.path,
    )


def ksk_routing_key(uri: KSKURI) -> bytes:
    return ksk_as_ssk(uri).routing_key


def insert_chk(data: bytes, *, metadata: bool = False) -> tuple[Block, CHKURI]:
    """Encode one CHK block and the URI that fetches it."""
    block, key = encode_chk(data)
    return block, CHKURI(
        routing_key=block.routing_key, decryption_key=key, extra=Extra(metadata=metadata)
    )


def insert_ssk(uri: SSKURI, data: bytes) -> Block:
    """Encode ``data`` as the document an insert URI names."""
    if not uri.is_insert:
        raise InvalidKey("inserting needs the insert (private) form of the SSK")
    return encode_ssk(uri.key, uri.crypto_key, uri.docname, data)


def ssk_public_key_hash(private_key: bytes) -> bytes:
    return pubkey_hash(sign_public_key(private_key))


def request_key(uri: URI) -> tuple[KeyKind, bytes]:
    """The block kind and routing key a node is asked for to fetch ``uri``.

    A USK must name a non-negative edition here; searching is the client's job.
    """
    if isinstance(uri, CHKURI):
        if uri.routing_key is None:
            raise InvalidKey("CHK@ without keys is an insert form; it names no block")
        return KeyKind.CHK, uri.routing_key
    return KeyKind.SSK, _as_ssk(uri).routing_key


def decode_block(uri: URI, block: Block) -> bytes:
    """Verify and decrypt the block a URI names, with the URI's keys."""
    if isinstance(uri, CHKURI):
        if uri.decryption_key is None:
            raise InvalidKey("CHK@ without keys cannot decrypt anything")
        return decode_chk(block, uri.decryption_key)
    ssk = _as_ssk(uri).public()
    return decode_ssk(block, ssk.crypto_key, ssk.docname)


def _as_ssk(uri: SSKURI | USKURI | KSKURI) -> SSKURI:
    if isinstance(uri, KSKURI):
        return ksk_as_ssk(uri)
    if isinstance(uri, USKURI):
        return uri.to_ssk()
    return uri


__all__ = [
    "Block",
    "KeyKind",
    "decode_block",
    "generate_ssk",
    "insert_chk",
    "insert_ssk",
    "ksk_as_ssk",
    "ksk_routing_key",
    "request_key",
    "ssk_public_key_hash",
]
