"""The fuzz targets: every parser that takes outside bytes, and the errors each may raise.

A target is a name, seed inputs (valid examples, for mutation) and a *session*:
a context manager giving a check function. ``check(data)`` feeds one input to
the parser and returns an outcome label — ``"ok"`` or the name of the clean,
documented error the parser refused it with. Any other exception propagates:
that is a bug. Where a parser accepts an input, the check also asserts what
acceptance promises (a message re-encodes to the same bytes, an authenticated
frame is one that was really sealed, a parsed key prints back to itself).

The hypothesis tests (``tests/fuzz/test_*.py``) and the soak runner
(``bench/fuzz_soak.py``) both drive these, so a crash found by either replays
in the other. Stateful targets (the gateway, the store) are in
``tests/fuzz/stateful.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import cbor2

from crypto.errors import FrameRejected, HandshakeFailed, InvalidURI
from crypto.frames import FrameOpener, FrameSealer
from crypto.handshake import Initiator, LocalKeys, Responder
from crypto.uri import parse_uri
from node.client.errors import InvalidMetadata
from node.client.metadata import encode_document, parse_document
from node.core import messages as m
from node.fcp.messages import parse_client_message
from node.fcp.protocol import FCPParser, FCPProtocolError, Limits
from node.gateway.filter import Disposition, check_stream_head, filter_content, plan
from node.gateway.filter.media import SNIFF_BYTES
from node.net.identity import NodeIdentity
from node.net.noderef import NodeRefError, make_noderef, parse_noderef, parse_noderef_bytes
from node.net.runtime import REGISTRY, LinkHello
from node.wire.codec import Codec
from node.wire.errors import FrameTooLarge, RemoteProtocolError
from node.wire.framing import HEADER_SIZE, FrameDecoder, encode_frame

Check = Callable[[bytes], str]


@dataclass(frozen=True, slots=True)
class Target:
    """One parser under fuzz: its seeds and how to open a checking session."""

    name: str
    seeds: Callable[[], list[bytes]]
    session: Callable[[], AbstractContextManager[Check]]
    cheap: bool = True  # a few microseconds to a millisecond per input


def stateless(check: Check) -> Callable[[], AbstractContextManager[Check]]:
    @contextmanager
    def session() -> Iterator[Check]:
        yield check

    return session


# --- link handshake -------------------------------------------------------------------

RESPONDER = LocalKeys.from_seed(b"R" * 32)
INITIATOR = LocalKeys.from_seed(b"I" * 32)
EPHEMERAL_I = b"\x01" * 32
EPHEMERAL_R = b"\x02" * 32


@functools.cache
def handshake_messages() -> tuple[bytes, bytes, bytes]:
    """A real handshake with pinned ephemerals: every check replays the same one."""
    i = Initiator(INITIATOR, RESPONDER.identity_public, ephemeral_seed=EPHEMERAL_I)
    r = Responder(RESPONDER, ephemeral_seed=EPHEMERAL_R)
    m1 = i.start()
    m2 = r.read_message1(m1)
    m3 = i.read_message2(m2)
    r.read_message3(m3)
    return m1, m2, m3


def check_handshake1(data: bytes) -> str:
    try:
        Responder(RESPONDER, ephemeral_seed=EPHEMERAL_R).read_message1(data)
    except HandshakeFailed:
        return "HandshakeFailed"
    return "ok"


def check_handshake2(data: bytes) -> str:
    i = Initiator(INITIATOR, RESPONDER.identity_public, ephemeral_seed=EPHEMERAL_I)
    i.start()
    try:
        i.read_message2(data)
    except HandshakeFailed:
        return "HandshakeFailed"
    # Only the responder we expected can have written an acceptable message 2.
    assert data == handshake_messages()[1], "a forged message 2 was accepted"
    assert i.result.peer_identity == RESPONDER.identity_public
    return "ok"


def check_handshake3(data: bytes) -> str:
    r = Responder(RESPONDER, ephemeral_seed=EPHEMERAL_R)
    r.read_message1(handshake_messages()[0])
    try:
        result = r.read_message3(data)
    except HandshakeFailed:
        return "HandshakeFailed"
    assert data == handshake_messages()[2], "a forged message 3 was accepted"
    assert result.peer_identity == INITIATOR.identity_public
    return "ok"


# --- frames ---------------------------------------------------------------------------

FRAME_KEY = bytes(range(32))
CODEC = Codec(REGISTRY)


@functools.cache
def wire_samples() -> list[bytes]:
    """Valid encoded messages of several types (seeds for the codec and the frames)."""
    key = bytes(range(32))
    fold = m.FoldRef(ref=b"ref", location=0.25)
    messages: list[object] = [
        m.DataRequest(uid=7, kind=1, routing_key=key, htl=18),
        m.DataFound(uid=2**64 - 1, kind=2, routing_key=key, data=b"x" * 40, fold=fold),
        m.DataNotFound(uid=3),
        m.RejectedLoop(uid=1),
        m.SwapReply(uid=0, location=0.0, peer_locations=(0.5, 0.9), nonce=7),
        m.LocationUpdate(location=0.125),
        LinkHello(ref=b"\x00" * 100),
    ]
    return [CODEC.encode(msg) for msg in messages]


@functools.cache
def sealed_frames() -> list[bytes]:
    sealer = FrameSealer(FRAME_KEY)
    return [sealer.seal(wire_samples()[0]), sealer.seal(wire_samples()[1])]


def check_frame_open(data: bytes) -> str:
    try:
        plaintext = FrameOpener(FRAME_KEY).open(data)
    except FrameRejected:
        return "FrameRejected"
    # Frame 0 opens only if it is the frame 0 the sealer made.
    assert data == sealed_frames()[0], "a forged frame was authenticated"
    assert plaintext == wire_samples()[0]
    return "ok"


SMALL_FRAME_LIMIT = 300  # small, so mutated headers cross it often


def check_frame_decoder(data: bytes) -> str:
    """Feed the stream in three pieces; whatever is not a frame must be pending."""
    decoder = FrameDecoder(max_body=SMALL_FRAME_LIMIT)
    frames: list[bytes] = []
    cut1, cut2 = len(data) // 3, 2 * len(data) // 3
    try:
        for piece in (data[:cut1], data[cut1:cut2], data[cut2:]):
            frames += decoder.feed(piece)
    except FrameTooLarge:
        return "FrameTooLarge"
    consumed = sum(HEADER_SIZE + len(f) for f in frames)
    assert consumed + decoder.pending <= len(data) + HEADER_SIZE
    assert all(len(f) <= SMALL_FRAME_LIMIT for f in frames)
    rebuilt = b"".join(encode_frame(f, max_body=SMALL_FRAME_LIMIT) for f in frames)
    assert data.startswith(rebuilt), "the frames are not the stream's prefix"
    return "ok"


def frame_stream_seeds() -> list[bytes]:
    return [
        b"".join(encode_frame(f, max_body=SMALL_FRAME_LIMIT) for f in (b"abc", b"", b"x" * 200)),
        encode_frame(b"\x00" * SMALL_FRAME_LIMIT, max_body=SMALL_FRAME_LIMIT),
    ]


# --- wire messages and node references -------------------------------------------------


def check_wire(data: bytes) -> str:
    try:
        message = CODEC.decode(data)
    except RemoteProtocolError:
        return "RemoteProtocolError"
    # Strict and canonical: what was accepted is exactly what we would send.
    assert CODEC.encode(message) == data
    return "ok"


NODE = NodeIdentity.from_seed(b"N" * 32)


@functools.cache
def noderef_samples() -> list[bytes]:
    refs = [
        make_noderef(NODE, addresses=("127.0.0.1:9000",), location=0.5, opennet=True, issued=1),
        make_noderef(
            NODE,
            addresses=("[::1]:1", "example.org:65535", "10.0.0.1:80"),
            location=0.0,
            opennet=False,
            issued=1_700_000_000,
        ),
    ]
    return [r.to_bytes() for r in refs] + [r.to_text().encode() for r in refs]


def check_noderef_bytes(data: bytes) -> str:
    try:
        ref = parse_noderef_bytes(data, now=1_700_000_000.0, max_age=10**9)
    except NodeRefError:
        return "NodeRefError"
    assert ref.to_bytes() == data
    assert ref.identity == NODE.public_key, "a forged node reference verified"
    return "ok"


def check_noderef_text(data: bytes) -> str:
    try:
        ref = parse_noderef(data.decode("utf-8", "replace"), now=1_700_000_000.0)
    except NodeRefError:
        return "NodeRefError"
    assert ref.identity == NODE.public_key, "a forged node reference verified"
    return "ok"


# --- FCP --------------------------------------------------------------------------------

FCP_LIMITS = Limits(max_line_length=4096, max_fields=64, max_data_length=1 << 16)
MAX_FCP_STEPS = 100_000  # far more than any input of MAX_INPUT bytes can yield


def check_fcp(data: bytes) -> str:
    """Parse a client's byte stream, then validate each message as the session would."""
    parser = FCPParser(FCP_LIMITS)
    outcome = "ok"
    cut = len(data) // 2
    for piece in (data[:cut], data[cut:]):
        parser.receive_data(piece)
        for _ in range(MAX_FCP_STEPS):
            try:
                message = parser.next_message()
            except FCPProtocolError as exc:
                outcome = "FCPProtocolError(parse)"
                if exc.fatal:
                    assert parser.failed
                    return outcome
                continue
            if message is None:
                break
            try:
                parse_client_message(message)
            except FCPProtocolError:
                outcome = "FCPProtocolError(message)"
        else:
            raise AssertionError("the FCP parser does not make progress")
    return outcome


