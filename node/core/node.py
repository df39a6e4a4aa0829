"""The routing core's one public class: a node as a sans-I/O state machine.

Theory of operation
-------------------
A :class:`Node` is everything one Samizdat node decides, and nothing it does:
each method takes one event and the current time ``now`` and returns a list of
:mod:`~node.core.actions` for the driver to carry out, in order. The driver is
``node.net`` for a real node (anyio links, timers, the SQLite store) and
``node.sim`` for thousands of nodes on a virtual clock; both run this code.

Events (methods):

=============================================  ==================================
``peer_connected(peer, ref, location, now)``   a link came up (dialled or accepted)
``peer_lost(peer, now)``                       a link went down (not after DropPeer)
``receive(peer, message, now)``                a validated message arrived
``timer(token, now)``                          a ``SetTimer`` came due
``block_looked_up(token, block, now)``         the answer to a ``LookupBlock``
``start_request(kind, routing_key, ...)``      a local client wants a block
``start_insert(block, client_id, now)``        a local client inserts a block
``start_announce(client_id, now)``             opennet: find peers near us
``start_swap(now)``                            darknet: try one location swap
=============================================  ==================================

Local storage is reached only through actions: ``LookupBlock`` (answered by
``block_looked_up``, synchronously or later) and ``StoreBlock`` (fire and
forget). The core never holds blocks beyond the request that carries them.

Errors: a peer's garbage raises :class:`RemoteProtocolError` inside a handler;
:meth:`Node.receive` turns it into ``DropPeer`` and backtracks whatever waited
on that peer. Misuse by the driver raises :class:`LocalProtocolError`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from crypto.blocks import Block, KeyKind, verify_block
from crypto.errors import InvalidBlock
from crypto.location import location_of
from node.core import routing, swapping
from node.core.actions import (
    Action,
    DropPeer,
    LocationChanged,
    LookupBlock,
    PeerId,
    Send,
    SetTimer,
)
from node.core.config import Config
from node.core.errors import LocalProtocolError, RemoteProtocolError
from node.core.failures import FailureTable
from node.core.messages import (
    Announce,
    AnnounceOffer,
    AnnounceReply,
    DataFound,
    DataNotFound,
    DataRequest,
    FoldRef,
    Insert,
    InsertAccepted,
    InsertCollision,
    InsertData,
    InsertReply,
    LocationUpdate,
    Message,
    RejectedLoop,
    RejectedOverload,
    RouteNotFound,
    SwapCommit,
    SwapComplete,
    SwapRejected,
    SwapReply,
    SwapRequest,
)
from node.core.peers import Peer, PeerTable, circular_distance
from node.core.routing import KINDS, Op, Pending

REANNOUNCE = -1
"""``client_id`` of the announcements a node starts by itself when short of peers."""

FOAF_TOKEN = -1
"""The ``SetTimer`` token of the friend-of-a-friend update (request and swap
tokens are unsigned 64-bit ids, so it cannot collide with one)."""

Handler = Callable[["Node", PeerId, Any, float], list[Action]]


def _on_location_update(node: Node, peer: PeerId, msg: LocationUpdate, now: float) -> list[Action]:
    known = node.peers.get(peer)
    moved = known is not None and known.location != msg.location
    node.peers.relocate(peer, msg.location)
    node.peers.set_foaf(peer, msg.peer_locations, node.location)
    return node.peers_changed(now) if moved else []


_HANDLERS: dict[type, Handler] = {
    DataRequest: routing.on_data_request,
    DataFound: routing.on_data_found,
    DataNotFound: routing.on_data_not_found,
    RouteNotFound: routing.on_route_not_found,
    RejectedLoop: routing.on_rejected_loop,
    RejectedOverload: routing.on_rejected_overload,
    Insert: routing.on_insert,
    InsertAccepted: routing.on_insert_accepted,
    InsertData: routing.on_insert_data,
    InsertReply: routing.on_insert_reply,
    InsertCollision: routing.on_insert_collision,
    Announce: routing.on_announce,
    AnnounceOffer: routing.on_announce_offer,
    AnnounceReply: routing.on_announce_reply,
    SwapRequest: swapping.on_swap_request,
    SwapReply: swapping.on_swap_reply,
    SwapRejected: swapping.on_swap_rejected,
    SwapCommit: swapping.on_swap_commit,
    SwapComplete: swapping.on_swap_complete,
    LocationUpdate: _on_location_update,
}


class Node:
    """One node's routing state. See the module comment for the event table."""

    __slots__ = (
        "_foaf_dirty",
        "_foaf_timer",
        "_fold",
        "config",
        "failures",
        "foaf",
        "last_announce",
        "location",
        "opennet",
        "own_swap",
        "parked",
        "peers",
        "pending",
        "recent",
        "ref",
        "rng",
        "swap_lock",
        "swap_walks",
        "swaps",
        "swaps_committed",
        "swaps_done",
        "verify",
    )

    def __init__(
        self,
        *,
        location: float,
        ref: bytes,
        rng: random.Random,
        config: Config | None = None,
        opennet: bool = True,
        verify: Callable[[Block], None] = verify_block,
    ) -> None:
        """Build a node.

        Args:
            location: our point on the circle [0, 1).
            ref: our node reference as peers should receive it (opaque bytes).
            rng: the only source of randomness (seeded in the simulator).
            config: tunables; defaults are production values.
            opennet: whether we take strangers as peers (announcement, path
                folding); darknet nodes swap locations instead.
            verify: checks a block against its routing key, raising
                ``InvalidBlock``; the simulator may pass a cheaper check.
        """
        if not 0.0 <= location < 1.0:
            raise LocalProtocolError("a location is in [0, 1)")
        self.location = location
        self.ref = ref
        self.rng = rng
        self.config = config if config is not None else Config()
        self.opennet = opennet
        self.verify = verify
        self.peers = PeerTable()
        self.pending: dict[int, Pending] = {}
        # Our own requests waiting for a peer with room (routing.park), oldest first.
        self.parked: dict[int, None] = {}
        self.recent: dict[int, None] = {}
        self.last_announce = -1e300
        self.swaps: dict[int, swapping.Swap] = {}
        self.own_swap: int | None = None
        self.swap_lock: swapping.Lock | None = None
        self.swaps_committed: dict[int, PeerId] = {}
        self.swaps_done = 0
        self.swap_walks = 0  # swap walks this node started (its annealing clock)
        self.failures = FailureTable(self.config.failure_table_ttl, self.config.failure_table_size)
        self._fold = FoldRef(ref=ref, location=location)
        # Friend-of-a-friend routing (darknet): our peers' peers' locations count.
        self.foaf = not opennet and self.config.foaf_routing
        self._foaf_dirty = False  # our peers' locations changed since we last told them
        self._foaf_timer = False  # a SetTimer(FOAF_TOKEN) is pending

    # --- events -------------------------------------------------------------

    def peer_connected(self, peer: PeerId, ref: bytes, location: float, now: float) -> list[Action]:
        """A link to ``peer`` (whose reference is ``ref``) is up."""
        if peer in self.peers:
            raise LocalProtocolError("peer_connected for a peer that is already connected")
        rng = self.rng
        cfg = self.config
        self.peers.add(
            Peer(
                peer,
                ref,
                location,
                now,
                dec_at_max=rng.random() < cfg.p_decrement_at_max,
                dec_at_one=rng.random() < cfg.p_decrement_at_one,
            )
        )
        if not self.opennet:
            return self._unparked(self.peers_changed(now), now)
        if len(self.peers) <= cfg.max_peers:
            return self._unparked([], now)
        victim = self.peers.least_useful(
            self.location,
            now,
            protect=int(cfg.max_peers * cfg.long_link_share),
            min_age=cfg.min_peer_age,
            protect_short=cfg.short_links_protected,
        )
        drop = victim.id if victim is not None else peer
        return self._unparked([DropPeer(peer=drop), *self._forget(drop, now)], now)

    def peer_lost(self, peer: PeerId, now: float) -> list[Action]:
        """The link to ``peer`` went down: backtrack whatever waited on it."""
        if peer not in self.peers:
            return []
        return self._unparked(self._forget(peer, now), now)

    def receive(self, peer: PeerId, message: Message, now: float) -> list[Action]:
        """A message from ``peer`` arrived (already decoded and validated)."""
        handler = _HANDLERS.get(type(message))
        try:
            if handler is None:
                raise RemoteProtocolError(f"not a message: {type(message).__name__}")
            actions = handler(self, peer, message, now)
        except RemoteProtocolError:
            if peer not in self.peers:
                return []
            actions = [DropPeer(peer=peer), *self._forget(peer, now)]
        return self._unparked(actions, now) if self.parked else actions

    def timer(self, token: int, now: float) -> list[Action]:
        """A timer set by ``SetTimer(token=token)`` came due."""
        if token == FOAF_TOKEN:
            self._foaf_timer = False
            if not self._foaf_dirty:
                return []
            return self._location_updates()
        st = self.pending.get(token)
        if st is not None:
            return self._unparked(routing.timed_out(self, st, now), now)
        return swapping.on_timer(self, token, now)

    def block_looked_up(self, token: int, block: Block | None, now: float) -> list[Action]:
        """The answer to ``LookupBlock(token=token)``: the block, or None."""
        st = self.pending.get(token)
        if st is None or not st.looking_up:
            raise LocalProtocolError("block_looked_up for a lookup that is not outstanding")
        return routing.looked_up(self, st, block, now)

    def start_request(
        self, kind: KeyKind, routing_key: bytes, client_id: int, now: float
    ) -> list[Action]:
        """Fetch a block for a local client; ends with one ``RequestDone(client_id)``."""
        uid = self.new_uid()
        st = Pending(
            Op.REQUEST,
            uid,
            location_of(routing_key),
            self.config.max_htl,
            None,
            self.budget(self.config.max_htl, now) + self.config.reply_slack,
            client_id,
        )
        st.kind = int(kind)
        st.routing_key = routing_key
        st.looking_up = True
        self.pending[uid] = st
        return [LookupBlock(token=uid, kind=kind, routing_key=routing_key)]

    def start_insert(self, block: Block, client_id: int, now: float) -> list[Action]:
        """Insert a block for a local client; ends with one ``InsertDone(client_id)``.

        Raises:
            LocalProtocolError: ``block`` fails verification. Every peer would
                drop the link that carried it, so it never leaves this node.
        """
        try:
            self.verify(block)
        except InvalidBlock as e:
            raise LocalProtocolError(f"a local insert of an invalid block: {e}") from e
        uid = self.new_uid()
        st = Pending(
            Op.INSERT,
            uid,
            block.location,
            self.config.max_htl,
            None,
            self.budget(self.config.max_htl, now) + self.config.reply_slack,
            client_id,
        )
        st.kind = int(block.kind)
        st.routing_key = block.routing_key
        st.block = block
        st.looking_up = True
        self.pending[uid] = st
        return [LookupBlock(token=uid, kind=block.kind, routing_key=block.routing_key)]

    def start_announce(self, client_id: int, now: float) -> list[Action]:
        """Opennet: route our reference toward our location through our (seed)
        peers; ends with one ``AnnounceDone(client_id)``; offers become ``ConnectTo``."""
        if not self.opennet:
            raise LocalProtocolError("darknet nodes do not announce")
        uid = self.new_uid()
        st = Pending(
            Op.ANNOUNCE,
            uid,
            self.location,
            self.config.max_htl,
            None,
            self.budget(self.config.max_htl, now) + self.config.reply_slack,
            client_id,
        )
        st.ref = self.ref
        self.pending[uid] = st
        self.last_announce = now
        return routing.route(self, st, now)

    def start_swap(self, now: float) -> list[Action]:
        """Darknet: start one swap walk (the driver calls this periodically)."""
        return swapping.start(self, now)

    # --- helpers for the state machine modules --------------------------------

    def swap_beta(self) -> float:
        """This node's swap rule now: hot at first, Sandberg's after ``anneal_walks``."""
        cfg = self.config
        if cfg.anneal_walks <= 0 or self.swap_walks >= cfg.anneal_walks:
            return 1.0
        rise = cfg.anneal_beta1 - cfg.anneal_beta0
        return cfg.anneal_beta0 + rise * self.swap_walks / cfg.anneal_walks

    def new_uid(self) -> int:
        uid = self.rng.getrandbits(64)
        while uid in self.pending or uid in self.swaps:  # pragma: no cover - 2^-64
            uid = self.rng.getrandbits(64)
        return uid

    def budget(self, htl: int, now: float) -> float:
        """The deadline of a request holding ``htl`` that arrived at ``now``."""
        cfg = self.config
        return now + cfg.base_timeout + htl * cfg.hop_timeout

    @staticmethod
    def location_of(routing_key: bytes) -> float:
        return int.from_bytes(routing_key[:8], "big") / 18446744073709551616.0

    def distance_to(self, target: float) -> float:
        return circular_distance(self.location, target)

    def checked_block(self, kind: int, routing_key: bytes, data: bytes) -> Block:
        """A block from a peer, verified; garbage raises RemoteProtocolError."""
        try:
            block = Block(KINDS[kind], routing_key, data)
            self.verify(block)
        except InvalidBlock as e:
            raise RemoteProtocolError(f"invalid block from peer: {e}") from e
        return block

    def own_fold(self) -> FoldRef:
        return self._fold

    def wants_peer(self, now: float) -> bool:
        """Opennet: would we take one more peer now (maybe dropping one)?

        Below ``min_peers`` always; otherwise with ``fold_accept_probability``,
        whether or not the table is full. A neighbour can ask this question at
        will (send announcements through us, or fold a reference of its own to
        us), so the answer must not tell it whether we have room: random relays
        at max HTL are picked in proportion to their degree while originators
        are any node, and the room bit let a neighbour's table classifier name
        originators 52 % of the time instead of 50 % (bench/resilience)."""
        cfg = self.config
        if len(self.peers) < cfg.min_peers:
            return True
        return self.rng.random() < cfg.fold_accept_probability

    def is_nearest(self, location: float) -> bool:
        """Would a node at ``location`` be closer to us than any current peer?
        Such a node is always worth a link: it is what makes greedy routing
        able to finish near our location."""
        return self.peers.nearest_distance(self.location) > circular_distance(
            self.location, location
        )

    def may_fold(self, fold: FoldRef, now: float) -> bool:
        """Opennet: take the path-folding reference ``fold``?"""
        if fold.ref == self.ref or fold.ref in self.peers.by_ref:
            return False
        return self.wants_peer(now)

    def back_off(self, peer: Peer, now: float) -> None:
        cfg = self.config
        peer.back_off(now, cfg.backoff_initial, cfg.backoff_max, self.rng.random())

    def move_to(self, location: float) -> list[Action]:
        """Take a new location (a swap): tell the driver and every peer."""
        self.location = location
        self._fold = FoldRef(ref=self.ref, location=location)
        return [LocationChanged(location=location), *self._location_updates()]

    def peers_changed(self, now: float) -> list[Action]:
        """Our peers' locations changed: tell our peers after ``foaf_delay`` (darknet)."""
        if not self.foaf:
            return []
        self._foaf_dirty = True
        if self._foaf_timer:
            return []
        self._foaf_timer = True
        return [SetTimer(at=now + self.config.foaf_delay, token=FOAF_TOKEN)]

    def _location_updates(self) -> list[Action]:
        """A ``location_update`` for every peer: our location and (darknet) our other peers'."""
        self._foaf_dirty = False
        if not self.foaf:
            update = LocationUpdate(location=self.location)
            return [Send(peer=p, message=update) for p in self.peers.ids()]
        locs = swapping.peer_sample(self)
        location = self.location
        by_id = self.peers.by_id
        return [
            Send(
                peer=p,
                message=LocationUpdate(
                    location=location,
                    peer_locations=tuple(loc for loc in locs if loc != by_id[p].location),
                ),
            )
            for p in self.peers.ids()
        ]

    def _unparked(self, actions: list[Action], now: float) -> list[Action]:
        """``actions``, then whatever parked requests can go out now that peers
        may have room (a reply or a timeout freed a slot, a peer came)."""
        if not self.parked:
            return actions
        return [*actions, *routing.unpark(self, now)]

    def _forget(self, peer: PeerId, now: float) -> list[Action]:
        self.peers.remove(peer)
        actions: list[Action] = []
        for st in list(self.pending.values()):
            if st.downstream == peer:
                actions += routing.link_lost(self, st, now)
            elif st.awaiting_data and st.upstream == peer:
                actions += routing.upstream_lost(self, st)
        if self.swaps:
            actions += swapping.link_lost(self, peer, now)
        actions += self.peers_changed(now)
        cfg = self.config
        if (
            self.opennet
            and 0 < len(self.peers) < cfg.min_peers
            and now - self.last_announce >= cfg.announce_interval
        ):
            actions += self.start_announce(REANNOUNCE, now)
        return actions
