"""Segments and FEC: plans, and recovery from any loss up to the redundancy, per codec."""

from __future__ import annotations

import hashlib
import itertools
import pickle
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.client import fec
from node.client.fec import (
    BLOCK_SIZE,
    DEFAULT_FEC,
    MAX_SEGMENT_DATA,
    CpuPool,
    FecCodec,
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


codecs = st.sampled_from(list(FecCodec))


@given(st.integers(2, 24), st.randoms(use_true_random=False), codecs)
def test_any_k_of_n_rebuild_the_segment(k: int, rng: random.Random, codec: FecCodec) -> None:
    data = [rng.randbytes(64) for _ in range(k)]
    n = k + check_blocks_for(k)
    everything = data + encode_checks(data, n, codec)
    keep = rng.sample(range(n), k)  # lose n - k blocks: all the redundancy
    assert decode_segment({i: everything[i] for i in keep}, k, n, codec) == data


@given(st.integers(1, 64), st.data())
def test_isal_decodes_any_loss_up_to_the_redundancy(k: int, data: st.DataObject) -> None:
    """Every shape (k = 1..64, any m), random data and sizes, any n - k or fewer losses.

    Decoding frames the blocks with the headers cached from encoding zeros, so
    this is also the test that those headers do not depend on the data.
    """
    m = data.draw(st.integers(1, fec.MAX_SEGMENT_BLOCKS - k) | st.just(check_blocks_for(k) or 1))
    n = k + m
    size = data.draw(st.sampled_from([1, 16, 17, 64, 100]))
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    blocks = [rng.randbytes(size) for _ in range(k)]
    everything = blocks + encode_checks(blocks, n, FecCodec.ISAL_CAUCHY)
    assert len(everything) == n and all(len(b) == size for b in everything)
    keep = data.draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=n, unique=True))
    got = decode_segment({i: everything[i] for i in keep}, k, n, FecCodec.ISAL_CAUCHY)
    assert got == blocks


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_isal_small_segments_survive_every_loss_pattern(k: int) -> None:
    n = k + check_blocks_for(k)  # 2+6, 3+8, 4+8, 5+8: the shapes of small files
    rng = random.Random(k)
    blocks = [rng.randbytes(32) for _ in range(k)]
    everything = blocks + encode_checks(blocks, n, FecCodec.ISAL_CAUCHY)
    for keep in itertools.combinations(range(n), k):
        got = decode_segment({i: everything[i] for i in keep}, k, n, FecCodec.ISAL_CAUCHY)
        assert got == blocks, keep


@pytest.mark.parametrize("k", [2, 3, 21, 64])
def test_isal_full_size_segments(k: int) -> None:
    """The real shapes with 32 KiB blocks: data fragments are the blocks themselves."""
    n = k + check_blocks_for(k)
    rng = random.Random(k)
    blocks = [rng.randbytes(BLOCK_SIZE) for _ in range(k)]
    driver, headers = fec._isal(k, n - k, BLOCK_SIZE)
    fragments = driver.encode(b"".join(blocks))
    at = len(headers[0])
    assert at == 80  # liberasurecode's header; a change here deserves a look
    assert [f[:at] for f in fragments] == list(headers)
    assert [f[at:] for f in fragments[:k]] == blocks  # systematic: data blocks stay raw
    checks = encode_checks(blocks, n, FecCodec.ISAL_CAUCHY)
    assert [f[at:] for f in fragments[k:]] == checks
    everything = blocks + checks
    for keep in (rng.sample(range(n), k), range(n - k, n)):
        got = decode_segment({i: everything[i] for i in keep}, k, n, FecCodec.ISAL_CAUCHY)
        assert got == blocks


def _gf_mul(a: int, b: int) -> int:
    out = 0
    while b:
        if b & 1:
            out ^= a
        a = (a << 1) ^ (0x11D if a & 0x80 else 0)
        b >>= 1
    return out


def _gf_inv(a: int) -> int:
    return next(b for b in range(1, 256) if _gf_mul(a, b) == 1)


@pytest.mark.parametrize(("k", "m"), [(1, 3), (2, 6), (5, 8), (64, 64), (100, 156)])
def test_isal_cauchy_is_the_documented_code(k: int, m: int) -> None:
    """Check block r = sum over j of data_j / (r XOR j) in GF(2^8) mod 0x11d (the spec).

    Computed here without ISA-L, so a pyeclib or ISA-L upgrade that changed the
    code (and so the CHKs of new inserts, and the decoding of old ones) fails.
    """
    rng = random.Random(k)
    blocks = [rng.randbytes(4) for _ in range(k)]
    checks = encode_checks(blocks, k + m, FecCodec.ISAL_CAUCHY)
    inverse = {x: _gf_inv(x) for x in range(1, 256)}
    for r in range(k, k + m):
        want = bytearray(4)
        for j, block in enumerate(blocks):
            for at, byte in enumerate(block):
                want[at] ^= _gf_mul(inverse[r ^ j], byte)
        assert checks[r - k] == bytes(want), r


