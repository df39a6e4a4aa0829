"""AEGIS-256 through the facade: the draft's known answers, round trips and tampering.

Vectors: draft-irtf-cfrg-aegis-aead, §AEGIS-256 Test Vectors (256-bit tags).
"""

from collections.abc import Iterator

import pytest

from crypto import primitives
from crypto.errors import DecryptionFailed, InvalidKey
from crypto.primitives import (
    FAST_AEAD_KEY_SIZE,
    FAST_AEAD_NONCE_SIZE,
    FAST_AEAD_TAG_SIZE,
    fast_aead_decrypt,
    fast_aead_encrypt,
    random_bytes,
)

KEY = bytes.fromhex("1001" + "00" * 30)
NONCE = bytes.fromhex("100002" + "00" * 29)

# (ad, msg, ct, tag256) of the draft's test vectors 1, 2, 3, 4 and 5.
VECTORS = [
    (
        "",
        "00000000000000000000000000000000",
        "754fc3d8c973246dcc6d741412a4b236",
        "1181a1d18091082bf0266f66297d167d2e68b845f61a3b0527d31fc7b7b89f13",
    ),
    ("", "", "", "6a348c930adbd654896e1666aad67de989ea75ebaa2b82fb588977b1ffec864a"),
    (
        "0001020304050607",
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "f373079ed84b2709faee373584585d60accd191db310ef5d8b11833df9dec711",
        "b7d28d0c3c0ebd409fd22b44160503073a547412da0854bfb9723020dab8da1a",
    ),
    (
        "0001020304050607",
        "000102030405060708090a0b0c0d",
        "f373079ed84b2709faee37358458",
        "8c1cc703c81281bee3f6d9966e14948b4a175b2efbdc31e61a98b4465235c2d9",
    ),
    (
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223242526272829",
        "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637",
        "57754a7d09963e7c787583a2e7b859bb24fa1e04d49fd550b2511a358e3bca252a9b1b8b30cc4a67",
        "a3aca270c006094d71c20e6910b5161c0826df233d08919a566ec2c05990f734",
    ),
]


@pytest.fixture(autouse=True, params=["direct", "public-wrappers"])
def binding(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every test runs on both paths: libsodium through cffi directly, and PyNaCl's wrappers."""
    if request.param == "public-wrappers":
        monkeypatch.setattr(primitives, "_DIRECT", False)
    else:
        assert primitives._DIRECT, "this PyNaCl build lacks the direct AEGIS-256 functions"
    yield request.param


def test_sizes() -> None:
    assert (FAST_AEAD_KEY_SIZE, FAST_AEAD_NONCE_SIZE, FAST_AEAD_TAG_SIZE) == (32, 32, 32)


@pytest.mark.parametrize(("ad", "msg", "ct", "tag"), VECTORS)
def test_known_answers(ad: str, msg: str, ct: str, tag: str) -> None:
    sealed = fast_aead_encrypt(KEY, NONCE, bytes.fromhex(msg), bytes.fromhex(ad))
    assert type(sealed) is bytes
    assert sealed.hex() == ct + tag
    opened = fast_aead_decrypt(KEY, NONCE, sealed, bytes.fromhex(ad))
    assert type(opened) is bytes
    assert opened == bytes.fromhex(msg)


# The draft's vectors 6-9: swapped key/nonce, altered ciphertext, ad, tag must all fail.
_CT4 = "f373079ed84b2709faee37358458"
_TAG4 = "8c1cc703c81281bee3f6d9966e14948b4a175b2efbdc31e61a98b4465235c2d9"


@pytest.mark.parametrize(
    ("key", "nonce", "ad", "sealed"),
    [
        (NONCE, KEY, "0001020304050607", _CT4 + _TAG4),
        (KEY, NONCE, "0001020304050607", _CT4[:-1] + "9" + _TAG4),
        (KEY, NONCE, "0001020304050608", _CT4 + _TAG4),
        (KEY, NONCE, "0001020304050607", _CT4 + _TAG4[:-1] + "a"),
    ],
)
def test_draft_rejections(key: bytes, nonce: bytes, ad: str, sealed: str) -> None:
    with pytest.raises(DecryptionFailed):
        fast_aead_decrypt(key, nonce, bytes.fromhex(sealed), bytes.fromhex(ad))


def test_any_flipped_bit_or_truncation_fails() -> None:
    key, nonce = random_bytes(32), random_bytes(32)
    message, associated = random_bytes(32 * 1024), b"row 7"
    sealed = fast_aead_encrypt(key, nonce, message, associated)
    assert len(sealed) == len(message) + FAST_AEAD_TAG_SIZE
    assert fast_aead_decrypt(key, nonce, sealed, associated) == message
    record = b"header" + sealed
    assert fast_aead_decrypt(key, nonce, memoryview(record)[6:], associated) == message
    for position in (0, 1000, len(message) - 1, len(message), len(sealed) - 1):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(DecryptionFailed):
            fast_aead_decrypt(key, nonce, bytes(tampered), associated)
    for wrong in (
        (random_bytes(32), nonce, sealed, associated),
        (key, random_bytes(32), sealed, associated),
        (key, nonce, sealed, b"row 8"),
        (key, nonce, sealed[:-1], associated),
        (key, nonce, sealed[: FAST_AEAD_TAG_SIZE - 1], associated),  # shorter than a tag
        (key, nonce, b"", associated),
    ):
        with pytest.raises(DecryptionFailed):
            fast_aead_decrypt(*wrong)


def test_wrong_key_or_nonce_sizes_are_refused() -> None:
    with pytest.raises(InvalidKey):
        fast_aead_encrypt(bytes(16), bytes(32), b"x")
    with pytest.raises(InvalidKey):
        fast_aead_encrypt(bytes(32), bytes(24), b"x")  # an XChaCha20 nonce is not enough
    with pytest.raises(InvalidKey):
        fast_aead_decrypt(bytes(32), bytes(12), bytes(40))
