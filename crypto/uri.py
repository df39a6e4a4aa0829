"""Parse and format key URIs: ``CHK@``, ``SSK@``, ``USK@`` and ``KSK@``.

Shapes follow Freenet's so that tools which recognise Freenet keys keep working:
``CHK@<routing key>,<decryption key>,<extra>[/name…]``,
``SSK@<public key hash | private key>,<crypto key>,<extra>/<docname>[/…]``,
``USK@<…>,<…>,<extra>/<site>/<edition>[/…]`` and ``KSK@<keyword>[/…]``, with
32-byte fields in Freenet's base64 (43 characters) and a 5-byte extra field
(7 characters). An optional ``freenet:`` prefix is accepted and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TypeVar

from crypto.encoding import b64decode, b64encode
from crypto.errors import InvalidKey, InvalidURI
from crypto.primitives import sign_public_key
from crypto.ssk import pubkey_hash, ssk_routing_key

MAX_URI_LENGTH = 4096  # far above any real key; bounds work on hostile input
EXTRA_SIZE = 5
EXTRA_VERSION = 1
EXTRA_SUITE = 1
FLAG_METADATA = 0x01


@dataclass(frozen=True, slots=True, kw_only=True)
class Extra:
    """The 5-byte settings field: version, insert flag, suite, flags, reserved.

    Byte 1 is 1 for an insert (private) key and 0 for a request key, where
    Freenet's tools look for it.
    """

    insert: bool = False
    metadata: bool = False

    def to_bytes(self) -> bytes:
        flags = FLAG_METADATA if self.metadata else 0
        return bytes([EXTRA_VERSION, int(self.insert), EXTRA_SUITE, flags, 0])

    @classmethod
    def from_bytes(cls, raw: bytes) -> Extra:
        if len(raw) != EXTRA_SIZE:
            raise InvalidURI(f"the extra field must be {EXTRA_SIZE} bytes")
        version, insert, suite, flags, reserved = raw
        if version != EXTRA_VERSION or suite != EXTRA_SUITE:
            raise InvalidURI(
                "the key uses a format or cipher suite Samizdat does not know "
                "(is it a Freenet key? Samizdat keys are not interchangeable with Freenet's)"
            )
        if insert not in (0, 1) or flags & ~FLAG_METADATA or reserved:
            raise InvalidURI("the extra field has unknown flags set")
        return cls(insert=bool(insert), metadata=bool(flags & FLAG_METADATA))

    def __str__(self) -> str:
        return b64encode(self.to_bytes())


def _path_suffix(parts: tuple[str, ...]) -> str:
    return "".join("/" + p for p in parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class CHKURI:
    """A content hash key; both keys ``None`` is the insert form ``CHK@[/name]``."""

    routing_key: bytes | None = None
    decryption_key: bytes | None = None
    extra: Extra = field(default_factory=Extra)
    path: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.routing_key is None) != (self.decryption_key is None):
            raise InvalidKey("a CHK URI has both keys or neither")
        for key in (self.routing_key, self.decryption_key):
            if key is not None and len(key) != 32:
                raise InvalidKey("CHK keys are 32 bytes")

    @property
    def is_insert_form(self) -> bool:
        return self.routing_key is None

    def __str__(self) -> str:
        if self.routing_key is None or self.decryption_key is None:
            return "CHK@" + _path_suffix(self.path)
        keys = f"{b64encode(self.routing_key)},{b64encode(self.decryption_key)},{self.extra}"
        return f"CHK@{keys}{_path_suffix(self.path)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SSKURI:
    """A signed subspace key: ``key`` is the public key hash, or the private key
    when ``extra.insert`` is set."""

    key: bytes
    crypto_key: bytes
    extra: Extra = field(default_factory=Extra)
    docname: str = ""
    path: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.key) != 32 or len(self.crypto_key) != 32:
            raise InvalidKey("SSK key fields are 32 bytes")

    @property
    def is_insert(self) -> bool:
        return self.extra.insert

    def public(self) -> SSKURI:
        """The request form of this key (unchanged if already one)."""
        return _public(self)

    @property
    def routing_key(self) -> bytes:
        """The routing key of this document (computed from the request form)."""
        return ssk_routing_key(self.public().key, self.crypto_key, self.docname)

    def with_docname(self, docname: str) -> SSKURI:
        return replace(self, docname=docname)

    def __str__(self) -> str:
        keys = f"{b64encode(self.key)},{b64encode(self.crypto_key)},{self.extra}"
        return f"SSK@{keys}/{self.docname}{_path_suffix(self.path)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class USKURI:
    """An updatable key: edition ``N`` of ``site`` is the SSK document ``site-N``.

    A negative edition asks for the latest edition known.
    """

    key: bytes
    crypto_key: bytes
    extra: Extra = field(default_factory=Extra)
    site: str
    edition: int
    path: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.key) != 32 or len(self.crypto_key) != 32:
            raise InvalidKey("USK key fields are 32 bytes")
        if not self.site:
            raise InvalidKey("a USK needs a site name")

    @property
    def is_insert(self) -> bool:
        return self.extra.insert

    def to_ssk(self, edition: int | None = None) -> SSKURI:
        """The SSK holding an edition (this one unless ``edition`` is given)."""
        n = self.edition if edition is None else edition
        if n < 0:
            raise InvalidKey("a negative USK edition names no single SSK; search for one")
        return SSKURI(
            key=self.key,
            crypto_key=self.crypto_key,
            extra=self.extra,
            docname=f"{self.site}-{n}",
            path=self.path,
        )

    def public(self) -> USKURI:
        """The request form of this key (unchanged if already one)."""
        return _public(self)

    def with_edition(self, edition: int) -> USKURI:
        return replace(self, edition=edition)

    def __str__(self) -> str:
        keys = f"{b64encode(self.key)},{b64encode(self.crypto_key)},{self.extra}"
        return f"USK@{keys}/{self.site}/{self.edition}{_path_suffix(self.path)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class KSKURI:
    """A keyword key: an SSK whose keys are derived from a human-readable word."""

    keyword: str
    path: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.keyword:
            raise InvalidKey("a KSK needs a keyword")

    def __str__(self) -> str:
        return f"KSK@{self.keyword}{_path_suffix(self.path)}"


URI = CHKURI | SSKURI | USKURI | KSKURI

_Signed = TypeVar("_Signed", SSKURI, USKURI)


def _public(uri: _Signed) -> _Signed:
    """An insert key's request form: the private key becomes its public key's hash."""
    if not uri.is_insert:
        return uri
    key = pubkey_hash(sign_public_key(uri.key))
    return replace(uri, key=key, extra=replace(uri.extra, insert=False))


def ssk_from_usk_docname(uri: SSKURI) -> USKURI | None:
    """Map ``SSK@…/site-N`` back to ``USK@…/site/N``; ``None`` if the name has no edition."""
    site, sep, number = uri.docname.rpartition("-")
    if not sep or not site or not number.isdigit() or (len(number) > 1 and number[0] == "0"):
        return None
    return USKURI(
        key=uri.key,
        crypto_key=uri.crypto_key,
        extra=uri.extra,
        site=site,
        edition=int(number),
        path=uri.path,
    )


def parse_uri(text: str) -> URI:
    """Parse a key URI; raise :class:`InvalidURI` saying what is wrong.

    The text is taken exactly: names may end in spaces, so front ends strip
    what a user pasted (a trailing newline) before calling this.
    """
    if not isinstance(text, str):
        raise InvalidURI("a key must be text")
    if len(text) > MAX_URI_LENGTH:
        raise InvalidURI(f"the key is longer than {MAX_URI_LENGTH} characters")
    if text[:8].lower() == "freenet:":
        text = text[8:]
    if any(ord(c) < 0x20 or c == "\x7f" for c in text):
        raise InvalidURI("the key contains control characters")
    kind, at, rest = text[:3].upper(), text[3:4], text[4:]
    if at != "@" or kind not in ("CHK", "SSK", "USK", "KSK"):
        raise InvalidURI("a key starts with CHK@, SSK@, USK@ or KSK@")
    keypart, _, pathpart = rest.partition("/")
    path = tuple(pathpart.split("/")) if "/" in rest else ()
    try:
        if kind == "CHK":
            return _parse_chk(keypart, path)
        if kind == "KSK":
            if not keypart:
                raise InvalidURI("a KSK@ key needs a keyword after the @")
            return KSKURI(keyword=keypart, path=path)
        key, crypto_key, extra = _three_fields(kind, keypart)
        if kind == "SSK":
            docname, rest_path = (path[0], path[1:]) if path else ("", ())
            return SSKURI(
                key=key, crypto_key=crypto_key, extra=extra, docname=docname, path=rest_path
            )
        return _parse_usk(key, crypto_key, extra, path)
    except InvalidKey as exc:
        raise InvalidURI(str(exc)) from None


def _parse_chk(keypart: str, path: tuple[str, ...]) -> CHKURI:
    if not keypart:
        return CHKURI(path=path)
    rk, ck, extra = _three_fields("CHK", keypart)
    return CHKURI(routing_key=rk, decryption_key=ck, extra=extra, path=path)


def _three_fields(kind: str, keypart: str) -> tuple[bytes, bytes, Extra]:
    fields = keypart.split(",")
    if len(fields) != 3:
        raise InvalidURI(f"a {kind}@ key has three comma-separated fields, not {len(fields)}")
    first = b64decode(fields[0], length=32, what=f"{kind} key's first field")
    second = b64decode(fields[1], length=32, what=f"{kind} key's second field")
    extra = Extra.from_bytes(b64decode(fields[2], length=EXTRA_SIZE, what="extra field"))
    return first, second, extra


def _parse_usk(key: bytes, crypto_key: bytes, extra: Extra, path: tuple[str, ...]) -> USKURI:
    if len(path) < 2 or not path[0]:
        raise InvalidURI("a USK@ key ends in /<site>/<edition>")
    site, edition_text = path[0], path[1]
    body = edition_text[1:] if edition_text[:1] == "-" else edition_text
    if not body.isascii() or not body.isdigit() or len(body) > 18:
        raise InvalidURI(f"the USK edition must be a whole number, not {edition_text!r}")
    return USKURI(
        key=key,
        crypto_key=crypto_key,
        extra=extra,
        site=site,
        edition=int(edition_text),
        path=path[2:],
    )
