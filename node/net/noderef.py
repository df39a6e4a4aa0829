"""Signed node references: copy-pasteable text naming a node, where it listens and sits.

A reference carries the node's identity public key, its addresses
(``host:port``), its location, the link protocol version it speaks, whether it
is an opennet node, and when it was issued, all signed by the identity key.
Friends exchange them (darknet); seed node files list them (opennet); path
folding passes them along. Anyone can check that a reference was issued by the
identity it names; whether that identity is a friend is the user's decision.

Text form (see specs/wire.md)::

    SAMIZDAT-NODEREF-1:<Freenet base64 of (CBOR body || Ed25519 signature)>

wrapped at 64 columns; all whitespace is ignored when parsing, so references
survive mail clients and chat programs. The body is the canonical CBOR of
:class:`NodeRef` (the strict wire codec), and the signature covers
``b"samizdat/noderef/v1\\x00" || body``.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass, field
from typing import ClassVar

from crypto.encoding import b64decode, b64encode
from crypto.errors import CryptoError
from crypto.primitives import SIGN_PUBLIC_SIZE, SIGNATURE_SIZE, verify_signature
from node.net.identity import NodeIdentity
from node.wire.codec import Codec, registry_of
from node.wire.errors import LocalProtocolError, RemoteProtocolError

PREFIX_STEM = "SAMIZDAT-NODEREF-"
FORMAT_VERSION = 1
PREFIX = f"{PREFIX_STEM}{FORMAT_VERSION}:"
LINK_VERSION = 1  # the link protocol (crypto.handshake MAGIC) this code speaks
MAX_ADDRESSES = 8  # a node with more interfaces than this should list its best ones
MAX_ADDRESS_LENGTH = 262  # a 253-character DNS name, ':', a 5-digit port, brackets
MAX_BODY = 2048  # 8 maximal addresses and the fixed fields fit with room to spare
MAX_TEXT = 4 * MAX_BODY  # base64 growth plus generous whitespace
CLOCK_SKEW = 24 * 3600  # a reference "issued" more than a day ahead is refused
_SIG_CONTEXT = b"samizdat/noderef/v1\x00"
_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


class NodeRefError(ValueError):
    """A node reference is garbage, forged, tampered with, stale or from an unknown version."""


def parse_address(address: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` for IPv6); :class:`ValueError` says why not."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{address!r} is not host:port")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"{address!r}: the port must be a number from 1 to 65535")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"{address!r}: {host} is not an IPv6 address") from None
        return host[1:-1], int(port_text)
    if not _HOSTNAME.fullmatch(host):
        raise ValueError(f"{address!r}: {host!r} is not a host name or IPv4 address")
    return host, int(port_text)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeRef:
    """The signed content of a node reference (validated when built)."""

    TYPE: ClassVar[str] = "noderef"

    identity: bytes = field(metadata={"min": SIGN_PUBLIC_SIZE, "max": SIGN_PUBLIC_SIZE})
    addresses: tuple[str, ...] = field(
        metadata={"min": 0, "max": MAX_ADDRESSES, "item": {"min": 1, "max": MAX_ADDRESS_LENGTH}}
    )
    location: float = field(metadata={"min": 0.0, "max": 1.0})
    version: int = field(metadata={"min": 0, "max": 65535})
    opennet: bool
    issued: int = field(metadata={"min": 0, "max": 2**40})  # Unix seconds

    def __post_init__(self) -> None:
        if not (0.0 <= self.location < 1.0) or math.isnan(self.location):
            raise ValueError(f"a location is in [0, 1), not {self.location}")
        for address in self.addresses:
            parse_address(address)
        if len(set(self.addresses)) != len(self.addresses):
            raise ValueError("an address is listed twice")


_CODEC = Codec(registry_of([NodeRef]), max_size=MAX_BODY)


@dataclass(frozen=True, slots=True)
class SignedNodeRef:
    """A :class:`NodeRef` with the identity's signature over its exact encoding."""

    ref: NodeRef
    body: bytes = field(repr=False)
    signature: bytes = field(repr=False)

    @property
    def identity(self) -> bytes:
        return self.ref.identity

    def to_bytes(self) -> bytes:
        """The binary form (body || signature) carried inside messages (e.g. path folding)."""
        return self.body + self.signature

    def to_text(self, *, width: int = 64) -> str:
        """The copy-pasteable form; ``width=0`` gives one line (for the peers file)."""
        text = PREFIX + b64encode(self.to_bytes())
        if width <= 0:
            return text
        return "\n".join(text[i : i + width] for i in range(0, len(text), width))


