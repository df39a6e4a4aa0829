"""Audio and video: served inline unchanged when their first bytes match the claimed type.

Media files are passed through untouched and can be streamed: the check needs
only the first :data:`SNIFF_BYTES` bytes. They are safe to play inline because
browsers play only self-contained media: an MP4 data-reference or a WebM
link is never fetched by a ``<video>`` element. Formats that *do* fetch — HLS
and DASH playlists, WebVTT (whose ``STYLE`` blocks hold CSS) — are not on this
list and go out as downloads. The magic-bytes check stops a page, a PDF or an
SVG from riding inline under an audio or video label. Media metadata (ID3
tags, MP4 ``udta``) is not stripped: it concerns the publisher, not the reader.
"""

from __future__ import annotations

SNIFF_BYTES = 64  # enough for every signature below (WebM's DocType sits early)


def _mp4(head: bytes) -> bool:
    return len(head) >= 12 and head[4:8] == b"ftyp"


def _webm(head: bytes) -> bool:
    return head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head[:SNIFF_BYTES]


def _ogg(head: bytes) -> bool:
    return head.startswith(b"OggS")


def _mpeg_audio(head: bytes) -> bool:
    if head.startswith(b"ID3"):
        return True
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0


def _aac(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0


def _wav(head: bytes) -> bool:
    return len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def _flac(head: bytes) -> bool:
    return head.startswith(b"fLaC")


MEDIA_CHECKS = {
    "video/mp4": _mp4,
    "audio/mp4": _mp4,
    "video/webm": _webm,
    "audio/webm": _webm,
    "video/ogg": _ogg,
    "audio/ogg": _ogg,
    "audio/opus": _ogg,
    "audio/mpeg": _mpeg_audio,
    "audio/aac": _aac,
    "audio/wav": _wav,
    "audio/flac": _flac,
}
MEDIA_TYPES = frozenset(MEDIA_CHECKS)


def media_matches(essence: str, head: bytes) -> bool:
    """Whether the first bytes of a file are what ``essence`` (a media type) claims."""
    check = MEDIA_CHECKS.get(essence)
    return check is not None and check(head[:SNIFF_BYTES])
