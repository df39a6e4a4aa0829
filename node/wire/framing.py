"""Length-prefixed frames over a byte stream, with the size limit checked before reading.

A frame is a 4-byte big-endian length followed by that many bytes (on a link,
the bytes are one AEAD-sealed message). The length is checked against
:data:`MAX_FRAME_BODY` as soon as the 4 header bytes arrive, before any buffer
for the body is reserved, so a peer cannot make us allocate more than one
maximal frame.

:class:`FrameDecoder` is sans-I/O (feed bytes, get frames); ``node.net`` reads
frames straight off the stream with :func:`parse_header` and exact reads.
"""

from __future__ import annotations

from crypto.frames import FRAME_OVERHEAD
from node.wire.errors import FrameTooLarge, LocalProtocolError

HEADER_SIZE = 4
# The largest encoded message. A block message carries at most 32,788 bytes of
# block data plus a few small fields; 64 KiB leaves room for any message we
# define while keeping a worst-case frame cheap to buffer per peer.
MAX_MESSAGE_SIZE = 64 * 1024
# A sealed frame is the message plus the AEAD tag.
MAX_FRAME_BODY = MAX_MESSAGE_SIZE + FRAME_OVERHEAD


def encode_frame(body: bytes, *, max_body: int = MAX_FRAME_BODY) -> bytes:
    """Prefix ``body`` with its length; refuse bodies the peer would reject."""
    if len(body) > max_body:
        raise LocalProtocolError(f"a frame body is at most {max_body} bytes, not {len(body)}")
    return len(body).to_bytes(HEADER_SIZE, "big") + body


def parse_header(header: bytes, *, max_body: int = MAX_FRAME_BODY) -> int:
    """The body length announced by a 4-byte header; :class:`FrameTooLarge` if over the limit."""
    if len(header) != HEADER_SIZE:
        raise ValueError(f"a frame header is {HEADER_SIZE} bytes")
    length = int.from_bytes(header, "big")
    if length > max_body:
        raise FrameTooLarge(
            f"the peer announced a {length}-byte frame; the limit is {max_body} bytes"
        )
    return length


class FrameDecoder:
    """Incremental frame splitter: ``feed(data)`` returns every complete frame body.

    After a :class:`FrameTooLarge` the decoder stays failed: the stream is out of
    step and the link must close.
    """

    __slots__ = ("_buffer", "_failed", "_max_body", "_need")

    def __init__(self, *, max_body: int = MAX_FRAME_BODY) -> None:
        self._buffer = bytearray()
        self._max_body = max_body
        self._need: int | None = None  # body length of the frame in progress
        self._failed = False

    def feed(self, data: bytes) -> list[bytes]:
        if self._failed:
            raise FrameTooLarge("the frame stream already failed; close the link")
        self._buffer += data
        frames: list[bytes] = []
        while True:
            if self._need is None:
                if len(self._buffer) < HEADER_SIZE:
                    break
                try:
                    self._need = parse_header(
                        bytes(self._buffer[:HEADER_SIZE]), max_body=self._max_body
                    )
                except FrameTooLarge:
                    self._failed = True
                    self._buffer.clear()
                    raise
                del self._buffer[:HEADER_SIZE]
            if len(self._buffer) < self._need:
                break
            frames.append(bytes(self._buffer[: self._need]))
            del self._buffer[: self._need]
            self._need = None
        return frames

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a complete frame (for truncation checks)."""
        return len(self._buffer) + (HEADER_SIZE if self._need is not None else 0)