def sign_noderef(identity: NodeIdentity, ref: NodeRef) -> SignedNodeRef:
    """Sign ``ref`` with ``identity``, which must be the identity it names."""
    if ref.identity != identity.public_key:
        raise ValueError("a node can only sign its own reference")
    try:
        body = _CODEC.encode(ref)
    except LocalProtocolError as exc:
        raise ValueError(str(exc)) from None
    return SignedNodeRef(ref, body, identity.sign(_SIG_CONTEXT + body))


def make_noderef(
    identity: NodeIdentity,
    *,
    addresses: tuple[str, ...],
    location: float,
    opennet: bool,
    issued: int,
) -> SignedNodeRef:
    """Build and sign this node's reference (``issued``: Unix seconds, the caller's clock)."""
    ref = NodeRef(
        identity=identity.public_key,
        addresses=addresses,
        location=location,
        version=LINK_VERSION,
        opennet=opennet,
        issued=issued,
    )
    return sign_noderef(identity, ref)


def parse_noderef(
    text: str, *, now: float | None = None, max_age: float | None = None
) -> SignedNodeRef:
    """Parse and verify a reference; raise :class:`NodeRefError` saying what is wrong.

    Args:
        text: the reference, with any whitespace or line wrapping.
        now: the current Unix time; when given, references issued more than a
            day in the future are refused.
        max_age: when given (with ``now``), references older than this many
            seconds are refused as expired.
    """
    if len(text) > MAX_TEXT:
        raise NodeRefError(f"this is too long to be a node reference ({len(text)} characters)")
    compact = "".join(text.split())
    if not compact.startswith(PREFIX):
        stem, _sep, _rest = compact.partition(":")
        if stem.startswith(PREFIX_STEM) and _sep:
            raise NodeRefError(
                f"this node reference is format {stem[len(PREFIX_STEM) :]!r}; "
                f"this program reads format {FORMAT_VERSION} (upgrade Samizdat?)"
            )
        raise NodeRefError(f"a node reference starts with '{PREFIX}'; this text does not")
    try:
        raw = b64decode(compact[len(PREFIX) :], what="node reference")
    except CryptoError as exc:
        raise NodeRefError(f"the node reference is damaged: {exc}") from None
    return parse_noderef_bytes(raw, now=now, max_age=max_age)


def parse_noderef_bytes(
    raw: bytes, *, now: float | None = None, max_age: float | None = None
) -> SignedNodeRef:
    """Verify the binary form (:meth:`SignedNodeRef.to_bytes`); see :func:`parse_noderef`."""
    if len(raw) > MAX_BODY + SIGNATURE_SIZE:
        raise NodeRefError(f"this is too long to be a node reference ({len(raw)} bytes)")
    if len(raw) <= SIGNATURE_SIZE:
        raise NodeRefError("the node reference is truncated")
    body, signature = raw[:-SIGNATURE_SIZE], raw[-SIGNATURE_SIZE:]
    try:
        ref = _CODEC.decode_as(body, NodeRef)
    except RemoteProtocolError as exc:
        raise NodeRefError(f"the node reference is malformed: {exc}") from None
    if not verify_signature(ref.identity, _SIG_CONTEXT + body, signature):
        raise NodeRefError(
            "the node reference's signature does not verify: it was altered after signing"
        )
    if ref.version != LINK_VERSION:
        raise NodeRefError(
            f"the node speaks link protocol version {ref.version}; this program speaks "
            f"{LINK_VERSION}"
        )
    if now is not None:
        if ref.issued > now + CLOCK_SKEW:
            raise NodeRefError("the node reference is dated in the future; check the clocks")
        if max_age is not None and ref.issued < now - max_age:
            raise NodeRefError("the node reference has expired; ask the node for a fresh one")
    return SignedNodeRef(ref, body, signature)
