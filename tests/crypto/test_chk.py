"""CHK blocks: round trips, convergence, and tamper detection."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.blocks import Block, KeyKind, verify_block
from crypto.chk import CHK_BLOCK_SIZE, CHK_DATA_SIZE, decode_chk, encode_chk, verify_chk
from crypto.errors import CryptoError, DecryptionFailed, InvalidBlock, InvalidKey
from tests import strategies as s


@given(s.chk_data)
def test_round_trip(data: bytes) -> None:
    block, key = encode_chk(data)
    assert len(block.data) == CHK_BLOCK_SIZE
    verify_block(block)
    assert decode_chk(block, key) == data


@given(s.small_chk_data, s.small_chk_data)
def test_convergence(a: bytes, b: bytes) -> None:
    block_a, key_a = encode_chk(a)
    block_a2, key_a2 = encode_chk(a)
    block_b, key_b = encode_chk(b)
    assert (block_a, key_a) == (block_a2, key_a2)
    assert (block_a.routing_key == block_b.routing_key) == (a == b)
    assert (key_a == key_b) == (a == b)


def test_all_blocks_have_one_size() -> None:
    assert len(encode_chk(b"")[0].data) == len(encode_chk(bytes(CHK_DATA_SIZE))[0].data)


def test_too_much_data_is_refused() -> None:
    with pytest.raises(InvalidBlock, match="at most"):
        encode_chk(bytes(CHK_DATA_SIZE + 1))


@given(s.small_chk_data, st.integers(min_value=0, max_value=CHK_BLOCK_SIZE * 8 - 1))
def test_any_flipped_bit_is_rejected(data: bytes, bit: int) -> None:
    block, key = encode_chk(data)
    tampered = bytearray(block.data)
    tampered[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidBlock):
        verify_chk(block.routing_key, bytes(tampered))
    with pytest.raises(InvalidBlock):
        decode_chk(Block(KeyKind.CHK, block.routing_key, bytes(tampered)), key)


@given(s.small_chk_data, st.integers(min_value=0, max_value=255))
def test_flipped_routing_key_is_rejected(data: bytes, bit: int) -> None:
    block, _ = encode_chk(data)
    rk = bytearray(block.routing_key)
    rk[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidBlock):
        verify_chk(bytes(rk), block.data)


@given(s.small_chk_data, s.key32)
def test_wrong_decryption_key_fails_cleanly(data: bytes, wrong: bytes) -> None:
    block, key = encode_chk(data)
    if wrong != key:
        with pytest.raises(DecryptionFailed):
            decode_chk(block, wrong)


@given(st.binary(max_size=40000), s.key32)
def test_arbitrary_bytes_give_clean_errors(junk: bytes, rk: bytes) -> None:
    with pytest.raises(InvalidBlock):
        verify_chk(rk, junk)


def test_a_self_consistent_forgery_under_a_key_it_does_not_match_fails() -> None:
    """Someone re-encrypts other data with the victim's key: the hash check catches it."""
    block, key = encode_chk(b"original")
    other, _ = encode_chk(b"forgery")
    with pytest.raises(InvalidBlock):
        decode_chk(Block(KeyKind.CHK, block.routing_key, other.data), key)


def test_bad_key_length() -> None:
    block, _ = encode_chk(b"x")
    with pytest.raises(InvalidKey):
        decode_chk(block, b"short")
    with pytest.raises(CryptoError):
        Block(KeyKind.CHK, b"short", block.data)
