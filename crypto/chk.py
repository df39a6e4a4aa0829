"""Content hash keys: convergent-encrypted 32 KiB blocks named by their hash.

Layout of a CHK block (32,788 bytes; ``specs/keys.md`` §CHK)::

    0   version      1 byte   = 1
    1   suite        1 byte   = 1 (XChaCha20-Poly1305 + BLAKE3)
    2   ciphertext   32,786   AEAD(inner), inner = len(2) || data || zero padding

The decryption key is a hash of the content, so identical content always gives
the identical block and URI (convergence), and the routing key is a hash of the
whole block, so any node can verify a block against the key it asked for
without being able to read it.
"""

from crypto.blocks import Block, KeyKind
from crypto.errors import DecryptionFailed, InvalidBlock, InvalidKey
from crypto.padding import LENGTH_PREFIX, pad, unpad
from crypto.primitives import AEAD_NONCE_SIZE, AEAD_TAG_SIZE, aead_decrypt, aead_encrypt, hash_for

CHK_DATA_SIZE = 32 * 1024
VERSION = 1
SUITE = 1
HEADER = bytes([VERSION, SUITE])
CHK_BLOCK_SIZE = len(HEADER) + CHK_DATA_SIZE + LENGTH_PREFIX + AEAD_TAG_SIZE

KEY_CONTEXT = "samizdat/chk-key/v1"
ROUTING_CONTEXT = "samizdat/chk-routing-key/v1"
# Each decryption key is derived from, and encrypts, exactly one plaintext, so a
# fixed nonce never reuses a (key, nonce) pair across different messages.
_NONCE = bytes(AEAD_NONCE_SIZE)


def chk_decryption_key(data: bytes) -> bytes:
    """The convergent key of ``data``: what a CHK URI's second field carries."""
    return hash_for(KEY_CONTEXT, data)


def chk_routing_key(block_data: bytes) -> bytes:
    """The routing key of an encoded CHK block: BLAKE3 over header and ciphertext."""
    return hash_for(ROUTING_CONTEXT, block_data)


def encode_chk(data: bytes) -> tuple[Block, bytes]:
    """Encrypt ``data`` (≤ 32 KiB) into a CHK block; return it and its decryption key."""
    if len(data) > CHK_DATA_SIZE:
        raise InvalidBlock(f"a CHK block holds at most {CHK_DATA_SIZE} bytes, not {len(data)}")
    key = chk_decryption_key(data)
    block_data = HEADER + aead_encrypt(key, _NONCE, pad(data, CHK_DATA_SIZE), HEADER)
    return Block(KeyKind.CHK, chk_routing_key(block_data), block_data), key


def verify_chk(routing_key: bytes, block_data: bytes) -> None:
    """Raise :class:`InvalidBlock` unless ``block_data`` hashes to ``routing_key``."""
    if len(block_data) != CHK_BLOCK_SIZE:
        raise InvalidBlock(f"a CHK block is {CHK_BLOCK_SIZE} bytes, not {len(block_data)}")
    if block_data[:2] != HEADER:
        raise InvalidBlock("the CHK block has an unknown version or cipher suite")
    if chk_routing_key(block_data) != routing_key:
        raise InvalidBlock("the CHK block does not match its routing key")


def decode_chk(block: Block, decryption_key: bytes) -> bytes:
    """Verify and decrypt a CHK block with the key from its URI.

    Raises:
        InvalidBlock: the block does not match its routing key.
        DecryptionFailed: the key is wrong, or the content does not hash to it.
    """
    if len(decryption_key) != 32:
        raise InvalidKey("a CHK decryption key is 32 bytes")
    verify_chk(block.routing_key, block.data)
    inner = aead_decrypt(decryption_key, _NONCE, block.data[2:], HEADER)
    data = unpad(inner, CHK_DATA_SIZE)
    if chk_decryption_key(data) != decryption_key:
        raise DecryptionFailed("the CHK content does not match its key")
    return data
