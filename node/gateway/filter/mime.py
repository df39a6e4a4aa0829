"""MIME types and character sets: parsing claimed types, decoding text to Unicode.

A claimed type comes from metadata the author wrote, so it is parsed strictly
(anything malformed is ``application/octet-stream``) and known aliases are
folded. Text is decoded with, in order: a byte-order mark, the claimed
``charset``, an in-document declaration (``<meta charset>`` in the first 1024
bytes of HTML, ``@charset`` at the start of CSS), then UTF-8 if the bytes are
valid UTF-8, else windows-1252 — the browser's own order. Only labels the WHATWG
Encoding Standard knows are honoured (no UTF-7, no Python-only codecs), and
``iso-8859-1``/``ascii`` mean windows-1252 as they do in browsers.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

OCTET_STREAM = "application/octet-stream"

_TOKEN = re.compile(r"[A-Za-z0-9!#$&^_.+\-]+")

ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "application/xhtml+xml": "text/html",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/x-flac": "audio/flac",
    "audio/mp3": "audio/mpeg",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "application/ogg": "audio/ogg",
    "audio/x-aac": "audio/aac",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class MimeType:
    """A parsed content type: ``essence`` is ``type/subtype`` in lower case."""

    essence: str
    charset: str | None = None


def parse_mime(text: str) -> MimeType:
    """Parse a claimed ``Content-Type``; anything malformed is ``application/octet-stream``."""
    if not isinstance(text, str) or len(text) > 1024:
        return MimeType(essence=OCTET_STREAM)
    essence, _, params = text.partition(";")
    kind, slash, sub = essence.strip().partition("/")
    if not slash or not _TOKEN.fullmatch(kind) or not _TOKEN.fullmatch(sub):
        return MimeType(essence=OCTET_STREAM)
    full = f"{kind}/{sub}".lower()
    charset = None
    for param in params.split(";"):
        name, eq, value = param.partition("=")
        if eq and name.strip().lower() == "charset":
            charset = value.strip().strip("\"'").strip() or None
    return MimeType(essence=ALIASES.get(full, full), charset=charset)


# WHATWG labels (lower case) -> Python codec. Not exhaustive: the encodings
# sites are written in. An unknown label is ignored (the next rule decides).
_WINDOWS_1252 = "cp1252"
_ENCODINGS = {
    "utf-8": "utf-8", "utf8": "utf-8", "unicode-1-1-utf-8": "utf-8",
    "utf-16": "utf-16-le", "utf-16le": "utf-16-le", "utf-16be": "utf-16-be",
    "us-ascii": _WINDOWS_1252, "ascii": _WINDOWS_1252, "iso-8859-1": _WINDOWS_1252,
    "iso8859-1": _WINDOWS_1252, "latin1": _WINDOWS_1252, "l1": _WINDOWS_1252,
    "windows-1252": _WINDOWS_1252, "cp1252": _WINDOWS_1252, "x-cp1252": _WINDOWS_1252,
    **{f"windows-125{i}": f"cp125{i}" for i in range(9)},
    **{f"iso-8859-{i}": f"iso8859-{i}" for i in (2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)},
    "latin2": "iso8859-2", "koi8-r": "koi8-r", "koi8-u": "koi8-u", "ibm866": "cp866",
    "macintosh": "mac-roman", "windows-874": "cp874", "tis-620": "cp874",
    "shift_jis": "shift_jis", "sjis": "shift_jis", "windows-31j": "cp932",
    "euc-jp": "euc_jp", "iso-2022-jp": "iso2022_jp", "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949", "gbk": "gbk", "gb2312": "gbk", "gb18030": "gb18030",
    "big5": "big5hkscs", "big5-hkscs": "big5hkscs",
}  # fmt: skip


def lookup_encoding(label: str | None) -> str | None:
    """The Python codec for a WHATWG encoding label, or ``None`` if unknown."""
    if not label:
        return None
    name = _ENCODINGS.get(label.strip().lower())
    if name is None:
        return None
    codecs.lookup(name)  # every entry above exists; fail loudly if not
    return name


_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))  # fmt: skip
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_:.+\-]+)""", re.I)
_CSS_CHARSET = re.compile(rb'@charset "([A-Za-z0-9_:.+\-]+)";')
PRESCAN_BYTES = 1024  # as the HTML standard's prescan


def sniff_declared(data: bytes, *, html: bool) -> str | None:
    """An encoding the document declares about itself (meta or @charset)."""
    if html:
        m = _META_CHARSET.search(data[:PRESCAN_BYTES])
        if m is None:
            return None
        name = lookup_encoding(m.group(1).decode("ascii"))
        # A page cannot be UTF-16 and still have an ASCII meta tag: the standard says UTF-8.
        return "utf-8" if name in ("utf-16-le", "utf-16-be") else name
    m = _CSS_CHARSET.match(data)
    if m is None:
        return None
    name = lookup_encoding(m.group(1).decode("ascii"))
    return "utf-8" if name in ("utf-16-le", "utf-16-be") else name


def decode_text(data: bytes, charset: str | None, *, html: bool = False, css: bool = False) -> str:
    """Decode a text document the way a browser would choose its encoding."""
    for bom, bom_codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(bom_codec, errors="replace")
    name = lookup_encoding(charset)
    if name is None and (html or css):
        name = sniff_declared(data, html=html)
    if name is None:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            name = _WINDOWS_1252
    return data.decode(name, errors="replace")
