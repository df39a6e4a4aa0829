"""The actions the routing core asks its driver to carry out, and their outcomes.

Every :class:`~node.core.node.Node` method returns a list of these. The driver
(``node.net`` for a real node, ``node.sim`` for the simulator) performs them in
order; none of them returns anything to the core directly. Answers come back as
later events: a ``LookupBlock`` is answered by ``Node.block_looked_up``, a
``SetTimer`` by ``Node.timer``, a ``ConnectTo`` by ``Node.peer_connected``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from crypto.blocks import Block, KeyKind
from node.core.messages import Message

PeerId = bytes
"""An opaque peer identity: the runtime uses a 32-byte hash of the peer's identity
key; the simulator uses a short index. The core only compares and hashes it."""


class Area(enum.Enum):
    """Where a block goes in the datastore."""

    STORE = "store"
    """Long-lived: inserted data near our location (we are its closest node)."""
    CACHE = "cache"
    """LRU: data that passed through us on a request's or insert's path."""


class Outcome(enum.Enum):
    """How a local request or insert ended."""

    FOUND = "found"
    DATA_NOT_FOUND = "data_not_found"
    ROUTE_NOT_FOUND = "route_not_found"
    TIMED_OUT = "timed_out"
    INSERTED = "inserted"
    COLLISION = "collision"


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    """Send ``message`` to ``peer`` over its link (drop it if the link is gone)."""

    peer: PeerId
    message: Message


@dataclass(frozen=True, slots=True, kw_only=True)
class SetTimer:
    """Call ``Node.timer(token, now)`` at time ``at`` or later.

    Timers are never cancelled: the core ignores a timer whose wait is over, so a
    driver may keep one heap of them and fire each once.
    """

    at: float
    token: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LookupBlock:
    """Look ``routing_key`` up in the local store and cache, then call
    ``Node.block_looked_up(token, block_or_None, now)``. The answer may come
    synchronously (the simulator) or after an await (the SQLite store)."""

    token: int
    kind: KeyKind
    routing_key: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreBlock:
    """Keep a verified block in ``area`` of the datastore (fire and forget)."""

    block: Block
    area: Area


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestDone:
    """A local request (``Node.start_request``) ended: ``block`` is set iff FOUND."""

    client_id: int
    outcome: Outcome
    block: Block | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InsertDone:
    """A local insert ended; on COLLISION ``existing`` is the block already there."""

    client_id: int
    outcome: Outcome
    existing: Block | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnounceDone:
    """A local announcement ended after ``offers`` nodes offered to peer with us."""

    client_id: int
    offers: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectTo:
    """Open an opennet link to the node ``ref`` names (it is at ``location``).

    When the link is up the driver calls ``Node.peer_connected``; if it cannot
    connect it does nothing."""

    ref: bytes
    location: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DropPeer:
    """Close the link to ``peer`` (least useful, or it sent garbage). The core has
    already forgotten it; the driver must not call ``peer_lost`` for it."""

    peer: PeerId


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationChanged:
    """Our own location changed (a darknet swap): persist it, update our noderef."""

    location: float


Action = (
    Send
    | SetTimer
    | LookupBlock
    | StoreBlock
    | RequestDone
    | InsertDone
    | AnnounceDone
    | ConnectTo
    | DropPeer
    | LocationChanged
)
