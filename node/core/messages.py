"""The peer-to-peer messages of the routing core: frozen, validated, size-bounded.

Each message is a ``@dataclass(frozen=True, slots=True, kw_only=True)`` with a
unique ``TYPE`` string. Fields are ints, floats, bools, bytes, strs, optionals,
tuples and nested dataclasses of the same kind; every bytes/str/tuple field
declares its maximum length in ``field(metadata={"max": N})`` and ints declare
their range with ``{"min": a, "max": b}``. ``node.wire`` builds its CBOR codec by
introspecting exactly these conventions, and ``__post_init__`` checks them, so an
invalid message cannot exist: building one from a peer's bytes raises
:class:`~node.core.errors.RemoteProtocolError`.

No reply names its origin: replies carry only the request id (and, for
DataFound, a path-folding reference that any hop may replace).

The checks are hand-written rather than generic because they run on every hop
of every simulated request; ``tests/node/core/test_messages.py`` checks that they
agree with the declared metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from node.core.config import MAX_HTL
from node.core.errors import RemoteProtocolError

UID_MAX = 2**64 - 1
ROUTING_KEY_SIZE = 32
MAX_BLOCK_DATA = 32_788
"""A CHK block is 32,788 bytes (header, 32 KiB padded payload, length, tag); SSK
blocks are smaller."""
MAX_REF = 4096
"""A signed noderef (identity key, addresses, location, signature) fits in 4 KiB."""
MAX_SWAP_PEERS = 64
"""Most neighbour locations in a swap message; larger tables send a sample."""
MIN_SWAP_BETA = 0.1
"""The hottest swap rule a message may ask for (β = 0 would accept any swap)."""
MAX_SINKS = 15
"""Most sinks an insert can count (``Config.insert_sinks`` is far below)."""
KIND_MIN, KIND_MAX = 1, 2  # crypto.blocks.KeyKind: CHK = 1, SSK = 2

_UID = {"min": 0, "max": UID_MAX}
_HTL = {"min": 0, "max": MAX_HTL}
_KIND = {"min": KIND_MIN, "max": KIND_MAX}


def _bad(msg: str) -> RemoteProtocolError:
    return RemoteProtocolError(msg)


def _check_uid(uid: object) -> None:
    if type(uid) is not int or not 0 <= uid <= UID_MAX:
        raise _bad(f"request id must be an unsigned 64-bit int, got {uid!r}")


def _check_htl(htl: object) -> None:
    if type(htl) is not int or not 0 <= htl <= MAX_HTL:
        raise _bad(f"HTL must be an int in [0, {MAX_HTL}], got {htl!r}")


def _check_location(loc: object) -> None:
    if type(loc) is not float or not 0.0 <= loc < 1.0:
        raise _bad(f"a location is a float in [0, 1), got {loc!r}")


def _check_block(kind: object, routing_key: object, data: object) -> None:
    if type(kind) is not int or not KIND_MIN <= kind <= KIND_MAX:
        raise _bad(f"unknown block kind {kind!r}")
    if type(routing_key) is not bytes or len(routing_key) != ROUTING_KEY_SIZE:
        raise _bad("a routing key is 32 bytes")
    if type(data) is not bytes or len(data) > MAX_BLOCK_DATA:
        raise _bad(f"block data must be bytes of at most {MAX_BLOCK_DATA}")


def _check_ref(ref: object) -> None:
    if type(ref) is not bytes or not 0 < len(ref) <= MAX_REF:
        raise _bad(f"a node reference is 1..{MAX_REF} bytes")


def _check_beta(beta: object) -> None:
    if type(beta) is not float or not MIN_SWAP_BETA <= beta <= 1.0:
        raise _bad(f"a swap's beta must be a float in [{MIN_SWAP_BETA}, 1], got {beta!r}")


def _check_locations(locs: object) -> None:
    if type(locs) is not tuple or len(locs) > MAX_SWAP_PEERS:
        raise _bad(f"neighbour locations must be a tuple of at most {MAX_SWAP_PEERS}")
    for loc in locs:
        _check_location(loc)


@dataclass(frozen=True, slots=True, kw_only=True)
class FoldRef:
    """A path-folding offer: some node on the return path, and where it is."""

    ref: bytes = field(metadata={"max": MAX_REF})
    location: float

    def __post_init__(self) -> None:
        _check_ref(self.ref)
        _check_location(self.location)


# --- requests -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DataRequest:
    """Find the block under ``routing_key``; route greedily with ``htl`` hops left."""

    TYPE: ClassVar[str] = "data_request"
    uid: int = field(metadata=_UID)
    kind: int = field(metadata=_KIND)
    routing_key: bytes = field(metadata={"max": ROUTING_KEY_SIZE})
    htl: int = field(metadata=_HTL)

    def __post_init__(self) -> None:
        _check_uid(self.uid)
        _check_block(self.kind, self.routing_key, b"")
        if type(self.htl) is not int or not 1 <= self.htl <= MAX_HTL:
            raise _bad(f"a request travels with HTL in [1, {MAX_HTL}], got {self.htl!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class DataFound:
    """The block was found; it travels back along the request path."""

    TYPE: ClassVar[str] = "data_found"
    uid: int = field(metadata=_UID)
    kind: int = field(metadata=_KIND)
    routing_key: bytes = field(metadata={"max": ROUTING_KEY_SIZE})
    data: bytes = field(metadata={"max": MAX_BLOCK_DATA})
    fold: FoldRef | None = None

    def __post_init__(self) -> None:
        _check_uid(self.uid)
        _check_block(self.kind, self.routing_key, self.data)
        if self.fold is not None and type(self.fold) is not FoldRef:
            raise _bad("fold must be a FoldRef")


@dataclass(frozen=True, slots=True, kw_only=True)
class DataNotFound:
    """HTL ran out (or the key is in the failure table) without finding the block."""

    TYPE: ClassVar[str] = "data_not_found"
    uid: int = field(metadata=_UID)

    def __post_init__(self) -> None:
        _check_uid(self.uid)


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteNotFound:
    """No more peers to try downstream; ``htl`` is what is left for backtracking.

    ``held`` (inserts only) says that some node downstream keeps the block in
    its store or cache: the insert ran out of network, not out of luck."""

    TYPE: ClassVar[str] = "route_not_found"
    uid: int = field(metadata=_UID)
    htl: int = field(metadata=_HTL)
    held: bool = False

    def __post_init__(self) -> None:
        _check_uid(self.uid)
        _check_htl(self.htl)
        if type(self.held) is not bool:
            raise _bad("held must be a bool")


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectedLoop:
    """The request id is already in flight here: try another peer, no HTL spent."""

    TYPE: ClassVar[str] = "rejected_loop"
    uid: int = field(metadata=_UID)

    def __post_init__(self) -> None:
        _check_uid(self.uid)


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectedOverload:
    """This node is at its in-flight limit: back off and try another peer."""

    TYPE: ClassVar[str] = "rejected_overload"
    uid: int = field(metadata=_UID)

    def __post_init__(self) -> None:
        _check_uid(self.uid)


# --- inserts ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Insert:
    """Offer to store the block under ``routing_key`` and route it on with ``htl``.

    The block itself follows in :class:`InsertData` once the peer answers
    :class:`InsertAccepted`: a peer that refuses (a loop, overload) costs a few
    dozen bytes, not 32 KiB."""

    TYPE: ClassVar[str] = "insert"
    uid: int = field(metadata=_UID)
    kind: int = field(metadata=_KIND)
    routing_key: bytes = field(metadata={"max": ROUTING_KEY_SIZE})
    htl: int = field(metadata=_HTL)
    sinks: int = field(default=0, metadata={"min": 0, "max": MAX_SINKS})
    """Sinks of the greedy walk the insert has passed (each keeps the block)."""

    def __post_init__(self) -> None:
        _check_uid(self.uid)
        _check_block(self.kind, self.routing_key, b"")
        if type(self.htl) is not int or not 1 <= self.htl <= MAX_HTL:
            raise _bad(f"an insert travels with HTL in [1, {MAX_HTL}], got {self.htl!r}")
        if type(self.sinks) is not int or not 0 <= self.sinks <= MAX_SINKS:
            raise _bad(f"an insert's sink count is in [0, {MAX_SINKS}], got {self.sinks!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class InsertAccepted:
    """The insert offered under ``uid`` is taken: send its block."""

    TYPE: ClassVar[str] = "insert_accepted"
    uid: int = field(metadata=_UID)

    def __post_init__(self) -> None:
        _check_uid(self.uid)


@dataclass(frozen=True, slots=True, kw_only=True)
class InsertData:
    """The block of the insert ``uid`` (kind and routing key came with the offer)."""

    TYPE: ClassVar[str] = "insert_data"
    uid: int = field(metadata=_UID)
    data: bytes = field(metadata={"max": MAX_BLOCK_DATA})

    def __post_init__(self) -> None:
        _check_uid(self.uid)
        if type(self.data) is not bytes or len(self.data) > MAX_BLOCK_DATA:
            raise _bad(f"block data must be bytes of at most {MAX_BLOCK_DATA}")


@dataclass(frozen=True, slots=True, kw_only=True)
class InsertReply:
    """The insert ran its full course downstream."""

    TYPE: ClassVar[str] = "insert_reply"
    uid: int = field(metadata=_UID)

    def __post_init__(self) -> None:
        _check_uid(self.uid)


@dataclass(frozen=True, slots=True, kw_only=True)
class InsertCollision:
    """An SSK insert met a different block under the same key: here is that block."""

    TYPE: ClassVar[str] = "insert_collision"
    uid: int = field(metadata=_UID)
    kind: int = field(metadata=_KIND)
    routing_key: bytes = field(metadata={"max": ROUTING_KEY_SIZE})
    data: bytes = field(metadata={"max": MAX_BLOCK_DATA})

    def __post_init__(self) -> None:
        _check_uid(self.uid)
        _check_block(self.kind, self.routing_key, self.data)


# --- opennet announcement -----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Announce:
    """A new opennet node's reference, routed toward its own location."""

    TYPE: ClassVar[str] = "announce"
    uid: int = field(metadata=_UID)
    location: float
    ref: bytes = field(metadata={"max": MAX_REF})
    htl: int = field(metadata=_HTL)

    def __post_init__(self) -> None:
        _check_uid(self.uid)
        _check_location(self.location)
        _check_ref(self.ref)
        if type(self.htl) is not int or not 1 <= self.htl <= MAX_HTL:
            raise _bad(f"an announcement travels with HTL in [1, {MAX_HTL}], got {self.htl!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnounceOffer:
    """A node on the announcement's path offers to peer; relayed back to the origin."""

    TYPE: ClassVar[str] = "announce_offer"
    uid: int = field(metadata=_UID)
    offer: FoldRef

    def __post_init__(self) -> None:
        _check_uid(self.uid)
        if type(self.offer) is not FoldRef:
            raise _bad("offer must be a FoldRef")


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnounceReply:
    """The announcement ran its course downstream."""

    TYPE: ClassVar[str] = "announce_reply"
    uid: int = field(metadata=_UID)

    def __post_init__(self) -> None:
        _check_uid(self.uid)


# --- darknet location swapping --------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SwapRequest:
    """A swap proposal on a random walk: the initiator's location and neighbours."""

    TYPE: ClassVar[str] = "swap_request"
    uid: int = field(metadata=_UID)
    htl: int = field(metadata=_HTL)
    location: float
    peer_locations: tuple[float, ...] = field(metadata={"max": MAX_SWAP_PEERS})
    nonce: int = field(metadata=_UID)
    beta: float = 1.0

    def __post_init__(self) -> None:
        _check_uid(self.uid)
        _check_htl(self.htl)
        _check_location(self.location)
        _check_locations(self.peer_locations)
        _check_uid(self.nonce)
        _check_beta(self.beta)


@dataclass(frozen=True, slots=True, kw_only=True)
class SwapReply:
    """The walk's endpoint answers with its own location, neighbours and nonce."""

    TYPE: ClassVar[str] = "swap_reply"
    uid: int = field(metadata=_UID)
    location: float
    peer_locations: tuple[float, ...] = field(metadata={"max": MAX_SWAP_PEERS})
    nonce: int = field(metadata=_UID)
    beta: float = 1.0

    def __post_init__(self) -> None:
        _check_uid(self.uid)
        _check_location(self.location)
        _check_locations(self.peer_locations)
        _check_uid(self.nonce)
        _check_beta(self.beta)


@dataclass(frozen=True, slots=True, kw_only=True)
class SwapRejected:
    """The swap walk could not continue (loop, no peer, overload)."""

    TYPE: ClassVar[str] = "swap_rejected"
    uid: int = field(metadata=_UID)

    def __post_init__(self) -> None:
        _check_uid(self.uid)


@dataclass(frozen=True, slots=True, kw_only=True)
class SwapCommit:
    """The initiator took the endpoint's location: the endpoint must take its own.

    Sent down the walk only when both ends decided to swap; repeated every
    ``swap_retry_interval`` until :class:`SwapComplete` comes back."""

    TYPE: ClassVar[str] = "swap_commit"
    uid: int = field(metadata=_UID)

    def __post_init__(self) -> None:
        _check_uid(self.uid)


@dataclass(frozen=True, slots=True, kw_only=True)
class SwapComplete:
    """The endpoint has taken the initiator's location (answer to every SwapCommit)."""

    TYPE: ClassVar[str] = "swap_complete"
    uid: int = field(metadata=_UID)

    def __post_init__(self) -> None:
        _check_uid(self.uid)


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationUpdate:
    """The sender's location, and the locations of its other peers.

    Sent to every peer after a swap; a darknet node also sends it when its
    peers' locations change (``Config.foaf_delay``), so its peers can route
    by their peers' peers (``Config.foaf_routing``). ``peer_locations`` leaves
    out the receiver's own location and is a sample past ``MAX_SWAP_PEERS``.
    """

    TYPE: ClassVar[str] = "location_update"
    location: float
    peer_locations: tuple[float, ...] = field(default=(), metadata={"max": MAX_SWAP_PEERS})

    def __post_init__(self) -> None:
        _check_location(self.location)
        _check_locations(self.peer_locations)


Message = (
    DataRequest
    | DataFound
    | DataNotFound
    | RouteNotFound
    | RejectedLoop
    | RejectedOverload
    | Insert
    | InsertAccepted
    | InsertData
    | InsertReply
    | InsertCollision
    | Announce
    | AnnounceOffer
    | AnnounceReply
    | SwapRequest
    | SwapReply
    | SwapRejected
    | SwapCommit
    | SwapComplete
    | LocationUpdate
)

MESSAGE_TYPES: dict[str, type] = {
    cls.TYPE: cls
    for cls in (
        DataRequest,
        DataFound,
        DataNotFound,
        RouteNotFound,
        RejectedLoop,
        RejectedOverload,
        Insert,
        InsertAccepted,
        InsertData,
        InsertReply,
        InsertCollision,
        Announce,
        AnnounceOffer,
        AnnounceReply,
        SwapRequest,
        SwapReply,
        SwapRejected,
        SwapCommit,
        SwapComplete,
        LocationUpdate,
    )
}
"""Every peer message by its ``TYPE``: the codec's registry."""
