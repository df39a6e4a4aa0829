"""Fuzz the link: the three handshake messages, sealed frames, and the frame splitter."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from crypto.handshake import MAGIC, MSG1_SIZE, MSG2_SIZE, MSG3_SIZE
from tests.fuzz import targets as t
from tests.fuzz.mutate import fuzz_input


@given(
    st.one_of(
        fuzz_input([t.handshake_messages()[0]]),
        st.binary(min_size=32, max_size=32).map(lambda k: MAGIC + k),
    )
)
@example(MAGIC[:3] + b"\x02" + bytes(32))  # another link version
@example(MAGIC + bytes(32))  # a low-order X25519 key
@example(b"GET / HTTP/1.1\r\n")
def test_handshake_message1(data: bytes) -> None:
    assert len(t.handshake_messages()[0]) == MSG1_SIZE
    t.check_handshake1(data)


@given(
    st.one_of(
        fuzz_input([t.handshake_messages()[1]]), st.binary(min_size=MSG2_SIZE, max_size=MSG2_SIZE)
    )
)
@example(bytes(MSG2_SIZE))
def test_handshake_message2(data: bytes) -> None:
    t.check_handshake2(data)


@given(
    st.one_of(
        fuzz_input([t.handshake_messages()[2]]), st.binary(min_size=MSG3_SIZE, max_size=MSG3_SIZE)
    )
)
@example(bytes(MSG3_SIZE))
def test_handshake_message3(data: bytes) -> None:
    t.check_handshake3(data)


@given(fuzz_input(t.sealed_frames()))
@example(b"")
@example(bytes(15))
def test_frame_open(data: bytes) -> None:
    t.check_frame_open(data)


@given(
    st.one_of(
        fuzz_input(t.frame_stream_seeds()),
        st.lists(st.binary(max_size=400).map(lambda b: len(b).to_bytes(4, "big") + b)).map(
            b"".join
        ),
    )
)
@example(b"\xff\xff\xff\xff")
@example(b"\x00\x00\x01")
def test_frame_decoder(data: bytes) -> None:
    t.check_frame_decoder(data)
