"""WebP without metadata: RIFF chunks walked, only image and animation data kept.

Kept: VP8X (with its ICC, EXIF and XMP flags cleared), VP8, VP8L, ALPH, ANIM
and ANMF (whose nested frame chunks are checked the same way). Dropped: ICCP,
EXIF, XMP and unknown chunks, and bytes past the RIFF size. A bad RIFF header,
a chunk running past the end, a VP8/VP8L chunk without its signature, or no
image chunk at all rejects the image.
"""

from __future__ import annotations

import struct

from node.gateway.filter.images import ImageRejected

MAX_CHUNKS = 100_000  # bounds work on hostile input
_IMAGE = frozenset({b"VP8 ", b"VP8L"})
_FRAME_CHUNKS = frozenset({b"ALPH", b"VP8 ", b"VP8L"})
_VP8X_METADATA_FLAGS = 0x20 | 0x08 | 0x04  # ICC profile, EXIF, XMP


def _chunks(data: bytes, pos: int, end: int) -> list[tuple[bytes, bytes]]:
    chunks: list[tuple[bytes, bytes]] = []
    while pos < end:
        if len(chunks) >= MAX_CHUNKS:
            raise ImageRejected("WebP has too many chunks")
        if pos + 8 > end:
            raise ImageRejected("WebP chunk header is truncated")
        kind = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        if pos + 8 + size > end:
            raise ImageRejected("WebP chunk runs past the end of the file")
        chunks.append((kind, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return chunks


def _chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def _check_image(kind: bytes, body: bytes) -> None:
    if kind == b"VP8 " and (len(body) < 10 or body[3:6] != b"\x9d\x01\x2a"):
        raise ImageRejected("WebP VP8 data has no key frame signature")
    if kind == b"VP8L" and (len(body) < 5 or body[0] != 0x2F):
        raise ImageRejected("WebP VP8L data has no signature")


def _frame(body: bytes) -> bytes:
    if len(body) < 16:
        raise ImageRejected("WebP ANMF frame is truncated")
    kept = []
    images = 0
    for kind, inner in _chunks(body, 16, len(body)):
        if kind in _FRAME_CHUNKS:
            if kind in _IMAGE:
                _check_image(kind, inner)
                images += 1
            kept.append(_chunk(kind, inner))
    if images != 1:
        raise ImageRejected("WebP ANMF frame needs exactly one image")
    return body[:16] + b"".join(kept)


def strip_webp(data: bytes) -> bytes:
    """Rebuild a WebP keeping only image and animation chunks."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ImageRejected("not a WebP RIFF header")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if riff_size < 4 or 8 + riff_size > len(data):
        raise ImageRejected("WebP RIFF size runs past the end of the file")
    chunks = _chunks(data, 12, 8 + riff_size)
    if not chunks:
        raise ImageRejected("WebP has no chunks")
    out: list[bytes] = []
    images = 0
    for i, (kind, body) in enumerate(chunks):
        if kind == b"VP8X":
            if i != 0 or len(body) != 10:
                raise ImageRejected("WebP VP8X chunk misplaced or malformed")
            out.append(_chunk(kind, bytes([body[0] & ~_VP8X_METADATA_FLAGS & 0xFF]) + body[1:]))
        elif kind in _IMAGE:
            _check_image(kind, body)
            images += 1
            out.append(_chunk(kind, body))
        elif kind == b"ANMF":
            out.append(_chunk(kind, _frame(body)))
            images += 1
        elif kind in (b"ALPH", b"ANIM"):
            out.append(_chunk(kind, body))
    if not images:
        raise ImageRejected("WebP has no image data")
    payload = b"WEBP" + b"".join(out)
    return b"RIFF" + struct.pack("<I", len(payload)) + payload