FCP_SEEDS = [
    b"ClientHello\nName=fuzz\nExpectedVersion=2.0\nEndMessage\n",
    b"ClientGet\nIdentifier=g1\nURI=CHK@\nReturnType=direct\nPriorityClass=2\n"
    b"Persistence=forever\nGlobal=true\nMaxSize=100\nEndMessage\n",
    b"ClientPut\nIdentifier=p1\nURI=CHK@\nUploadFrom=direct\nDataLength=5\n"
    b"Metadata.ContentType=text/plain\nData\nhello",
    b"ClientPutComplexDir\nIdentifier=d1\nURI=CHK@\nDefaultName=a\nFiles.0.Name=a\n"
    b"Files.0.UploadFrom=direct\nFiles.0.DataLength=2\nFiles.1.Name=b\n"
    b"Files.1.UploadFrom=redirect\nFiles.1.TargetURI=KSK@x\nData\nhi",
    b"ClientPutDiskDir\nIdentifier=d2\nURI=USK@AAAA,BBBB,AQACAAE/site/0\nFilename=/tmp\n"
    b"EndMessage\n",
    b"SubscribeUSK\nIdentifier=s\nURI=USK@x,y,z/site/-3\nDontPoll=true\nEnd\n",
    b"ModifyPersistentRequest\nIdentifier=g1\nPriorityClass=9\nEndMessage\n"
    b"RemovePersistentRequest\nIdentifier=g1\nGlobal=yes\nEndMessage\n",
    b"SamizdatCheck\nIdentifier=c\nURI=CHK@\nFiles.0.Name=a\nFiles.0.DataLength=1\nData\nz",
    b"GetNode\r\nWithPrivate=TRUE\r\nEndMessage\r\nListPeers\nEndMessage\nWatchGlobal\n"
    b"Enabled=false\nVerbosityMask=-1\nEndMessage\nDisconnect\nEndMessage\n",
    b"TestDDARequest\nDirectory=/tmp\nWantReadDirectory=true\nEndMessage\n",
    b"GenerateSSK\nIdentifier=k\nEndMessage\nGetRequestStatus\nIdentifier=x\nEndMessage\n",
]


