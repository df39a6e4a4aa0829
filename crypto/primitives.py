"""The facade over libsodium (PyNaCl) and BLAKE3: bytes in, bytes out.

Every hash and derivation names a domain-separation context (``samizdat/<use>/v1``)
so that no two uses of BLAKE3 in Samizdat can ever produce comparable outputs.
Nothing here returns a PyNaCl or blake3 object.
"""

import functools
import os

import blake3
import nacl.bindings as sodium
import nacl.exceptions

from crypto.errors import DecryptionFailed, InvalidKey

HASH_SIZE = 32
AEAD_KEY_SIZE = 32
AEAD_NONCE_SIZE = 24  # XChaCha20-Poly1305: nonces this long may be random or derived
AEAD_TAG_SIZE = 16
SIGN_SEED_SIZE = 32
SIGN_PUBLIC_SIZE = 32
SIGNATURE_SIZE = 64
DH_KEY_SIZE = 32


def hash_for(context: str, *parts: bytes) -> bytes:
    """BLAKE3 in derive-key mode: a 32-byte digest of ``parts`` bound to ``context``.

    The parts are concatenated; callers must only join fixed-length parts or a
    single trailing variable part, so that the concatenation is unambiguous.
    """
    # The first part goes to the constructor: one call less (hashes of 64 bytes,
    # the store's row ids and record keys, are made on every get).
    h = blake3.blake3(parts[0] if parts else b"", derive_key_context=context)
    for part in parts[1:]:
        h.update(part)
    return h.digest()


def keyed_hash(key: bytes, *parts: bytes) -> bytes:
    """BLAKE3 keyed with a 32-byte secret: a MAC/PRF that only key holders can compute."""
    if len(key) != HASH_SIZE:
        raise InvalidKey(f"a BLAKE3 key is {HASH_SIZE} bytes, not {len(key)}")
    h = blake3.blake3(key=key)
    for part in parts:
        h.update(part)
    return bytes(h.digest())


def random_bytes(n: int) -> bytes:
    """``n`` bytes from the operating system's CSPRNG."""
    return os.urandom(n)


def aead_encrypt(key: bytes, nonce: bytes, plaintext: bytes, associated: bytes = b"") -> bytes:
    """XChaCha20-Poly1305 (IETF) encryption; returns ciphertext followed by the 16-byte tag."""
    _check_aead(key, nonce)
    return bytes(
        sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, associated, nonce, key)
    )


def aead_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, associated: bytes = b"") -> bytes:
    """Inverse of :func:`aead_encrypt`; raise :class:`DecryptionFailed` on any tampering."""
    _check_aead(key, nonce)
    try:
        return bytes(
            sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, associated, nonce, key)
        )
    except nacl.exceptions.CryptoError:
        raise DecryptionFailed("the data failed authentication: wrong key or tampered") from None


def _check_aead(key: bytes, nonce: bytes) -> None:
    if len(key) != AEAD_KEY_SIZE:
        raise InvalidKey(f"an encryption key is {AEAD_KEY_SIZE} bytes, not {len(key)}")
    if len(nonce) != AEAD_NONCE_SIZE:
        raise InvalidKey(f"a nonce is {AEAD_NONCE_SIZE} bytes, not {len(nonce)}")


@functools.lru_cache(maxsize=32)
def _expand_seed(seed: bytes) -> tuple[bytes, bytes]:
    """Ed25519 seed -> (public, secret); cached because expansion costs a scalar
    multiplication and a site insert signs many documents with one key."""
    if len(seed) != SIGN_SEED_SIZE:
        raise InvalidKey(f"an Ed25519 private key is {SIGN_SEED_SIZE} bytes, not {len(seed)}")
    public, secret = sodium.crypto_sign_seed_keypair(seed)
    return bytes(public), bytes(secret)


def sign_public_key(seed: bytes) -> bytes:
    """The Ed25519 public key of a 32-byte private seed."""
    return _expand_seed(seed)[0]


def sign(seed: bytes, message: bytes) -> bytes:
    """Deterministic Ed25519 signature (64 bytes) of ``message`` by ``seed``."""
    signed = sodium.crypto_sign(message, _expand_seed(seed)[1])
    return bytes(signed[:SIGNATURE_SIZE])


