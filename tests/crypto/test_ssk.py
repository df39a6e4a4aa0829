"""SSK and KSK blocks: signatures, key binding, collisions, tamper detection."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.blocks import Block, KeyKind, verify_block
from crypto.errors import BadSignature, DecryptionFailed, InvalidBlock, InvalidKey
from crypto.keys import decode_block, generate_ssk, insert_ssk, ksk_as_ssk, request_key
from crypto.ssk import SSK_BLOCK_SIZE, SSK_DATA_SIZE, decode_ssk, is_collision, verify_ssk
from crypto.uri import KSKURI
from tests import strategies as s

SEED = bytes(range(64))


@given(s.ssk_data, s.docname)
def test_round_trip(data: bytes, docname: str) -> None:
    request, insert = generate_ssk(SEED)
    block = insert_ssk(insert.with_docname(docname), data)
    assert len(block.data) == SSK_BLOCK_SIZE
    verify_block(block)
    assert request_key(request.with_docname(docname)) == (KeyKind.SSK, block.routing_key)
    assert decode_block(request.with_docname(docname), block) == data
    assert decode_ssk(block, request.crypto_key, docname) == data


@given(s.ssk_data, s.ssk_data)
def test_same_name_different_data_is_a_collision(a: bytes, b: bytes) -> None:
    _, insert = generate_ssk(SEED)
    block_a = insert_ssk(insert.with_docname("doc"), a)
    block_b = insert_ssk(insert.with_docname("doc"), b)
    assert block_a.routing_key == block_b.routing_key
    assert is_collision(block_a, block_b) == (a != b)


def test_docnames_and_keys_separate_routing_keys() -> None:
    _, insert = generate_ssk(SEED)
    _, other = generate_ssk(bytes(64))
    keys = {
        insert_ssk(insert.with_docname("a"), b"x").routing_key,
        insert_ssk(insert.with_docname("b"), b"x").routing_key,
        insert_ssk(other.with_docname("a"), b"x").routing_key,
    }
    assert len(keys) == 3


@given(st.integers(min_value=0, max_value=SSK_BLOCK_SIZE * 8 - 1))
def test_any_flipped_bit_is_rejected(bit: int) -> None:
    _, insert = generate_ssk(SEED)
    block = insert_ssk(insert.with_docname("doc"), b"signed content")
    tampered = bytearray(block.data)
    tampered[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidBlock):
        verify_ssk(block.routing_key, bytes(tampered))


def test_a_forger_with_another_key_cannot_take_over_a_routing_key() -> None:
    _, owner = generate_ssk(SEED)
    _, forger = generate_ssk(bytes(64))
    genuine = insert_ssk(owner.with_docname("doc"), b"real")
    forged = insert_ssk(forger.with_docname("doc"), b"fake")
    with pytest.raises(InvalidBlock):
        verify_ssk(genuine.routing_key, forged.data)


def test_resigning_with_a_swapped_public_key_fails_signature() -> None:
    _, owner = generate_ssk(SEED)
    block = insert_ssk(owner.with_docname("doc"), b"real")
    sig_broken = block.data[:-1] + bytes([block.data[-1] ^ 1])
    with pytest.raises(BadSignature):
        verify_ssk(block.routing_key, sig_broken)


def test_wrong_docname_or_crypto_key_fails_decryption() -> None:
    request, insert = generate_ssk(SEED)
    block = insert_ssk(insert.with_docname("doc"), b"x")
    with pytest.raises(DecryptionFailed):
        decode_ssk(block, request.crypto_key, "other")
    with pytest.raises(DecryptionFailed):
        decode_ssk(block, bytes(32), "doc")


def test_request_form_cannot_insert_and_size_is_bounded() -> None:
    request, insert = generate_ssk(SEED)
    with pytest.raises(InvalidKey):
        insert_ssk(request.with_docname("doc"), b"x")
    with pytest.raises(InvalidBlock):
        insert_ssk(insert.with_docname("doc"), bytes(SSK_DATA_SIZE + 1))


@given(st.binary(max_size=2000), s.key32)
def test_arbitrary_bytes_give_clean_errors(junk: bytes, rk: bytes) -> None:
    with pytest.raises(InvalidBlock):
        verify_block(Block(KeyKind.SSK, rk, junk))


@given(s.keyword, s.ssk_data)
def test_ksk_round_trip(word: str, data: bytes) -> None:
    uri = KSKURI(keyword=word)
    block = insert_ssk(ksk_as_ssk(uri), data)
    verify_block(block)
    assert request_key(uri)[1] == block.routing_key
    assert decode_block(uri, block) == data


def test_generated_keys_are_random_and_public_form_is_derived() -> None:
    r1, i1 = generate_ssk()
    r2, _ = generate_ssk()
    assert r1.key != r2.key
    assert i1.public() == r1
    assert not r1.is_insert and i1.is_insert
