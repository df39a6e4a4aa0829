"""Signed subspace keys: small blocks only the holder of a private key can write.

Layout of an SSK block (1,198 bytes; ``specs/keys.md`` §SSK)::

    0     version     1   = 1
    1     suite       1   = 1 (Ed25519 + XChaCha20-Poly1305 + BLAKE3)
    2     reserved    2   = 0
    4     public key  32  Ed25519
    36    doc id      32  keyed_hash(crypto key, docname): hides the name
    68    nonce       24  derived from the plaintext (deterministic, SIV-like)
    92    ciphertext  1,042  AEAD(inner; associated = bytes 0..92)
    1134  signature   64  Ed25519 over "samizdat/ssk-signature/v1\\0" || bytes 0..1134

routing key = H("samizdat/ssk-routing-key/v1", doc id || H(public key)). A node
holding the block checks the routing key and the signature without learning the
document name or being able to decrypt; a requester who knows the URI (public key
hash, crypto key, docname) computes the routing key and decrypts.
"""

from dataclasses import dataclass

from crypto.blocks import Block, KeyKind
from crypto.errors import BadSignature, DecryptionFailed, InvalidBlock, InvalidKey
from crypto.padding import LENGTH_PREFIX, pad, unpad
from crypto.primitives import (
    AEAD_NONCE_SIZE,
    AEAD_TAG_SIZE,
    SIGNATURE_SIZE,
    aead_decrypt,
    aead_encrypt,
    hash_for,
    keyed_hash,
    sign,
    sign_public_key,
    verify_signature,
)

SSK_DATA_SIZE = 1024
VERSION = 1
SUITE = 1
PREFIX = bytes([VERSION, SUITE, 0, 0])
_PUB = slice(4, 36)
_DOC = slice(36, 68)
_NONCE = slice(68, 92)
HEADER_SIZE = 92
CIPHERTEXT_SIZE = SSK_DATA_SIZE + LENGTH_PREFIX + AEAD_TAG_SIZE
SIGNED_SIZE = HEADER_SIZE + CIPHERTEXT_SIZE
SSK_BLOCK_SIZE = SIGNED_SIZE + SIGNATURE_SIZE

PUBKEY_HASH_CONTEXT = "samizdat/ssk-pubkey-hash/v1"
ROUTING_CONTEXT = "samizdat/ssk-routing-key/v1"
DATA_KEY_CONTEXT = "samizdat/ssk-data-key/v1"
DOCNAME_LABEL = b"samizdat/ssk-docname/v1\x00"
NONCE_LABEL = b"samizdat/ssk-nonce/v1\x00"
SIGNATURE_LABEL = b"samizdat/ssk-signature/v1\x00"


@dataclass(frozen=True, slots=True)
class SSKBlockFields:
    """The parts of an SSK block a node can see (everything but the plaintext)."""

    public_key: bytes
    doc_id: bytes
    nonce: bytes
    ciphertext: bytes
    signature: bytes


def pubkey_hash(public_key: bytes) -> bytes:
    """The hash of an SSK's public key: the first field of its request URI."""
    return hash_for(PUBKEY_HASH_CONTEXT, public_key)


def doc_id(crypto_key: bytes, docname: str) -> bytes:
    """The keyed hash of a document name; without the crypto key it reveals nothing."""
    return keyed_hash(_check_crypto_key(crypto_key), DOCNAME_LABEL + docname.encode("utf-8"))


def routing_key_from(doc_id_: bytes, public_key_hash: bytes) -> bytes:
    """Routing key from a doc id and a public key hash (what nodes recompute)."""
    return hash_for(ROUTING_CONTEXT, doc_id_, public_key_hash)


def ssk_routing_key(public_key_hash: bytes, crypto_key: bytes, docname: str) -> bytes:
    """The routing key a requester computes from a request URI's parts."""
    if len(public_key_hash) != 32:
        raise InvalidKey("an SSK public key hash is 32 bytes")
    return routing_key_from(doc_id(crypto_key, docname), public_key_hash)


def data_key(crypto_key: bytes, docname: str) -> bytes:
    """The AEAD key for one document under an SSK."""
    return hash_for(DATA_KEY_CONTEXT, _check_crypto_key(crypto_key), docname.encode("utf-8"))


def encode_ssk(private_key: bytes, crypto_key: bytes, docname: str, data: bytes) -> Block:
    """Encrypt and sign ``data`` (≤ 1 KiB) as document ``docname`` of an SSK.

    Deterministic: the same key, name and data give the same block, so
    re-inserting identical content is never mistaken for a collision.
    """
    public = sign_public_key(private_key)
    did = doc_id(crypto_key, docname)
    key = data_key(crypto_key, docname)
    inner = pad(data, SSK_DATA_SIZE)
    nonce = keyed_hash(key, NONCE_LABEL + inner)[:AEAD_NONCE_SIZE]
    header = PREFIX + public + did + nonce
    signed = header + aead_encrypt(key, nonce, inner, header)
    block_data = signed + sign(private_key, SIGNATURE_LABEL + signed)
    return Block(KeyKind.SSK, routing_key_from(did, pubkey_hash(public)), block_data)


def parse_ssk(block_data: bytes) -> SSKBlockFields:
    """Split an SSK block into its fields, checking only sizes and version."""
    if len(block_data) != SSK_BLOCK_SIZE:
        raise InvalidBlock(f"an SSK block is {SSK_BLOCK_SIZE} bytes, not {len(block_data)}")
    if block_data[:4] != PREFIX:
        raise InvalidBlock("the SSK block has an unknown version or cipher suite")
    return SSKBlockFields(
        public_key=block_data[_PUB],
        doc_id=block_data[_DOC],
        nonce=block_data[_NONCE],
        ciphertext=block_data[HEADER_SIZE:SIGNED_SIZE],
        signature=block_data[SIGNED_SIZE:],
    )


def verify_ssk(routing_key: bytes, block_data: bytes) -> None:
    """Check an SSK block against a routing key: key binding, then signature.

    Raises:
        InvalidBlock: malformed, or bound to another routing key.
        BadSignature: the signature does not verify.
    """
    fields = parse_ssk(block_data)
    if routing_key_from(fields.doc_id, pubkey_hash(fields.public_key)) != routing_key:
        raise InvalidBlock("the SSK block does not match its routing key")
    if not verify_signature(
        fields.public_key, SIGNATURE_LABEL + block_data[:SIGNED_SIZE], fields.signature
    ):
        raise BadSignature("the SSK block's signature is not valid")


def decode_ssk(block: Block, crypto_key: bytes, docname: str) -> bytes:
    """Verify and decrypt an SSK block with the crypto key and docname of its URI."""
    verify_ssk(block.routing_key, block.data)
    if doc_id(crypto_key, docname) != block.data[_DOC]:
        raise DecryptionFailed("the SSK block is for another document name or crypto key")
    inner = aead_decrypt(
        data_key(crypto_key, docname),
        block.data[_NONCE],
        block.data[HEADER_SIZE:SIGNED_SIZE],
        block.data[:HEADER_SIZE],
    )
    return unpad(inner, SSK_DATA_SIZE)


def is_collision(existing: Block, new: Block) -> bool:
    """True when two valid blocks share a routing key but differ: an SSK collision."""
    return existing.routing_key == new.routing_key and existing.data != new.data


def _check_crypto_key(crypto_key: bytes) -> bytes:
    if len(crypto_key) != 32:
        raise InvalidKey(f"an SSK crypto key is 32 bytes, not {len(crypto_key)}")
    return crypto_key