def verify_signature(public: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` by ``public``."""
    if len(public) != SIGN_PUBLIC_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        sodium.crypto_sign_open(signature + message, public)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError):
        return False
    return True


def dh_keypair(seed: bytes | None = None) -> tuple[bytes, bytes]:
    """An X25519 key pair ``(secret, public)``; random unless ``seed`` is given."""
    secret = random_bytes(DH_KEY_SIZE) if seed is None else hash_for("samizdat/x25519/v1", seed)
    return secret, bytes(sodium.crypto_scalarmult_base(secret))


def dh(secret: bytes, public: bytes) -> bytes:
    """X25519 shared secret; raise :class:`InvalidKey` for a low-order public key."""
    if len(secret) != DH_KEY_SIZE or len(public) != DH_KEY_SIZE:
        raise InvalidKey("an X25519 key is 32 bytes")
    try:
        return bytes(sodium.crypto_scalarmult(secret, public))
    except (nacl.exceptions.RuntimeError, nacl.exceptions.CryptoError):
        raise InvalidKey("the peer's X25519 key is of low order") from None


# -- AEGIS-256: the fast AEAD for data at rest ----------------------------------
#
# AEGIS-256 (draft-irtf-cfrg-aegis-aead, through libsodium) is built on the AES
# round function. With AES-NI (x86-64) or the ARMv8 crypto extensions it seals
# 32 KiB in a few microseconds, several times faster than XChaCha20-Poly1305;
# without them libsodium falls back to a portable, constant-time software AES
# that is *slower* than XChaCha20-Poly1305, so prefer this only where the CPU
# has AES instructions (every x86-64 and ARMv8 server of the last decade does).
#
# Nonces: 32 bytes (256 bits). A random nonce is safe without any counter or
# state: the chance of two writes under one key repeating a nonce is below
# n^2 / 2^257 (about 2^-217 after 2^20 writes), and the draft allows random
# nonces with no practical limit. A nonce *derived* by hashing distinct inputs
# (e.g. BLAKE3 of something unique to the message) is equally safe, as long as
# the same key never seals two different messages under the same derived nonce.

FAST_AEAD_KEY_SIZE = 32
FAST_AEAD_NONCE_SIZE = 32
FAST_AEAD_TAG_SIZE = 32

# AEGIS-128L, the same family with a 128-bit key and nonce and the same 256-bit
# tag, absorbs 32 bytes per step where AEGIS-256 absorbs 16: it opens 32 KiB in
# ~2.2 µs against ~3.4 µs here. Its 128-bit key is a 2^128 search; random
# 128-bit nonces under one key repeat with probability below n^2 / 2^129 after
# n messages, so a key must seal few messages (the datastore's per-block keys
# seal one block each, rarely a few).
AEGIS128L_KEY_SIZE = 16
AEGIS128L_NONCE_SIZE = 16
AEGIS128L_TAG_SIZE = 32

# PyNaCl's public wrappers zero a fresh output buffer and copy it once more, and
# insist on ``bytes`` input (so callers slice, another copy): for 32 KiB that is
# a third of AEGIS's own time. When PyNaCl's cffi module has the functions, call
# libsodium through it directly (an uncleared output buffer, inputs passed as
# buffers); the public wrappers are the fallback. Outputs are always ``bytes``.
try:
    from nacl._sodium import ffi as _ffi
    from nacl._sodium import lib as _lib

    _DIRECT_CALLS = {
        "aegis256": (_lib.crypto_aead_aegis256_encrypt, _lib.crypto_aead_aegis256_decrypt),
        "aegis128l": (_lib.crypto_aead_aegis128l_encrypt, _lib.crypto_aead_aegis128l_decrypt),
    }
    _uncleared = _ffi.new_allocator(should_clear_after_alloc=False)
    _DIRECT = True
except (ImportError, AttributeError):  # pragma: no cover - other PyNaCl builds
    _DIRECT = False
_WRAPPERS = {
    "aegis256": (sodium.crypto_aead_aegis256_encrypt, sodium.crypto_aead_aegis256_decrypt),
    "aegis128l": (sodium.crypto_aead_aegis128l_encrypt, sodium.crypto_aead_aegis128l_decrypt),
}
# name -> (key size, nonce size, tag size, what to call it in messages)
_AEGIS = {
    "aegis256": (FAST_AEAD_KEY_SIZE, FAST_AEAD_NONCE_SIZE, FAST_AEAD_TAG_SIZE, "AEGIS-256"),
    "aegis128l": (AEGIS128L_KEY_SIZE, AEGIS128L_NONCE_SIZE, AEGIS128L_TAG_SIZE, "AEGIS-128L"),
}


def fast_aead_encrypt(key: bytes, nonce: bytes, plaintext: bytes, associated: bytes = b"") -> bytes:
    """AEGIS-256 encryption; returns ciphertext followed by the 32-byte tag."""
    return _aegis_encrypt("aegis256", key, nonce, plaintext, associated)


def fast_aead_decrypt(
    key: bytes, nonce: bytes, ciphertext: bytes | memoryview, associated: bytes = b""
) -> bytes:
    """Inverse of :func:`fast_aead_encrypt`; raise :class:`DecryptionFailed` on any tampering.

    ``ciphertext`` may be a memoryview (of a larger record), which saves a copy.
    """
    return _aegis_decrypt("aegis256", key, nonce, ciphertext, associated)


def aegis128l_encrypt(
    key: bytes, nonce: bytes, plaintext: bytes, associated: bytes = b"", *, prefix: bytes = b""
) -> bytes:
    """AEGIS-128L encryption (16-byte key and nonce); returns ciphertext and the 32-byte tag.

    With ``prefix``, returns ``prefix + ciphertext + tag``, built in one buffer
    (a record's header and its sealed block without a second copy of the block).
    """
    return _aegis_encrypt("aegis128l", key, nonce, plaintext, associated, prefix)


def aegis128l_decrypt(
    key: bytes, nonce: bytes, ciphertext: bytes | memoryview, associated: bytes = b""
) -> bytes:
    """Inverse of :func:`aegis128l_encrypt`; raise :class:`DecryptionFailed` on any tampering.

    ``ciphertext`` may be a memoryview (of a larger record), which saves a copy.
    """
    return _aegis_decrypt("aegis128l", key, nonce, ciphertext, associated)


def _aegis_encrypt(
    name: str, key: bytes, nonce: bytes, plaintext: bytes, associated: bytes, prefix: bytes = b""
) -> bytes:
    tag_size = _check_aegis(name, key, nonce)
    if not _DIRECT:
        return prefix + bytes(_WRAPPERS[name][0](plaintext, associated, nonce, key))
    start = len(prefix)
    size = start + len(plaintext) + tag_size
    out = _uncleared("unsigned char[]", size)
    if start:
        out[0:start] = prefix
    message = _ffi.from_buffer(plaintext)
    _DIRECT_CALLS[name][0](
        out + start,
        _ffi.NULL,
        message,
        len(plaintext),
        associated,
        len(associated),
        _ffi.NULL,
        nonce,
        key,
    )
    return bytes(_ffi.buffer(out, size))


def _aegis_decrypt(
    name: str, key: bytes, nonce: bytes, ciphertext: bytes | memoryview, associated: bytes
) -> bytes:
    tag_size = _check_aegis(name, key, nonce)
    if not _DIRECT:
        try:
            return bytes(_WRAPPERS[name][1](bytes(ciphertext), associated, nonce, key))
        except (nacl.exceptions.CryptoError, ValueError):  # ValueError: shorter than a tag
            raise DecryptionFailed(
                "the data failed authentication: wrong key or tampered"
            ) from None
    size = len(ciphertext) - tag_size
    if size < 0:
        raise DecryptionFailed("the data failed authentication: shorter than a tag")
    out = _uncleared("unsigned char[]", max(size, 1))
    sealed = _ffi.from_buffer(ciphertext)
    failed = _DIRECT_CALLS[name][1](
        out, _ffi.NULL, _ffi.NULL, sealed, len(ciphertext), associated, len(associated), nonce, key
    )
    if failed:
        raise DecryptionFailed("the data failed authentication: wrong key or tampered")
    return bytes(_ffi.buffer(out, size))


def _check_aegis(name: str, key: bytes, nonce: bytes) -> int:
    """Check the key and nonce sizes of AEGIS variant ``name``; return its tag size."""
    key_size, nonce_size, tag_size, title = _AEGIS[name]
    if len(key) != key_size:
        raise InvalidKey(f"an encryption key is {key_size} bytes, not {len(key)}")
    if len(nonce) != nonce_size:
        raise InvalidKey(f"an {title} nonce is {nonce_size} bytes, not {len(nonce)}")
    return tag_size
