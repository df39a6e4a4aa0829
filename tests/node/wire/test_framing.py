"""Length-prefixed framing: limits checked on the header, incremental splitting, clean errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.wire.errors import FrameTooLarge, LocalProtocolError, RemoteProtocolError
from node.wire.framing import (
    HEADER_SIZE,
    MAX_FRAME_BODY,
    FrameDecoder,
    encode_frame,
    parse_header,
)


def test_round_trip_split_anywhere() -> None:
    bodies = [b"", b"a", b"hello" * 100, bytes(MAX_FRAME_BODY)]
    stream = b"".join(encode_frame(b) for b in bodies)
    for chunk in (1, 3, 4096, len(stream)):
        decoder = FrameDecoder()
        out: list[bytes] = []
        for i in range(0, len(stream), chunk):
            out += decoder.feed(stream[i : i + chunk])
        assert out == bodies
        assert decoder.pending == 0


def test_limit_is_checked_on_the_header_alone() -> None:
    header = (MAX_FRAME_BODY + 1).to_bytes(HEADER_SIZE, "big")
    with pytest.raises(FrameTooLarge, match="limit"):
        parse_header(header)
    decoder = FrameDecoder()
    with pytest.raises(FrameTooLarge):
        decoder.feed(header)  # no body was sent, nothing was allocated for it
    with pytest.raises(FrameTooLarge, match="already failed"):
        decoder.feed(b"")
    assert issubclass(FrameTooLarge, RemoteProtocolError)


def test_sending_an_oversize_body_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        encode_frame(bytes(MAX_FRAME_BODY + 1))


def test_truncation_is_visible_as_pending() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(b"abcdef")[:-2]) == []
    assert decoder.pending == HEADER_SIZE + 4


@given(st.lists(st.binary(max_size=200), max_size=20))
def test_arbitrary_bytes_give_frames_or_frame_too_large(chunks: list[bytes]) -> None:
    decoder = FrameDecoder(max_body=300)
    try:
        for chunk in chunks:
            for frame in decoder.feed(chunk):
                assert len(frame) <= 300
    except FrameTooLarge:
        pass
