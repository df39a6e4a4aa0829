"""The link handshake, sans-I/O: success, pinned vectors, and every way it must fail."""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.errors import HandshakeFailed, InvalidKey
from crypto.handshake import (
    MAGIC,
    MSG1_SIZE,
    MSG2_SIZE,
    MSG3_SIZE,
    HandshakeResult,
    Initiator,
    LocalKeys,
    Responder,
)

ALICE = LocalKeys.from_seed(bytes(range(32)))
BOB = LocalKeys.from_seed(bytes(range(32, 64)))
MALLORY = LocalKeys.from_seed(bytes(range(64, 96)))


def run(
    initiator: Initiator, responder: Responder
) -> tuple[HandshakeResult, HandshakeResult, tuple[bytes, bytes, bytes]]:
    m1 = initiator.start()
    m2 = responder.read_message1(m1)
    m3 = initiator.read_message2(m2)
    result = responder.read_message3(m3)
    return initiator.result, result, (m1, m2, m3)


def test_success_gives_matching_keys_and_identities() -> None:
    mine, theirs, msgs = run(Initiator(ALICE, BOB.identity_public), Responder(BOB))
    assert [len(m) for m in msgs] == [MSG1_SIZE, MSG2_SIZE, MSG3_SIZE] == [36, 192, 160]
    assert mine.peer_identity == BOB.identity_public
    assert theirs.peer_identity == ALICE.identity_public
    assert mine.send_key == theirs.receive_key
    assert mine.receive_key == theirs.send_key
    assert mine.send_key != mine.receive_key
    assert mine.handshake_hash == theirs.handshake_hash


def test_known_answer_vector() -> None:
    """Pinned seeds give pinned bytes: a change to the protocol must be deliberate."""
    mine, _theirs, msgs = run(
        Initiator(ALICE, BOB.identity_public, ephemeral_seed=b"\x01" * 32),
        Responder(BOB, ephemeral_seed=b"\x02" * 32),
    )
    assert hashlib.sha256(b"".join(msgs)).hexdigest() == (
        "66bf476d3e9a4a228d2d7d101dfdf2728fddcd91f9640709135b65609d9deaf4"
    )
    assert mine.handshake_hash.hex() == (
        "3fbbb729d57d9b1b284430e8e3465fc3465e8c4030bf0c10a1d893ccbc1c2da5"
    )
    assert mine.send_key.hex() == (
        "57319183bbd40fda7862a771c1d45ef480cdeddac52919409c4d9f25cfe1cef2"
    )
    assert mine.receive_key.hex() == (
        "c81482ccc04d4f5cc641c140423ce7c3df75dce4597c26fbc4caf7ff12aefa37"
    )


def test_sessions_are_fresh() -> None:
    a, _, _ = run(Initiator(ALICE, BOB.identity_public), Responder(BOB))
    b, _, _ = run(Initiator(ALICE, BOB.identity_public), Responder(BOB))
    assert a.send_key != b.send_key and a.handshake_hash != b.handshake_hash


def test_wrong_expected_identity_fails_before_revealing_ours() -> None:
    initiator = Initiator(ALICE, MALLORY.identity_public)
    m2 = Responder(BOB).read_message1(initiator.start())
    with pytest.raises(HandshakeFailed, match="not the node its reference names"):
        initiator.read_message2(m2)  # no message 3, so ALICE's identity is never sent


def test_replayed_message3_fails() -> None:
    _, _, (m1, _m2, m3) = run(Initiator(ALICE, BOB.identity_public), Responder(BOB))
    replay = Responder(BOB)
    replay.read_message1(m1)  # a fresh responder ephemeral
    with pytest.raises(HandshakeFailed):
        replay.read_message3(m3)


def test_replayed_message2_fails() -> None:
    _, _, (_m1, m2, _m3) = run(Initiator(ALICE, BOB.identity_public), Responder(BOB))
    initiator = Initiator(ALICE, BOB.identity_public)
    initiator.start()
    with pytest.raises(HandshakeFailed):
        initiator.read_message2(m2)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_every_tampered_byte_fails(which: int) -> None:
    """Flip each byte of each message in turn: no variant completes."""
    _, _, msgs = run(
        Initiator(ALICE, BOB.identity_public, ephemeral_seed=b"\x03" * 32),
        Responder(BOB, ephemeral_seed=b"\x04" * 32),
    )
    for position in range(len(msgs[which])):
        bad = bytearray(msgs[which])
        bad[position] ^= 0x40
        initiator = Initiator(ALICE, BOB.identity_public, ephemeral_seed=b"\x03" * 32)
        responder = Responder(BOB, ephemeral_seed=b"\x04" * 32)
        with pytest.raises(HandshakeFailed):
            m1 = initiator.start()
            m2 = responder.read_message1(bytes(bad) if which == 0 else m1)
            m3 = initiator.read_message2(bytes(bad) if which == 1 else m2)
            responder.read_message3(bytes(bad) if which == 2 else m3)


