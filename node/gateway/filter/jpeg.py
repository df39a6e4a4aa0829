"""JPEG without metadata: segments walked, only what decodes the image kept.

Kept: SOI, DQT, DHT, DAC, DRI, the SOFn frame headers, each SOS with its
entropy-coded data, EOI; a canonical JFIF APP0 (version, density, no
thumbnail); an Adobe APP14 rebuilt to its 12 bytes (its colour transform
flag decides how CMYK/YCCK images decode); and the EXIF orientation alone,
rewritten as a minimal EXIF APP1, so that photographs are not shown on their
side. Dropped: every other APPn (EXIF, XMP, ICC profiles, Photoshop IRB), COM
comments, and bytes after EOI (where polyglot files hide). A missing frame
header, a scan before the frame, a truncated file or an unknown marker rejects
the image.
"""

from __future__ import annotations

import struct

from node.gateway.filter.images import ImageRejected

SOI, EOI, SOS, DRI, COM = 0xD8, 0xD9, 0xDA, 0xDD, 0xFE
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_TABLES = frozenset({0xC4, 0xCC, 0xDB, DRI})  # DHT, DAC, DQT, DRI
_APP0, _APP1, _APP14 = 0xE0, 0xE1, 0xEE
MAX_SEGMENTS = 100_000  # far beyond any real file; bounds work on hostile input


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def _jfif(body: bytes) -> bytes | None:
    if len(body) < 14 or body[:5] != b"JFIF\x00":
        return None
    major, minor, units = body[5], body[6], body[7]
    xd, yd = struct.unpack_from(">HH", body, 8)
    if units > 2 or xd == 0 or yd == 0:
        return None
    return _segment(_APP0, b"JFIF\x00" + bytes([major, minor, units]) + struct.pack(">HH", xd, yd)
                    + b"\x00\x00")  # fmt: skip


def _adobe(body: bytes) -> bytes | None:
    if len(body) < 12 or body[:5] != b"Adobe":
        return None
    transform = body[11]
    return _segment(_APP14, b"Adobe" + b"\x00\x64\x00\x00\x00\x00" + bytes([min(transform, 2)]))


def exif_orientation(body: bytes) -> int | None:
    """The orientation (1–8) from an EXIF APP1 body, if it has a valid one."""
    if len(body) < 14 or body[:6] != b"Exif\x00\x00":
        return None
    tiff = body[6:]
    order = tiff[:2]
    if order == b"II":
        end = "<"
    elif order == b"MM":
        end = ">"
    else:
        return None
    (magic, ifd) = struct.unpack_from(end + "HI", tiff, 2)
    if magic != 42 or ifd + 2 > len(tiff):
        return None
    (count,) = struct.unpack_from(end + "H", tiff, ifd)
    for i in range(min(count, 512)):
        entry = ifd + 2 + 12 * i
        if entry + 12 > len(tiff):
            return None
        tag, typ, n = struct.unpack_from(end + "HHI", tiff, entry)
        if tag == 0x0112 and typ == 3 and n == 1:
            (value,) = struct.unpack_from(end + "H", tiff, entry + 8)
            return value if 1 <= value <= 8 else None
    return None


def _orientation_segment(value: int) -> bytes:
    tiff = b"MM" + struct.pack(">HI", 42, 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, value, 0) + struct.pack(">I", 0)
    return _segment(_APP1, b"Exif\x00\x00" + tiff)


def _scan_end(data: bytes, pos: int) -> int:
    """Where the entropy-coded data starting at ``pos`` ends (the next real marker)."""
    n = len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= n:
            raise ImageRejected("JPEG scan data runs to the end of the file (no EOI)")
        nxt = data[pos + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
            pos += 1 if nxt == 0xFF else 2
            continue
        return pos


def strip_jpeg(data: bytes) -> bytes:
    """Rebuild a JPEG keeping only the segments that decode it."""
    if not data.startswith(b"\xff\xd8"):
        raise ImageRejected("not a JPEG (no SOI)")
    out = [b"\xff\xd8"]
    pos, n = 2, len(data)
    frame = scanned = False
    extras: list[bytes] = []  # JFIF / Adobe / orientation, written right after SOI
    for _ in range(MAX_SEGMENTS):
        while pos < n and data[pos] == 0xFF and pos + 1 < n and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 2 > n or data[pos] != 0xFF:
            raise ImageRejected("JPEG marker expected")
        marker = data[pos + 1]
        if marker == EOI:
            if not scanned:
                raise ImageRejected("JPEG has no image data")
            return out[0] + b"".join(extras) + b"".join(out[1:]) + b"\xff\xd9"
        if marker == SOI or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            raise ImageRejected("JPEG has a stray marker")
        if pos + 4 > n:
            raise ImageRejected("JPEG is truncated")
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2 or pos + 2 + length > n:
            raise ImageRejected("JPEG segment runs past the end of the file")
        body = data[pos + 4 : pos + 2 + length]
        seg_end = pos + 2 + length
        if marker in _SOF:
            if frame or len(body) < 6:
                raise ImageRejected("JPEG frame header is missing or repeated")
            frame = True
            out.append(data[pos:seg_end])
        elif marker in _TABLES:
            out.append(data[pos:seg_end])
        elif marker == SOS:
            if not frame:
                raise ImageRejected("JPEG scan before its frame header")
            end = _scan_end(data, seg_end)
            out.append(data[pos:end])
            scanned = True
            pos = end
            continue
        elif marker == _APP0 and not extras:
            kept = _jfif(body)
            if kept is not None:
                extras.append(kept)
        elif marker == _APP1:
            value = exif_orientation(body) if len(body) >= 14 else None
            if value is not None and value != 1:
                extras.append(_orientation_segment(value))
        elif marker == _APP14:
            kept = _adobe(body)
            if kept is not None:
                extras.append(kept)
        elif 0xE0 <= marker <= 0xEF or marker == COM:
            pass  # metadata: dropped
        else:
            raise ImageRejected(f"JPEG has an unknown marker 0x{marker:02X}")
        pos = seg_end
    raise ImageRejected("JPEG has too many segments")