# --- URIs, metadata ---------------------------------------------------------------------


def check_uri_text(text: str) -> str:
    try:
        uri = parse_uri(text)
    except InvalidURI:
        return "InvalidURI"
    # What a key prints as is the key: it parses back to the same thing.
    assert parse_uri(str(uri)) == uri, f"{text!r} prints as {str(uri)!r}, a different key"
    return "ok"


def check_uri(data: bytes) -> str:
    return check_uri_text(data.decode("utf-8", "replace"))


def uri_seeds() -> list[bytes]:
    chk = "CHK@" + "A" * 43 + "," + "B" * 43 + ",AAMC--8"
    return [
        f"{chk}/dir/page.html".encode(),
        b"CHK@",
        b"freenet:KSK@hello world/a/b",
        ("SSK@" + "x" * 43 + "," + "y" * 43 + ",AQACAAE/doc/sub").encode(),
        ("USK@" + "x" * 43 + "," + "y" * 43 + ",AQACAAE/site/-12/index.html").encode(),
    ]


def check_metadata(data: bytes) -> str:
    try:
        doc = parse_document(data)
    except InvalidMetadata:
        return "InvalidMetadata"
    assert parse_document(encode_document(doc)) == doc
    return "ok"


def metadata_seeds() -> list[bytes]:
    h = bytes(32)
    inline = {"v": 1, "t": "file", "mime": "text/plain", "size": 2, "psize": 2, "codec": 0}
    split = {
        "v": 1,
        "t": "meta",
        "size": 40000,
        "psize": 40000,
        "codec": 0,
        "hash": h,
        "segs": [[2, 3, bytes(64 * 3)]],
    }
    docs: list[dict[str, object]] = [
        {**inline, "hash": h, "data": b"hi"},
        split,
        {"v": 1, "t": "redirect", "target": "KSK@x", "mime": "text/html"},
        {
            "v": 1,
            "t": "manifest",
            "default": "a",
            "entries": {
                "a": {**inline, "hash": h, "data": b"hi"},
                "d": {"v": 1, "t": "manifest", "entries": {}},
            },
        },
        {"v": 1, "t": "hint", "edition": 12},
    ]
    out = []
    for doc in docs:
        raw = cbor2.dumps(doc, canonical=True)
        try:
            out.append(encode_document(parse_document(raw)))
        except InvalidMetadata:
            out.append(raw)  # still a useful seed: near-valid
    return out


