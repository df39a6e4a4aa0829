"""GIF without metadata: blocks walked, only images and their controls kept.

Kept: header, logical screen descriptor and colour tables, image descriptors
with their LZW data, graphic control extensions, and the NETSCAPE2.0 /
ANIMEXTS1.0 looping extension. Dropped: comment extensions, plain-text
extensions, every other application extension (XMP hides there), and bytes
after the trailer. Truncation or an unknown block rejects the image. LZW data
is carried, not decoded.
"""

from __future__ import annotations

from node.gateway.filter.images import ImageRejected

MAX_BLOCKS = 1_000_000  # bounds work on hostile input
_LOOPING = frozenset({b"NETSCAPE2.0", b"ANIMEXTS1.0"})


def _sub_blocks(data: bytes, pos: int) -> int:
    """The position after a chain of data sub-blocks starting at ``pos``."""
    n = len(data)
    while True:
        if pos >= n:
            raise ImageRejected("GIF data sub-blocks run past the end of the file")
        size = data[pos]
        if size == 0:
            return pos + 1
        pos += 1 + size


def strip_gif(data: bytes) -> bytes:
    """Rebuild a GIF keeping only what draws and animates it."""
    if len(data) < 13 or data[:6] not in (b"GIF87a", b"GIF89a"):
        raise ImageRejected("not a GIF header")
    flags = data[10]
    pos = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
    if pos > len(data):
        raise ImageRejected("GIF colour table runs past the end of the file")
    out = [data[:pos]]
    images = 0
    for _ in range(MAX_BLOCKS):
        if pos >= len(data):
            raise ImageRejected("GIF ends before its trailer")
        kind = data[pos]
        if kind == 0x3B:
            if not images:
                raise ImageRejected("GIF has no image")
            out.append(b"\x3b")
            return b"".join(out)
        if kind == 0x2C:
            if pos + 10 > len(data):
                raise ImageRejected("GIF image descriptor is truncated")
            local = data[pos + 9]
            start = pos
            pos += 10 + (3 * (2 << (local & 7)) if local & 0x80 else 0)
            if pos >= len(data):
                raise ImageRejected("GIF image data is missing")
            if not 1 <= data[pos] <= 11:
                raise ImageRejected("GIF LZW code size out of range")
            pos = _sub_blocks(data, pos + 1)
            out.append(data[start:pos])
            images += 1
        elif kind == 0x21:
            if pos + 2 > len(data):
                raise ImageRejected("GIF extension is truncated")
            label = data[pos + 1]
            start = pos
            end = _sub_blocks(data, pos + 2)
            if label == 0xF9:
                if data[pos + 2] != 4 or end != pos + 2 + 1 + 4 + 1:
                    raise ImageRejected("GIF graphic control extension is malformed")
                out.append(data[start:end])
            elif label == 0xFF and data[pos + 2] == 11 and data[pos + 3 : pos + 14] in _LOOPING:
                block = data[pos + 14 : end]
                if len(block) == 5 and block[0] == 3 and block[1] == 1 and block[4] == 0:
                    out.append(data[start:end])
            pos = end
        else:
            raise ImageRejected(f"GIF has an unknown block 0x{kind:02X}")
    raise ImageRejected("GIF has too many blocks")
