"""Freenet's URL-safe base64: the alphabet ``A-Z a-z 0-9 ~ -`` without padding.

Freenet tools recognise keys by this shape (a 32-byte key is 43 characters,
the 5-byte "extra" field 7), so Samizdat writes its keys the same way.
"""

import base64
import binascii
import re

from crypto.errors import InvalidURI

_TO_FREENET = bytes.maketrans(b"+/", b"~-")
_FROM_FREENET = bytes.maketrans(b"~-", b"+/")
_VALID = re.compile(r"[A-Za-z0-9~-]*")


def b64encode(data: bytes) -> str:
    """Encode ``data`` in Freenet's alphabet, without ``=`` padding."""
    return base64.b64encode(data).translate(_TO_FREENET).rstrip(b"=").decode("ascii")


def b64decode(text: str, *, length: int | None = None, what: str = "value") -> bytes:
    """Decode Freenet base64; raise :class:`InvalidURI` naming ``what`` on any fault.

    Args:
        text: the encoded characters (no padding).
        length: if given, the exact number of bytes the result must have.
        what: a name for error messages ("routing key", "extra field", ...).
    """
    if not _VALID.fullmatch(text):
        raise InvalidURI(f"the {what} contains characters outside Freenet's base64 alphabet")
    if len(text) % 4 == 1:
        raise InvalidURI(f"the {what} has an impossible length ({len(text)} characters)")
    padded = text.encode("ascii").translate(_FROM_FREENET) + b"=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
    except binascii.Error as exc:  # pragma: no cover - the regex above admits only valid text
        raise InvalidURI(f"the {what} is not valid base64: {exc}") from None
    if b64encode(raw) != text:
        raise InvalidURI(f"the {what} is not in canonical base64 form")
    if length is not None and len(raw) != length:
        raise InvalidURI(f"the {what} must be {length} bytes, not {len(raw)}")
    return raw
