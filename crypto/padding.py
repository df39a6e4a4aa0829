"""The padded inner plaintext shared by CHK and SSK blocks.

``inner = length (2 bytes, big-endian) || data || zero bytes`` up to a fixed size,
so every block of a kind has one size and the length is only visible to key
holders. Only the canonical form (all padding zero) is accepted back.
"""

from crypto.errors import DecryptionFailed, InvalidBlock

LENGTH_PREFIX = 2


def pad(data: bytes, capacity: int) -> bytes:
    """Frame ``data`` (at most ``capacity`` bytes) into ``capacity + 2`` bytes."""
    if len(data) > capacity:
        raise InvalidBlock(f"a block holds at most {capacity} bytes, not {len(data)}")
    return b"".join((len(data).to_bytes(LENGTH_PREFIX, "big"), data, bytes(capacity - len(data))))


def unpad(inner: bytes, capacity: int) -> bytes:
    """Inverse of :func:`pad`; reject a bad length or non-zero padding."""
    if len(inner) != capacity + LENGTH_PREFIX:
        raise DecryptionFailed("the decrypted block has the wrong size")
    length = int.from_bytes(inner[:LENGTH_PREFIX], "big")
    if length > capacity:
        raise DecryptionFailed("the decrypted block claims an impossible length")
    end = LENGTH_PREFIX + length
    if inner[end:].count(0) != len(inner) - end:
        raise DecryptionFailed("the decrypted block's padding is not canonical")
    return inner[LENGTH_PREFIX:end]