# --- the content filter -------------------------------------------------------------------

FILTER_BASE = "/CHK@" + "A" * 43 + "," + "B" * 43 + ",AAMC--8/dir/page.html"


def check_filter(data: bytes) -> str:
    """First line: the claimed MIME type; the rest: the document. The filter never raises."""
    head, _, body = data.partition(b"\n")
    mime = head.decode("latin-1")
    plan(mime)
    check_stream_head(body[:SNIFF_BYTES], mime)
    result = filter_content(body, mime, base_path=FILTER_BASE)
    if result.disposition is Disposition.INLINE and result.mime_type.startswith("text/html"):
        from tests.node.gateway.leakcheck import check_html

        check_html(result.data.decode("utf-8"))
    return result.disposition.name


def filter_seeds() -> list[bytes]:
    from tests.node.gateway.test_images import (
        exif,
        make_gif,
        make_jpeg,
        make_png,
        make_webp,
        png_chunk,
        riff_chunk,
    )

    html = (
        b'<html><head><style>a{background:url(x.png)}</style><link rel=stylesheet href="s.css">'
        b'</head><body><a href="http://x/">x</a><img src="/CHK@a/b.png" srcset="a 1x">'
        b"<form action=/x><input></form><svg><use href=#a /></svg></body></html>"
    )
    css = b"@import 'a.css'; a{background:url(//x)} @font-face{src:url(f.woff)} b{c:d}"
    return [
        b"text/html; charset=utf-8\n" + html,
        b"text/css\n" + css,
        b"text/plain; charset=iso-8859-1\nhello \xff",
        b"image/png\n" + make_png(png_chunk(b"tEXt", b"secret")),
        b"image/jpeg\n" + make_jpeg(exif(3)),
        b"image/gif\n" + make_gif(),
        b"image/webp\n" + make_webp(riff_chunk(b"EXIF", b"x")),
        b"video/mp4\n\x00\x00\x00\x18ftypmp42",
        b"audio/ogg\nOggS\x00\x02",
        b"application/xhtml+xml\n<p>x</p>",
    ]


# --- the registry --------------------------------------------------------------------------


def _seeds(*items: bytes) -> Callable[[], list[bytes]]:
    return lambda: list(items)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("handshake1", lambda: [handshake_messages()[0]], stateless(check_handshake1)),
        Target("handshake2", lambda: [handshake_messages()[1]], stateless(check_handshake2)),
        Target("handshake3", lambda: [handshake_messages()[2]], stateless(check_handshake3)),
        Target("frame_open", sealed_frames, stateless(check_frame_open)),
        Target("frame_decoder", frame_stream_seeds, stateless(check_frame_decoder)),
        Target("wire", wire_samples, stateless(check_wire)),
        Target("noderef_bytes", lambda: noderef_samples()[:2], stateless(check_noderef_bytes)),
        Target("noderef_text", lambda: noderef_samples()[2:], stateless(check_noderef_text)),
        Target("fcp", lambda: list(FCP_SEEDS), stateless(check_fcp)),
        Target("uri", uri_seeds, stateless(check_uri)),
        Target("metadata", metadata_seeds, stateless(check_metadata)),
        Target("filter", filter_seeds, stateless(check_filter)),
    )
}
