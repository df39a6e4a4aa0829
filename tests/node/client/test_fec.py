"""Segments and FEC: plans, and recovery from any loss up to the redundancy."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.client.fec import (
    BLOCK_SIZE,
    MAX_SEGMENT_DATA,
    check_blocks_for,
    decode_and_decrypt,
    decode_segment,
    encode_checks,
    encode_segment,
    plan_segments,
    reencode_blocks,
    split_blocks,
)


@given(st.integers(0, 5000))
def test_plan_covers_every_block_evenly(blocks: int) -> None:
    plan = plan_segments(blocks)
    assert sum(k for k, _ in plan) == blocks
    if plan:
        ks = [k for k, _ in plan]
        assert max(ks) - min(ks) <= 1
        assert max(ks) <= MAX_SEGMENT_DATA
        assert all(n <= 256 for _, n in plan)


def test_redundancy_is_at_least_100_percent_except_single_blocks() -> None:
    assert check_blocks_for(1) == 0
    assert check_blocks_for(2) == 6
    assert check_blocks_for(8) == 8
    assert check_blocks_for(64) == 64
    assert check_blocks_for(128) == 128


@given(st.integers(2, 24), st.randoms(use_true_random=False))
def test_any_k_of_n_rebuild_the_segment(k: int, rng: random.Random) -> None:
    data = [rng.randbytes(64) for _ in range(k)]
    n = k + check_blocks_for(k)
    everything = data + encode_checks(data, n)
    keep = rng.sample(range(n), k)  # lose n - k blocks: all the redundancy
    assert decode_segment({i: everything[i] for i in keep}, k, n) == data


def test_decoding_needs_k_blocks() -> None:
    with pytest.raises(ValueError):
        decode_segment({0: b"x"}, 2, 4)


def test_encrypted_segment_round_trip_and_reencode() -> None:
    rng = random.Random(3)
    data = split_blocks(rng.randbytes(BLOCK_SIZE * 3 - 100))
    assert len(data) == 3 and all(len(b) == BLOCK_SIZE for b in data)
    key = bytes(range(32))
    encoded = encode_segment(data, 9, key, first_index=5)
    assert len(encoded) == 9
    from crypto.blocks import Block, KeyKind
    from crypto.chk import decode_chk

    stored = {i: decode_chk(Block(KeyKind.CHK, rk, raw), dk) for i, rk, dk, raw in encoded}
    assert all(stored[i] != data[i] for i in range(3))  # under the keystream
    chosen = {i: stored[i] for i in (1, 6, 8)}
    plain_stored, payload = decode_and_decrypt(chosen, 3, 9, key, first_index=5)
    assert payload == b"".join(data)
    again = reencode_blocks(plain_stored, 9, [0, 7])
    assert [(i, rk) for i, rk, _, _ in again] == [(0, encoded[0][1]), (7, encoded[7][1])]
