"""Images: recognise the four formats served inline and rebuild them without metadata.

PNG, JPEG, GIF and WebP are walked structure by structure and written out
again with only the parts a browser needs to draw them; metadata (EXIF, XMP,
comments, text chunks, ICC profiles, timestamps) is left behind, which protects
the people who publish photographs. Anything that does not parse as the format
its magic bytes claim raises :class:`ImageRejected`. The pixel data itself is
not decoded: the structure is what carries hidden extras, and decoding
compressed pixels in Python would add risk, not remove it.
"""

from __future__ import annotations

MAX_IMAGE_BYTES = 64 * 1024 * 1024  # larger than any web image; bounds memory per request


class ImageRejected(ValueError):
    """The bytes are not a well-formed image of the format they claim to be."""


def sniff_image(data: bytes) -> str | None:
    """The MIME type the magic bytes say, for the four formats the filter rebuilds."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def filter_image(data: bytes) -> tuple[bytes, str]:
    """Rebuild an image without metadata; return the bytes and the type to serve.

    Raises:
        ImageRejected: not one of the four formats, malformed, or too large.
    """
    from node.gateway.filter import gif, jpeg, png, webp

    if len(data) > MAX_IMAGE_BYTES:
        raise ImageRejected(f"images are filtered up to {MAX_IMAGE_BYTES} bytes")
    kind = sniff_image(data)
    if kind == "image/png":
        return png.strip_png(data), kind
    if kind == "image/jpeg":
        return jpeg.strip_jpeg(data), kind
    if kind == "image/gif":
        return gif.strip_gif(data), kind
    if kind == "image/webp":
        return webp.strip_webp(data), kind
    raise ImageRejected("not a PNG, JPEG, GIF or WebP image")
