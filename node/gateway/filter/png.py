"""PNG without metadata: chunks walked, CRCs checked, only drawing chunks kept.

Kept: the critical chunks (IHDR, PLTE, IDAT, IEND), the colour and layout
chunks a browser uses (tRNS, gAMA, cHRM, sRGB, cICP, sBIT, pHYs, bKGD, hIST)
and the APNG animation chunks (acTL, fcTL, fdAT). Dropped: tEXt, zTXt, iTXt,
eXIf, tIME, iCCP (a profile can name the device that made it), and every other
ancillary chunk. An unknown critical chunk, a bad CRC, a bad IHDR, or chunks
out of order reject the image; bytes after IEND are dropped.
"""

from __future__ import annotations

import struct
import zlib

from node.gateway.filter.images import ImageRejected

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_CHUNK = 2**31 - 1  # the PNG specification's own limit
KEEP = frozenset(
    {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"cICP",
     b"sBIT", b"pHYs", b"bKGD", b"hIST", b"acTL", b"fcTL", b"fdAT"}
)  # fmt: skip
# colour type -> allowed bit depths
_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _check_ihdr(data: bytes) -> None:
    if len(data) != 13:
        raise ImageRejected("PNG IHDR is not 13 bytes")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", data
    )
    if not (0 < width < 2**31 and 0 < height < 2**31):
        raise ImageRejected("PNG dimensions out of range")
    if depth not in _DEPTHS.get(colour, set()):
        raise ImageRejected("PNG colour type and bit depth do not go together")
    if compression or filtering or interlace > 1:
        raise ImageRejected("PNG uses an unknown compression, filter or interlace method")


def strip_png(data: bytes) -> bytes:
    """Rebuild a PNG keeping only the chunks listed in :data:`KEEP`."""
    if not data.startswith(SIGNATURE):
        raise ImageRejected("not a PNG signature")
    out = [SIGNATURE]
    pos = len(SIGNATURE)
    first = True
    seen_idat = idat_ended = False
    while True:
        if pos + 12 > len(data):
            raise ImageRejected("PNG ends before its IEND chunk")
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        if length > MAX_CHUNK or pos + 12 + length > len(data):
            raise ImageRejected("PNG chunk runs past the end of the file")
        if not all(65 <= b <= 90 or 97 <= b <= 122 for b in kind):
            raise ImageRejected("PNG chunk type is not four letters")
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        if zlib.crc32(kind + body) != crc:
            raise ImageRejected(f"PNG chunk {kind.decode('ascii')} has a bad CRC")
        pos += 12 + length
        if first:
            if kind != b"IHDR":
                raise ImageRejected("PNG does not start with IHDR")
            _check_ihdr(body)
            first = False
        elif kind == b"IHDR":
            raise ImageRejected("PNG has a second IHDR")
        if kind == b"IDAT":
            if idat_ended:
                raise ImageRejected("PNG IDAT chunks are not consecutive")
            seen_idat = True
        elif seen_idat:
            idat_ended = True
        if kind == b"IEND":
            if not seen_idat:
                raise ImageRejected("PNG has no image data")
            out.append(_chunk(b"IEND", b""))
            return b"".join(out)
        critical = 65 <= kind[0] <= 90
        if kind in KEEP:
            out.append(_chunk(kind, body))
        elif critical:
            raise ImageRejected(f"PNG has an unknown critical chunk {kind.decode('ascii')}")
