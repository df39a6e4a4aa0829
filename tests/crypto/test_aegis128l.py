"""AEGIS-128L through the facade: the draft's known answers, rejections, round trips, tampering.

Vectors: draft-irtf-cfrg-aegis-aead, §AEGIS-128L Test Vectors (256-bit tags).
"""

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import primitives
from crypto.errors import DecryptionFailed, InvalidKey
from crypto.primitives import (
    AEGIS128L_KEY_SIZE,
    AEGIS128L_NONCE_SIZE,
    AEGIS128L_TAG_SIZE,
    aegis128l_decrypt,
    aegis128l_encrypt,
    random_bytes,
)

KEY = bytes.fromhex("10010000000000000000000000000000")
NONCE = bytes.fromhex("10000200000000000000000000000000")

# (ad, msg, ct, tag256) of the draft's test vectors 1, 2, 3, 4 and 5.
VECTORS = [
    (
        "",
        "00000000000000000000000000000000",
        "c1c0e58bd913006feba00f4b3cc3594e",
        "25835bfbb21632176cf03840687cb968cace4617af1bd0f7d064c639a5c79ee4",
    ),
    ("", "", "", "1360dc9db8ae42455f6e5b6a9d488ea4f2184c4e12120249335c4ee84bafe25d"),
    (
        "0001020304050607",
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "79d94593d8c2119d7e8fd9b8fc77845c5c077a05b2528b6ac54b563aed8efe84",
        "022cb796fe7e0ae1197525ff67e309484cfbab6528ddef89f17d74ef8ecd82b3",
    ),
    (
        "0001020304050607",
        "000102030405060708090a0b0c0d",
        "79d94593d8c2119d7e8fd9b8fc77",
        "86f1b80bfb463aba711d15405d094baf4a55a15dbfec81a76f35ed0b9c8b04ac",
    ),
    (
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223242526272829",
        "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637",
        "b31052ad1cca4e291abcf2df3502e6bdb1bfd6db36798be3607b1f94d34478aa7ede7f7a990fec10",
        "b91e2947a33da8bee89b6794e647baf0fc835ff574aca3fc27c33be0db2aff98",
    ),
]


@pytest.fixture(autouse=True, params=["direct", "public-wrappers"])
def binding(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every test runs on both paths: libsodium through cffi directly, and PyNaCl's wrappers."""
    if request.param == "public-wrappers":
        monkeypatch.setattr(primitives, "_DIRECT", False)
    else:
        assert primitives._DIRECT, "this PyNaCl build lacks the direct AEGIS functions"
    yield request.param


def test_sizes() -> None:
    assert (AEGIS128L_KEY_SIZE, AEGIS128L_NONCE_SIZE, AEGIS128L_TAG_SIZE) == (16, 16, 32)


@pytest.mark.parametrize(("ad", "msg", "ct", "tag"), VECTORS)
def test_known_answers(ad: str, msg: str, ct: str, tag: str) -> None:
    sealed = aegis128l_encrypt(KEY, NONCE, bytes.fromhex(msg), bytes.fromhex(ad))
    assert type(sealed) is bytes
    assert sealed.hex() == ct + tag
    opened = aegis128l_decrypt(KEY, NONCE, sealed, bytes.fromhex(ad))
    assert type(opened) is bytes
    assert opened == bytes.fromhex(msg)


# The draft's vectors 6-9: swapped key/nonce, altered ciphertext, ad, tag must all fail.
_CT4 = "79d94593d8c2119d7e8fd9b8fc77"
_TAG4 = "86f1b80bfb463aba711d15405d094baf4a55a15dbfec81a76f35ed0b9c8b04ac"


@pytest.mark.parametrize(
    ("key", "nonce", "ad", "sealed"),
    [
        (NONCE, KEY, "0001020304050607", _CT4 + _TAG4),
        (KEY, NONCE, "0001020304050607", _CT4[:-1] + "8" + _TAG4),
        (KEY, NONCE, "0001020304050608", _CT4 + _TAG4),
        (KEY, NONCE, "0001020304050607", _CT4 + _TAG4[:-1] + "d"),
    ],
)
def test_draft_rejections(key: bytes, nonce: bytes, ad: str, sealed: str) -> None:
    with pytest.raises(DecryptionFailed):
        aegis128l_decrypt(key, nonce, bytes.fromhex(sealed), bytes.fromhex(ad))


@given(message=st.binary(max_size=300), associated=st.binary(max_size=100))
def test_round_trip_through_a_memoryview(message: bytes, associated: bytes) -> None:
    key, nonce = random_bytes(16), random_bytes(16)
    sealed = aegis128l_encrypt(key, nonce, message, associated)
    assert len(sealed) == len(message) + AEGIS128L_TAG_SIZE
    record = b"hdr" + sealed
    assert aegis128l_decrypt(key, nonce, memoryview(record)[3:], associated) == message


@given(
    message=st.binary(max_size=300),
    associated=st.binary(max_size=100),
    prefix=st.binary(max_size=40),
)
def test_a_prefix_comes_first_and_changes_nothing_else(
    message: bytes, associated: bytes, prefix: bytes
) -> None:
    key, nonce = random_bytes(16), random_bytes(16)
    sealed = aegis128l_encrypt(key, nonce, message, associated, prefix=prefix)
    assert type(sealed) is bytes
    assert sealed == prefix + aegis128l_encrypt(key, nonce, message, associated)
    opened = aegis128l_decrypt(key, nonce, memoryview(sealed)[len(prefix) :], associated)
    assert opened == message


def test_any_flipped_bit_or_truncation_fails() -> None:
    key, nonce = random_bytes(16), random_bytes(16)
    message, associated = random_bytes(32 * 1024), b"row 7"
    sealed = aegis128l_encrypt(key, nonce, message, associated)
    assert aegis128l_decrypt(key, nonce, sealed, associated) == message
    for position in (0, 1000, len(message) - 1, len(message), len(sealed) - 1):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(DecryptionFailed):
            aegis128l_decrypt(key, nonce, bytes(tampered), associated)
    for wrong in (
        (random_bytes(16), nonce, sealed, associated),
        (key, random_bytes(16), sealed, associated),
        (key, nonce, sealed, b"row 8"),
        (key, nonce, sealed[:-1], associated),
        (key, nonce, sealed[: AEGIS128L_TAG_SIZE - 1], associated),  # shorter than a tag
        (key, nonce, b"", associated),
    ):
        with pytest.raises(DecryptionFailed):
            aegis128l_decrypt(*wrong)


def test_wrong_key_or_nonce_sizes_are_refused() -> None:
    with pytest.raises(InvalidKey):
        aegis128l_encrypt(bytes(32), bytes(16), b"x")  # an AEGIS-256 key is not this one's
    with pytest.raises(InvalidKey, match="AEGIS-128L nonce is 16"):
        aegis128l_encrypt(bytes(16), bytes(32), b"x")
    with pytest.raises(InvalidKey):
        aegis128l_decrypt(bytes(16), bytes(12), bytes(40))
