"""Metadata documents: what a key's content means (a file, a site, a redirect …).

Every document is one CBOR map (canonical encoding, so the same document is the
same bytes and the same CHK) with ``"v": 1`` and a type ``"t"``:

* ``file``: a file — MIME type and :class:`Content` (inline or split into blocks);
* ``meta``: a metadata document too big for one block, stored as a splitfile;
* ``redirect``: the content is at another key (``target``, an URI string);
* ``manifest``: a site — names to documents, and a default name;
* ``hint``: a USK date hint, the newest edition known when it was written.

Parsing is strict: unknown fields, wrong types, unknown FEC codecs and
inconsistent sizes are all :class:`~node.client.errors.InvalidMetadata`, never
another exception.
``specs/client.md`` §Metadata is the normative description.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cbor2

from crypto.chk import CHK_DATA_SIZE
from crypto.errors import CryptoError
from crypto.uri import URI, parse_uri
from node.client.compression import Codec
from node.client.errors import InvalidMetadata
from node.client.fec import FecCodec

VERSION = 1
HASH_SIZE = 32
KEY_PAIR_SIZE = 64  # routing key (32) || decryption key (32) per block
MAX_MIME_LENGTH = 256  # RFC 6838 caps type/subtype at 127 characters each
MAX_NAME_BYTES = 255  # what common file systems allow for one name
MAX_MANIFEST_DEPTH = 32  # deeper than any real site; bounds recursion on hostile input
MAX_SIZE = 2**53  # 8 PiB: beyond any file, and exact in every JSON/JS consumer
MAX_SEGMENT_BLOCKS = 256  # GF(2^8), the field of both FEC codecs
MAX_EDITION = 2**62
DEFAULT_MIME = "application/octet-stream"


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """One FEC segment: ``k`` data blocks then ``n - k`` check blocks, and their CHK keys.

    ``fec`` is the erasure code of the check blocks; zfec, the default, is what
    a segment without a name in the document means (everything inserted before
    ISA-L). New inserts name theirs.
    """

    k: int
    n: int
    keys: bytes  # n × (routing key || decryption key)
    fec: FecCodec = FecCodec.ZFEC

    def __post_init__(self) -> None:
        if not isinstance(self.fec, FecCodec):
            raise InvalidMetadata(f"unknown FEC codec {self.fec!r}")
        if not 1 <= self.k <= self.n <= MAX_SEGMENT_BLOCKS:
            raise InvalidMetadata(f"a segment of {self.k} of {self.n} blocks is impossible")
        if len(self.keys) != self.n * KEY_PAIR_SIZE:
            raise InvalidMetadata("a segment's key list does not match its block count")

    def block_key(self, index: int) -> tuple[bytes, bytes]:
        """``(routing key, decryption key)`` of block ``index`` of this segment."""
        at = index * KEY_PAIR_SIZE
        return self.keys[at : at + 32], self.keys[at + 32 : at + 64]


@dataclass(frozen=True, slots=True, kw_only=True)
class Content:
    """Bytes of a file or of split metadata: how to get them back and check them.

    ``payload_size`` is the stored (compressed) length; ``size`` and ``hash``
    describe the original. Exactly one of ``inline`` and ``segments`` holds the
    payload. ``crypt_key`` is set when the payload is under the splitfile
    keystream (content inserted under a signed key).
    """

    size: int
    hash: bytes
    codec: Codec = Codec.NONE
    payload_size: int
    crypt_key: bytes | None = None
    inline: bytes | None = None
    segments: tuple[Segment, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.size <= MAX_SIZE or not 0 <= self.payload_size <= MAX_SIZE:
            raise InvalidMetadata("a content size is out of range")
        if len(self.hash) != HASH_SIZE:
            raise InvalidMetadata("a content hash is 32 bytes")
        if self.crypt_key is not None and len(self.crypt_key) != 32:
            raise InvalidMetadata("a content key is 32 bytes")
        if self.codec is Codec.NONE and self.size != self.payload_size:
            raise InvalidMetadata("uncompressed content must be as long as its payload")
        if (self.inline is None) == (not self.segments):
            raise InvalidMetadata("content is either inline or split, not both or neither")
        if self.inline is not None:
            if len(self.inline) != self.payload_size or len(self.inline) > CHK_DATA_SIZE:
                raise InvalidMetadata("inline content does not match its size")
        else:
            blocks = sum(s.k for s in self.segments)
            if blocks != -(-self.payload_size // CHK_DATA_SIZE):
                raise InvalidMetadata("the segments do not match the payload size")

    @property
    def data_blocks(self) -> int:
        return sum(s.k for s in self.segments)

    @property
    def total_blocks(self) -> int:
        return sum(s.n for s in self.segments)


@dataclass(frozen=True, slots=True, kw_only=True)
class FileDoc:
    """A file: its MIME type and its content."""

    mime: str
    content: Content


@dataclass(frozen=True, slots=True, kw_only=True)
class MetaDoc:
    """A metadata document stored as a splitfile because it did not fit one block."""

    content: Content


@dataclass(frozen=True, slots=True, kw_only=True)
class Redirect:
    """The content is found at ``target``; ``mime`` overrides what is found there."""

    target: str
    mime: str | None = None

    @property
    def uri(self) -> URI:
        return parse_uri(self.target)


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """A directory: names to documents (files, redirects, nested manifests)."""

    entries: Mapping[str, Document] = field(default_factory=dict)
    default: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Hint:
    """A USK date hint: ``edition`` was the newest edition when it was inserted."""

    edition: int


Document = FileDoc | MetaDoc | Redirect | Manifest | Hint


# --- encoding ----------------------------------------------------------------------------


def encode_document(doc: Document) -> bytes:
    """The canonical CBOR bytes of ``doc``."""
    return bytes(cbor2.dumps(_to_cbor(doc, 0), canonical=True))


def _content_fields(c: Content) -> dict[str, Any]:
    out: dict[str, Any] = {
        "size": c.size,
        "hash": c.hash,
        "codec": c.codec.value,
        "psize": c.payload_size,
    }
    if c.crypt_key is not None:
        out["crypt"] = c.crypt_key
    if c.inline is not None:
        out["data"] = c.inline
    else:
        out["segs"] = [_segment_cbor(s) for s in c.segments]
    return out


def _segment_cbor(s: Segment) -> list[Any]:
    # zfec is written as nothing (one encoding per document, and documents
    # written before there was a choice read the same).
    return [s.k, s.n, s.keys] if s.fec is FecCodec.ZFEC else [s.k, s.n, s.keys, s.fec.value]


def _to_cbor(doc: Document, depth: int) -> dict[str, Any]:
    if depth > MAX_MANIFEST_DEPTH:
        raise InvalidMetadata(f"manifests nest at most {MAX_MANIFEST_DEPTH} levels deep")
    if isinstance(doc, FileDoc):
        return {"v": VERSION, "t": "file", "mime": doc.mime, **_content_fields(doc.content)}
    if isinstance(doc, MetaDoc):
        return {"v": VERSION, "t": "meta", **_content_fields(doc.content)}
    if isinstance(doc, Redirect):
        out: dict[str, Any] = {"v": VERSION, "t": "redirect", "target": doc.target}
        if doc.mime is not None:
            out["mime"] = doc.mime
        return out
    if isinstance(doc, Manifest):
        entries = {name: _to_cbor(sub, depth + 1) for name, sub in doc.entries.items()}
        out = {"v": VERSION, "t": "manifest", "entries": entries}
        if doc.default is not None:
            out["default"] = doc.default
        return out
    return {"v": VERSION, "t": "hint", "edition": doc.edition}


# --- parsing -----------------------------------------------------------------------------


def parse_document(raw: bytes) -> Document:
    """Parse and validate a metadata document; raise :class:`InvalidMetadata`."""
    try:
        value = cbor2.loads(raw)
    except Exception as exc:  # cbor2 raises many types on garbage; all mean the same
        raise InvalidMetadata(f"the metadata is not valid CBOR ({type(exc).__name__})") from None
    return _from_cbor(value, 0)


def _from_cbor(value: object, depth: int) -> Document:
    if depth > MAX_MANIFEST_DEPTH:
        raise InvalidMetadata(f"manifests nest at most {MAX_MANIFEST_DEPTH} levels deep")
    m = _map(value, "a metadata document")
    if m.get("v") != VERSION or type(m.get("v")) is not int:
        raise InvalidMetadata(
            f"the metadata has version {m.get('v')!r}; this client reads version {VERSION} "
            "(upgrade Samizdat if the content is newer)"
        )
    kind = m.get("t")
    if kind == "file":
        _only(m, {"v", "t", "mime", *_CONTENT_KEYS})
        return FileDoc(mime=_mime(m.get("mime")), content=_content(m))
    if kind == "meta":
        _only(m, {"v", "t", *_CONTENT_KEYS})
        return MetaDoc(content=_content(m))
    if kind == "redirect":
        _only(m, {"v", "t", "target", "mime"})
        target = _str(m.get("target"), "a redirect target", 4096)
        try:
            parse_uri(target)
        except CryptoError as exc:
            raise InvalidMetadata(f"the redirect target is not a valid key: {exc}") from None
        mime = None if "mime" not in m else _mime(m["mime"])
        return Redirect(target=target, mime=mime)
    if kind == "manifest":
        _only(m, {"v", "t", "entries", "default"})
        entries = {
            check_name(_str(name, "a manifest name", 4 * MAX_NAME_BYTES)): _from_cbor(
                sub, depth + 1
            )
            for name, sub in _map(m.get("entries"), "manifest entries").items()
        }
        for name, sub in entries.items():
            if isinstance(sub, Hint | MetaDoc):
                raise InvalidMetadata(f"the manifest entry {name!r} has an impossible type")
        default = None if "default" not in m else check_name(_str(m["default"], "default", 1020))
        return Manifest(entries=entries, default=default)
    if kind == "hint":
        _only(m, {"v", "t", "edition"})
        return Hint(edition=_int(m.get("edition"), "an edition", MAX_EDITION))
    raise InvalidMetadata(f"unknown metadata type {kind!r}")


_CONTENT_KEYS = {"size", "hash", "codec", "psize", "crypt", "data", "segs"}


def _content(m: dict[str, object]) -> Content:
    try:
        codec = Codec(m.get("codec"))
    except ValueError:
        raise InvalidMetadata(f"unknown compression codec {m.get('codec')!r}") from None
    inline = m.get("data")
    if inline is not None and type(inline) is not bytes:
        raise InvalidMetadata("inline data must be a byte string")
    crypt = m.get("crypt")
    if crypt is not None and type(crypt) is not bytes:
        raise InvalidMetadata("a content key must be a byte string")
    segs_raw = m.get("segs", [])
    if type(segs_raw) is not list:
        raise InvalidMetadata("segments must be a list")
    segments = []
    for seg in segs_raw:
        if type(seg) is not list or len(seg) not in (3, 4):
            raise InvalidMetadata("a segment is [k, n, keys] or [k, n, keys, fec]")
        k = _int(seg[0], "k", MAX_SEGMENT_BLOCKS)
        n = _int(seg[1], "n", MAX_SEGMENT_BLOCKS)
        if type(seg[2]) is not bytes:
            raise InvalidMetadata("segment keys must be a byte string")
        segments.append(Segment(k=k, n=n, keys=seg[2], fec=_fec(seg[3:])))
    hash_ = m.get("hash")
    if type(hash_) is not bytes:
        raise InvalidMetadata("a content hash must be a byte string")
    return Content(
        size=_int(m.get("size"), "a size", MAX_SIZE),
        hash=hash_,
        codec=codec,
        payload_size=_int(m.get("psize"), "a payload size", MAX_SIZE),
        crypt_key=crypt,
        inline=inline,
        segments=tuple(segments),
    )


def _fec(named: list[object]) -> FecCodec:
    if not named:
        return FecCodec.ZFEC
    name = named[0]
    try:
        fec = FecCodec(name) if type(name) is str else None
    except ValueError:
        fec = None
    if fec is None:
        raise InvalidMetadata(
            f"unknown FEC codec {name!r} (this client decodes {', '.join(FecCodec)}; "
            "upgrade Samizdat if the content is newer)"
        )
    if fec is FecCodec.ZFEC:
        raise InvalidMetadata("a zfec segment is written [k, n, keys], without a name")
    return fec


def check_name(name: str) -> str:
    """Validate one manifest name (no ``/``, not ``.``/``..``, at most 255 UTF-8 bytes)."""
    if not name or name in (".", "..") or "/" in name or "\x00" in name:
        raise InvalidMetadata(f"{name!r} is not a valid name in a site")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise InvalidMetadata(f"a name in a site is at most {MAX_NAME_BYTES} bytes")
    return name


def _map(value: object, what: str) -> dict[str, object]:
    if type(value) is not dict or not all(type(k) is str for k in value):
        raise InvalidMetadata(f"{what} must be a map with text keys")
    return value


def _only(m: dict[str, object], allowed: set[str]) -> None:
    extra = set(m) - allowed
    if extra:
        raise InvalidMetadata(f"the metadata has unknown fields {sorted(extra)}")


def _int(value: object, what: str, maximum: int) -> int:
    if type(value) is not int or not 0 <= value <= maximum:
        raise InvalidMetadata(f"{what} must be a whole number from 0 to {maximum}")
    return value


def _str(value: object, what: str, max_length: int) -> str:
    if type(value) is not str or len(value) > max_length:
        raise InvalidMetadata(f"{what} must be text of at most {max_length} characters")
    return value


def _mime(value: object) -> str:
    mime = _str(value, "a MIME type", MAX_MIME_LENGTH)
    if not mime or any(ord(c) < 0x20 or ord(c) > 0x7E for c in mime) or "/" not in mime:
        raise InvalidMetadata(f"{mime!r} is not a MIME type")
    return mime
