"""Client-side encryption: the splitfile keystream and sealing data kept on disk.

Two uses, each under its own domain-separation context:

* **Splitfile keystream.** Under SSK, USK and KSK keys the payload of a file is
  XORed with a keystream from a random 32-byte key before it is cut into CHK
  blocks, so someone who knows the content cannot compute its block keys and
  recognise the blocks in their store or on the wire. Block *i* (32 KiB) uses
  the XChaCha20 keystream of nonce ``H("samizdat/client-splitfile-nonce/v1",
  i as 8 bytes)[:24]``. The key travels in the file's metadata, which is reached
  only through the signed key. Integrity comes from the CHKs and the whole-file
  hash, so the keystream needs no tag of its own.
* **Sealing.** Data the request manager keeps on disk (queued uploads, fetched
  blocks of an unfinished download, finished downloads waiting to be collected,
  URIs) is sealed with XChaCha20-Poly1305 under the client database's master
  key and a random nonce, bound to a label saying what it is.
"""

from __future__ import annotations

import blake3

from crypto.primitives import (
    AEAD_NONCE_SIZE,
    AEAD_TAG_SIZE,
    aead_decrypt,
    aead_encrypt,
    hash_for,
    random_bytes,
)

CONTENT_HASH_CONTEXT = "samizdat/client-content-hash/v1"
NONCE_CONTEXT = "samizdat/client-splitfile-nonce/v1"
SEAL_CONTEXT = "samizdat/client-seal-key/v1"
KEY_SIZE = 32


def new_key() -> bytes:
    """A fresh random 32-byte key."""
    return random_bytes(KEY_SIZE)


def keystream_xor(key: bytes, index: int, data: bytes) -> bytes:
    """``data`` XOR the keystream of block ``index`` under ``key`` (its own inverse)."""
    nonce = hash_for(NONCE_CONTEXT, index.to_bytes(8, "big"))[:AEAD_NONCE_SIZE]
    # XChaCha20-Poly1305's ciphertext is the plaintext XOR the XChaCha20 keystream
    # (the tag follows it), so encrypting ``data`` and dropping the tag is the XOR,
    # done in one libsodium call instead of two big-integer conversions.
    return aead_encrypt(key, nonce, data)[: len(data)]


def seal(master_key: bytes, label: str, plaintext: bytes) -> bytes:
    """Encrypt ``plaintext`` for storage: ``nonce || ciphertext || tag``."""
    nonce = random_bytes(AEAD_NONCE_SIZE)
    key = hash_for(SEAL_CONTEXT, master_key)
    return nonce + aead_encrypt(key, nonce, plaintext, label.encode("utf-8"))


def unseal(master_key: bytes, label: str, sealed: bytes) -> bytes:
    """Inverse of :func:`seal`; raises :class:`~crypto.errors.DecryptionFailed`."""
    if len(sealed) < AEAD_NONCE_SIZE + AEAD_TAG_SIZE:
        from crypto.errors import DecryptionFailed

        raise DecryptionFailed("the sealed record is truncated")
    key = hash_for(SEAL_CONTEXT, master_key)
    nonce, body = sealed[:AEAD_NONCE_SIZE], sealed[AEAD_NONCE_SIZE:]
    return aead_decrypt(key, nonce, body, label.encode("utf-8"))


def content_hash(data: bytes) -> bytes:
    """The whole-file hash written in metadata: BLAKE3 under its own context."""
    return hash_for(CONTENT_HASH_CONTEXT, data)


class ContentHasher:
    """:func:`content_hash` computed piece by piece while a download streams.

    The same BLAKE3 derive-key mode as :func:`crypto.primitives.hash_for` (so the
    results are equal); the crypto facade has no incremental hasher yet.
    """

    def __init__(self) -> None:
        self._h = blake3.blake3(derive_key_context=CONTENT_HASH_CONTEXT)

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def digest(self) -> bytes:
        return bytes(self._h.digest())
