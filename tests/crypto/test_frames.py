"""Counter-nonce frame sealing: round trips, and replays, reorders, drops, tampering fail."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import frames
from crypto.errors import FrameRejected, InvalidKey
from crypto.frames import FRAME_OVERHEAD, FrameOpener, FrameSealer

KEY = bytes(range(32))


def pair() -> tuple[FrameSealer, FrameOpener]:
    return FrameSealer(KEY), FrameOpener(KEY)


def test_round_trip_in_order() -> None:
    sealer, opener = pair()
    for i in range(10):
        sealed = sealer.seal(bytes([i]) * i)
        assert len(sealed) == i + FRAME_OVERHEAD
        assert opener.open(sealed) == bytes([i]) * i
    assert sealer.counter == opener.counter == 10


def test_same_plaintext_seals_differently() -> None:
    sealer, _ = pair()
    assert sealer.seal(b"x") != sealer.seal(b"x")


def test_replay_fails() -> None:
    sealer, opener = pair()
    first = sealer.seal(b"one")
    opener.open(first)
    with pytest.raises(FrameRejected):
        opener.open(first)


def test_reorder_fails() -> None:
    sealer, opener = pair()
    _first, second = sealer.seal(b"1"), sealer.seal(b"2")
    with pytest.raises(FrameRejected):
        opener.open(second)


def test_drop_fails() -> None:
    sealer, opener = pair()
    sealer.seal(b"lost")
    with pytest.raises(FrameRejected):
        opener.open(sealer.seal(b"next"))


@given(st.binary(max_size=64), st.data())
def test_any_tampered_byte_fails(plaintext: bytes, data: st.DataObject) -> None:
    sealer, opener = pair()
    sealed = bytearray(sealer.seal(plaintext))
    position = data.draw(st.integers(0, len(sealed) - 1))
    sealed[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(FrameRejected):
        opener.open(bytes(sealed))


def test_failure_is_final_and_short_frames_fail() -> None:
    sealer, opener = pair()
    with pytest.raises(FrameRejected):
        opener.open(b"short")
    with pytest.raises(FrameRejected, match="already failed"):
        opener.open(sealer.seal(b"fine"))


def test_direction_keys_do_not_mix() -> None:
    sealer = FrameSealer(KEY)
    with pytest.raises(FrameRejected):
        FrameOpener(bytes(32)).open(sealer.seal(b"x"))


def test_rekey_keeps_both_sides_in_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frames, "REKEY_INTERVAL", 4)
    sealer, opener = pair()
    sealed = [sealer.seal(bytes([i])) for i in range(10)]
    assert [opener.open(s) for s in sealed] == [bytes([i]) for i in range(10)]
    # After a rekey, the original key no longer opens frame 5.
    stale = FrameOpener(KEY)
    stale._counter = 5
    with pytest.raises(FrameRejected):
        stale.open(sealed[5])


def test_bad_key_length() -> None:
    with pytest.raises(InvalidKey):
        FrameSealer(b"short")
