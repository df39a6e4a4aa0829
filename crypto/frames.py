"""Per-direction AEAD sealing of link frames with an implicit 64-bit counter nonce.

Each direction of a link has its own key (from the handshake) and its own
counter. The counter is never sent: the receiver expects frame *n* to be sealed
under nonce *n*, so a replayed, reordered, dropped, truncated or altered frame
fails authentication, and the link must then be closed (the opener refuses to
continue after a failure, because its counter no longer matches the sender's).

Every :data:`REKEY_INTERVAL` frames both sides replace the key by a one-way
function of itself, so a key stolen from memory later does not open the
traffic that came before the last rekey.
"""

from __future__ import annotations

from crypto.errors import DecryptionFailed, FrameRejected, InvalidKey
from crypto.primitives import AEAD_KEY_SIZE, AEAD_TAG_SIZE, aead_decrypt, aead_encrypt, hash_for

FRAME_OVERHEAD = AEAD_TAG_SIZE
# 2**16 frames of at most 64 KiB is 4 GiB of traffic per key: frequent enough to
# bound exposure, rare enough that the hash costs nothing.
REKEY_INTERVAL = 1 << 16
_MAX_COUNTER = (1 << 64) - 1
_CTX_REKEY = "samizdat/link/frame-rekey/v1"
_NONCE_PAD = bytes(16)  # XChaCha nonce = 16 zero bytes || counter (big-endian, 8 bytes)


def _nonce(counter: int) -> bytes:
    return _NONCE_PAD + counter.to_bytes(8, "big")


class _Direction:
    __slots__ = ("_broken", "_counter", "_key")

    def __init__(self, key: bytes) -> None:
        if len(key) != AEAD_KEY_SIZE:
            raise InvalidKey(f"a frame key is {AEAD_KEY_SIZE} bytes, not {len(key)}")
        self._key = key
        self._counter = 0
        self._broken = False

    @property
    def counter(self) -> int:
        """How many frames this direction has processed."""
        return self._counter

    def _advance(self) -> None:
        self._counter += 1
        if self._counter % REKEY_INTERVAL == 0:
            self._key = hash_for(_CTX_REKEY, self._key)

    def _check_usable(self) -> None:
        if self._broken:
            raise FrameRejected("this link direction already failed; close the link")
        if self._counter >= _MAX_COUNTER:
            raise FrameRejected("the frame counter is exhausted; open a new link")


class FrameSealer(_Direction):
    """Seals outgoing frames: ``seal(plaintext)`` returns ciphertext + 16-byte tag."""

    __slots__ = ()

    def seal(self, plaintext: bytes, associated: bytes = b"") -> bytes:
        self._check_usable()
        sealed = aead_encrypt(self._key, _nonce(self._counter), plaintext, associated)
        self._advance()
        return sealed


class FrameOpener(_Direction):
    """Opens incoming frames in order; any failure is final for this direction."""

    __slots__ = ()

    def open(self, sealed: bytes, associated: bytes = b"") -> bytes:
        self._check_usable()
        if len(sealed) < FRAME_OVERHEAD:
            self._broken = True
            raise FrameRejected(f"a frame is at least {FRAME_OVERHEAD} bytes, got {len(sealed)}")
        try:
            plaintext = aead_decrypt(self._key, _nonce(self._counter), sealed, associated)
        except DecryptionFailed:
            self._broken = True
            raise FrameRejected(
                f"frame {self._counter} failed authentication: tampered, replayed, "
                "reordered or dropped"
            ) from None
        self._advance()
        return plaintext
