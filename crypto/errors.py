"""The small family of errors raised by :mod:`crypto`, worded for users."""


class CryptoError(ValueError):
    """Base of every error :mod:`crypto` raises on bad input."""


class InvalidURI(CryptoError):
    """A key URI could not be parsed; the message says which part is wrong."""


class InvalidBlock(CryptoError):
    """A block is malformed or does not match the routing key it was asked for."""


class BadSignature(InvalidBlock):
    """An SSK block's signature does not verify against its public key."""


class DecryptionFailed(CryptoError):
    """A block did not decrypt with the given key (wrong key or tampered block)."""


class InvalidKey(CryptoError):
    """Key material has the wrong length or shape."""


class HandshakeFailed(CryptoError):
    """A link handshake did not complete: wrong peer, tampered, replayed or not ours."""


class FrameRejected(CryptoError):
    """An encrypted link frame failed: tampered, replayed, reordered, dropped or too long."""