def test_mitm_swapping_ephemeral_keys_fails() -> None:
    """Mallory answers ALICE as a responder and dials BOB as an initiator, relaying."""
    alice = Initiator(ALICE, BOB.identity_public)
    bob = Responder(BOB)
    mallory_as_responder = Responder(MALLORY)
    mallory_as_initiator = Initiator(MALLORY, BOB.identity_public)
    # Mallory's own responder reply carries MALLORY's identity: ALICE refuses it.
    with pytest.raises(HandshakeFailed):
        alice.read_message2(mallory_as_responder.read_message1(alice.start()))
    # Relaying BOB's genuine message 2 across a swapped message 1 fails too.
    alice = Initiator(ALICE, BOB.identity_public)
    alice.start()
    m2 = bob.read_message1(mallory_as_initiator.start())
    with pytest.raises(HandshakeFailed):
        alice.read_message2(m2)


def test_mitm_replacing_static_key_fails() -> None:
    """Swap in Mallory's encrypted static: it cannot be, without the DH secrets."""
    alice = Initiator(ALICE, BOB.identity_public)
    bob = Responder(BOB)
    m2 = bytearray(bob.read_message1(alice.start()))
    m2[32:80] = bytes(48)
    with pytest.raises(HandshakeFailed, match="failed authentication"):
        alice.read_message2(bytes(m2))


def test_prologue_mismatch_fails() -> None:
    initiator = Initiator(ALICE, BOB.identity_public, prologue=b"testnet")
    responder = Responder(BOB, prologue=b"mainnet")
    with pytest.raises(HandshakeFailed):
        initiator.read_message2(responder.read_message1(initiator.start()))


def test_other_version_and_non_samizdat_are_named() -> None:
    with pytest.raises(HandshakeFailed, match="version 2"):
        Responder(BOB).read_message1(MAGIC[:3] + b"\x02" + bytes(32))
    with pytest.raises(HandshakeFailed, match="not a Samizdat node"):
        Responder(BOB).read_message1(b"GET / HTTP/1.1\r\n" + bytes(20))


@pytest.mark.parametrize("size", [0, 1, MSG2_SIZE - 1, MSG2_SIZE + 1])
def test_truncated_or_padded_message2_fails(size: int) -> None:
    initiator = Initiator(ALICE, BOB.identity_public)
    initiator.start()
    with pytest.raises(HandshakeFailed):
        initiator.read_message2(bytes(size))


def test_low_order_ephemeral_fails() -> None:
    with pytest.raises(HandshakeFailed, match="low-order"):
        Responder(BOB).read_message1(MAGIC + bytes(32))


def test_bad_inputs_and_misuse() -> None:
    with pytest.raises(InvalidKey):
        LocalKeys.from_seed(b"short")
    with pytest.raises(InvalidKey):
        Initiator(ALICE, b"short")
    initiator = Initiator(ALICE, BOB.identity_public)
    with pytest.raises(RuntimeError):
        _ = initiator.result
    initiator.start()
    with pytest.raises(RuntimeError):
        initiator.start()
    assert ALICE.identity_seed.hex() not in repr(ALICE)


@given(st.binary(max_size=MSG1_SIZE + 8))
def test_random_message1_fails_cleanly(data: bytes) -> None:
    # A random 32-byte ephemeral may be a valid point (then message 3 is where it fails).
    with contextlib.suppress(HandshakeFailed):
        Responder(BOB).read_message1(data)


@given(st.binary(min_size=MSG2_SIZE, max_size=MSG2_SIZE))
def test_random_message2_fails(data: bytes) -> None:
    initiator = Initiator(ALICE, BOB.identity_public)
    initiator.start()
    with pytest.raises(HandshakeFailed):
        initiator.read_message2(data)


@given(st.binary(min_size=MSG3_SIZE, max_size=MSG3_SIZE))
def test_random_message3_fails(data: bytes) -> None:
    responder = Responder(BOB)
    responder.read_message1(Initiator(ALICE, BOB.identity_public).start())
    with pytest.raises(HandshakeFailed):
        responder.read_message3(data)