@pytest.mark.parametrize(
    ("codec", "digest"),
    [
        (FecCodec.ZFEC, "226ac3b838a3e5c314ddd70243ad7be2"),
        (FecCodec.ISAL_CAUCHY, "bb3937e56afca7fdbafac9fae1f3e4ad"),
    ],
)
def test_check_blocks_are_pinned(codec: FecCodec, digest: str) -> None:
    """Known answers: the check blocks of a fixed 3+8 segment never change."""
    blocks = [bytes([i]) * 1000 + bytes(range(256)) * 4 for i in range(1, 4)]
    checks = encode_checks(blocks, 11, codec)
    assert hashlib.sha256(b"".join(checks)).hexdigest()[:32] == digest


def test_codecs_make_different_check_blocks() -> None:
    blocks = [bytes([i]) * 64 for i in range(1, 4)]
    assert encode_checks(blocks, 11, FecCodec.ZFEC) != encode_checks(blocks, 11, DEFAULT_FEC)


def test_new_inserts_use_isal() -> None:
    assert DEFAULT_FEC is FecCodec.ISAL_CAUCHY


def test_decoding_needs_k_blocks() -> None:
    for codec in FecCodec:
        with pytest.raises(ValueError):
            decode_segment({0: b"x"}, 2, 4, codec)


@pytest.mark.parametrize("codec", list(FecCodec))
def test_blocks_of_unequal_length_are_refused(codec: FecCodec) -> None:
    with pytest.raises(ValueError):
        encode_checks([b"ab", b"c"], 4, codec)
    with pytest.raises(ValueError):
        decode_segment({0: b"ab", 3: b"c"}, 2, 4, codec)
    with pytest.raises(ValueError):
        decode_segment({0: b"ab", 4: b"cd"}, 2, 4, codec)


def test_pool_workers_can_take_the_codec() -> None:
    """What a spawned worker receives: the codec pickles by value, the driver is never sent."""
    for codec in FecCodec:
        assert pickle.loads(pickle.dumps(codec)) is codec
    assert pickle.loads(pickle.dumps(encode_segment)) is encode_segment


@pytest.mark.parametrize("codec", list(FecCodec))
def test_encrypted_segment_round_trip_and_reencode(codec: FecCodec) -> None:
    rng = random.Random(3)
    data = split_blocks(rng.randbytes(BLOCK_SIZE * 3 - 100))
    assert len(data) == 3 and all(len(b) == BLOCK_SIZE for b in data)
    key = bytes(range(32))
    encoded = encode_segment(data, 9, key, 5, codec)
    assert len(encoded) == 9
    assert encode_segment(data, 9, key, 5, codec) == encoded  # deterministic: same CHKs
    from crypto.blocks import Block, KeyKind
    from crypto.chk import decode_chk

    stored = {i: decode_chk(Block(KeyKind.CHK, rk, raw), dk) for i, rk, dk, raw in encoded}
    assert all(stored[i] != data[i] for i in range(3))  # under the keystream
    chosen = {i: stored[i] for i in (1, 6, 8)}
    plain_stored, payload = decode_and_decrypt(chosen, 3, 9, key, 5, codec)
    assert payload == b"".join(data)
    again = reencode_blocks(plain_stored, 9, [0, 7], codec)
    assert [(i, rk) for i, rk, _, _ in again] == [(0, encoded[0][1]), (7, encoded[7][1])]


@pytest.mark.anyio
@pytest.mark.parametrize("codec", list(FecCodec))
async def test_splitfiles_of_either_codec_fetch_and_heal_with_loss(codec: FecCodec) -> None:
    """Content inserted with zfec (before ISA-L) still decodes and heals; so does ISA-L's.

    Each segment's own codec drives decoding and healing; naming the other one
    decodes garbage, which the content hash refuses.
    """
    import dataclasses

    from node.client.crypt import ContentHasher
    from node.client.errors import BlockDecodeError
    from node.client.metadata import Content
    from node.client.network import MemoryNetwork
    from node.client.splitfile import BytesSink, Healer, Transfer, fetch_content, insert_payload

    payload = random.Random(7).randbytes(5 * BLOCK_SIZE + 123)
    hasher = ContentHasher()
    hasher.update(payload)
    net = MemoryNetwork()
    async with CpuPool() as pool:
        segments = await insert_payload(Transfer(network=net, pool=pool, fec=codec), payload, None)
        assert [s.fec for s in segments] == [codec]
        content = Content(
            size=len(payload),
            hash=hasher.digest(),
            payload_size=len(payload),
            segments=segments,
        )
        lost = [segments[0].block_key(i)[0] for i in (0, 2, 3, 5, 7, 9, 11)]  # 7 of 6+8
        for rk in lost:
            net.drop(rk)
        async with Healer(net, pool) as healer:
            sink = BytesSink()
            await fetch_content(Transfer(network=net, pool=pool, healer=healer), content, sink)
        assert sink.getvalue() == payload
        assert healer.stats.failed == 0 and healer.stats.inserted > 0
        assert sum(net.has(rk) for rk in lost) == healer.stats.inserted
        assert all(net.has(rk) for rk in lost[:4])  # the data blocks, asked for first
        other = next(c for c in FecCodec if c is not codec)
        wrong = dataclasses.replace(
            content, segments=(dataclasses.replace(segments[0], fec=other),)
        )
        for rk in lost:
            net.drop(rk)
        with pytest.raises(BlockDecodeError):
            await fetch_content(Transfer(network=net, pool=pool), wrong, BytesSink())
