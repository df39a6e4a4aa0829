"""The request, insert and announcement state machine: greedy routing with backtracking.

Theory of operation
-------------------
A request (or insert, or opennet announcement) is known at each node it visits
by its random 64-bit ``uid``; the node keeps one :class:`Pending` for it while
it is in flight here, and a second arrival of the same uid is rejected as a
loop. Each node routes greedily: it sends the request to the peer closest to
the target location that it has not yet tried for this uid, then waits for one
reply from that peer. Failures that leave HTL to spend (RouteNotFound carrying
what is left, RejectedLoop, RejectedOverload, a timeout, the peer's link
dropping) make it *backtrack*: try the next-closest peer. When no peer is left
it answers RouteNotFound with its remaining HTL, so its upstream can go on
backtracking with exactly the hops that remain. HTL only ever goes down.

Every wait is bounded. A node holding HTL h has a budget
``base_timeout + h * hop_timeout`` from the time the request arrived; it waits
for a downstream peer at most that peer's own budget plus ``reply_slack`` and
never past its own deadline. Budgets shrink with HTL, so the downstream side
gives up (and says so) before its upstream stops listening.

Transitions of one ``Pending`` (``LOOKUP`` is skipped by announcements; the
origin has no upstream and reports with a ``*Done`` action instead of a reply)::

    state    event                              action                        next
    -------  ---------------------------------  ----------------------------  -------
    (none)   request/insert arrives, uid known   send RejectedLoop             (none)
    (none)   arrives, over in-flight limit       send RejectedOverload         (none)
    (none)   request, key in failure table       send DataNotFound             (none)
    (none)   request arrives                     LookupBlock                   LOOKUP
    (none)   insert offer arrives                send InsertAccepted, SetTimer AWAIT
    AWAIT    InsertData from upstream (verified) LookupBlock                   LOOKUP
    AWAIT    timer past hop_timeout, or          forget, no reply              DONE
             upstream's link lost
    LOOKUP   request: block found                send DataFound upstream       DONE
    LOOKUP   request: block found at a relay     keep it aside; route          ROUTING
             holding max HTL with other peers    (answer with it if all fails)
    LOOKUP   insert: SSK with other data         send InsertCollision          DONE
    LOOKUP   otherwise (insert: StoreBlock)      route                         ROUTING
    ROUTING  route: peer p, decremented HTL > 0  send to p, SetTimer           WAITING
                                                 (insert: the offer only)
    ROUTING  opennet insert, below max HTL,      StoreBlock(STORE) if not yet, ROUTING
             closest untried peer farther from   sinks += 1; route on with it
             the key than us (a sink)
    ROUTING  ... and that makes insert_sinks     StoreBlock(STORE) if not yet, DONE
                                                 send InsertReply upstream
    ROUTING  route: decremented HTL = 0          DataNotFound / InsertReply /  DONE
                                                 AnnounceReply upstream
    ROUTING  route: no untried peer, or          RouteNotFound(htl, held)      DONE
             max_attempts peers tried            upstream (insert held by
                                                 nobody: StoreBlock first);
                                                 origin: insert held ->
                                                 INSERTED
    ROUTING  route: deadline passed              RouteNotFound(0) upstream     DONE
    ROUTING  origin (request, insert): every     SetTimer(deadline)            PARKED
             untried peer left is at its limit
    PARKED   a peer has room (oldest first)      route                         ROUTING
    PARKED   timer past deadline                 TIMED_OUT                     DONE
    WAITING  DataFound from p (verified)         cache, fold, send upstream    DONE
    WAITING  DataNotFound from p                 failure table, send upstream  DONE
    WAITING  InsertAccepted from p (insert)      send InsertData to p (once)   WAITING
    WAITING  InsertReply / AnnounceReply from p  send upstream                 DONE
    WAITING  InsertCollision from p (verified)   send upstream                 DONE
    WAITING  AnnounceOffer from p                relay upstream / ConnectTo    WAITING
    WAITING  RouteNotFound(h, held) from p       htl = min(htl, h); note held; ROUTING
                                                 route (insert held: pass the
                                                 RouteNotFound up, DONE)
    WAITING  RejectedLoop from p                 route                         ROUTING
    WAITING  RejectedOverload from p             back off p; route             ROUTING
    WAITING  timer past attempt deadline         back off p; route             ROUTING
    WAITING  p's link lost                       route                         ROUTING
    WAITING  reply from another peer / late      ignore                        WAITING

A message from a peer that is not the one we wait on is ignored: the id is
shared by every node on the path, so only the downstream we chose may answer.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from crypto.blocks import Block, KeyKind
from node.core.actions import (
    Action,
    AnnounceDone,
    Area,
    ConnectTo,
    InsertDone,
    LookupBlock,
    Outcome,
    PeerId,
    RequestDone,
    Send,
    SetTimer,
    StoreBlock,
)
from node.core.errors import LocalProtocolError, RemoteProtocolError
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
    RejectedLoop,
    RejectedOverload,
    RouteNotFound,
)
from node.core.peers import Peer, circular_distance

if TYPE_CHECKING:
    from node.core.node import Node

KINDS = (KeyKind.CHK, KeyKind.CHK, KeyKind.SSK)  # index by the wire's int kind


class Op(enum.IntEnum):
    REQUEST = 0
    INSERT = 1
    ANNOUNCE = 2


class Pending:
    """One request, insert or announcement in flight at this node."""

    __slots__ = (
        "attempt_deadline",
        "attempts",
        "awaiting_data",
        "block",
        "client_id",
        "counted_in",
        "data_sent",
        "deadline",
        "downstream",
        "held",
        "htl",
        "in_store",
        "kind",
        "looking_up",
        "offers",
        "op",
        "received_htl",
        "ref",
        "routing_key",
        "sink",
        "sinks",
        "target",
        "tried",
        "uid",
        "upstream",
    )

    def __init__(
        self,
        op: Op,
        uid: int,
        target: float,
        htl: int,
        upstream: PeerId | None,
        deadline: float,
        client_id: int = -1,
    ) -> None:
        self.op = op
        self.uid = uid
        self.target = target
        self.htl = htl
        self.received_htl = htl
        self.upstream = upstream
        self.deadline = deadline
        self.attempt_deadline = deadline
        self.attempts = 0
        self.client_id = client_id
        # The upstream's Peer whose in_flight_in counts us: that object, not the
        # id, so a link that drops and comes back starts from a true count.
        self.counted_in: Peer | None = None
        self.tried: set[PeerId] = set() if upstream is None else {upstream}
        self.downstream: PeerId | None = None
        self.looking_up = False
        self.kind = 1
        self.routing_key = b""
        self.block: Block | None = None
        self.ref = b""
        self.offers = 0
        self.held = False  # insert: a node at or past us keeps the block
        self.in_store = False  # insert: we keep it in our store (not just the cache)
        self.sinks = 0  # insert: sinks passed before us (Insert.sinks), and us if a sink
        self.sink = False  # insert: we are one of them
        self.awaiting_data = False  # insert, downstream side: accepted, block not yet here
        self.data_sent = False  # insert, upstream side: the current downstream has the block


# --- arrivals -----------------------------------------------------------------


def admit(node: Node, peer: PeerId, uid: int) -> Peer | Action:
    """The common gate of every routed message: loop and load checks."""
    p = node.peers.get(peer)
    if p is None:
        raise LocalProtocolError("a message was delivered from a peer that is not connected")
    if uid in node.pending or uid in node.recent:
        return Send(peer=peer, message=RejectedLoop(uid=uid))
    cfg = node.config
    if p.in_flight_in >= cfg.peer_in_flight_limit or len(node.pending) >= cfg.node_in_flight_limit:
        return Send(peer=peer, message=RejectedOverload(uid=uid))
    return p


def on_data_request(node: Node, peer: PeerId, msg: DataRequest, now: float) -> list[Action]:
    p = admit(node, peer, msg.uid)
    if not isinstance(p, Peer):
        return [p]
    key = msg.routing_key
    if node.failures.quenched(key, msg.htl, now):
        return [Send(peer=peer, message=DataNotFound(uid=msg.uid))]
    st = Pending(
        Op.REQUEST, msg.uid, node.location_of(key), msg.htl, peer, node.budget(msg.htl, now)
    )
    st.kind = msg.kind
    st.routing_key = key
    st.looking_up = True
    p.in_flight_in += 1
    st.counted_in = p
    node.pending[msg.uid] = st
    return [LookupBlock(token=msg.uid, kind=KINDS[msg.kind], routing_key=key)]


def on_insert(node: Node, peer: PeerId, msg: Insert, now: float) -> list[Action]:
    """An insert is offered: accept it (the block follows) or refuse it cheaply."""
    p = admit(node, peer, msg.uid)
    if not isinstance(p, Peer):
        return [p]
    target = node.location_of(msg.routing_key)
    st = Pending(Op.INSERT, msg.uid, target, msg.htl, peer, node.budget(msg.htl, now))
    st.kind = msg.kind
    st.routing_key = msg.routing_key
    st.sinks = msg.sinks
    st.awaiting_data = True
    at = min(now + node.config.hop_timeout, st.deadline)
    st.attempt_deadline = at
    p.in_flight_in += 1
    st.counted_in = p
    node.pending[msg.uid] = st
    return [Send(peer=peer, message=InsertAccepted(uid=msg.uid)), SetTimer(at=at, token=msg.uid)]


def on_insert_data(node: Node, peer: PeerId, msg: InsertData, now: float) -> list[Action]:
    """The block of an insert we accepted: verify it, then look up, keep, route."""
    st = node.pending.get(msg.uid)
    if st is None or st.upstream != peer or not st.awaiting_data:
        return []  # we stopped waiting for it (or it was never ours to wait for)
    st.awaiting_data = False
    st.attempt_deadline = st.deadline
    try:
        st.block = node.checked_block(st.kind, st.routing_key, msg.data)
    except RemoteProtocolError:
        finish(node, st, [])
        raise
    st.looking_up = True
    return [LookupBlock(token=st.uid, kind=st.block.kind, routing_key=st.routing_key)]


def on_announce(node: Node, peer: PeerId, msg: Announce, now: float) -> list[Action]:
    p = admit(node, peer, msg.uid)
    if not isinstance(p, Peer):
        return [p]
    st = Pending(Op.ANNOUNCE, msg.uid, msg.location, msg.htl, peer, node.budget(msg.htl, now))
    st.ref = msg.ref
    p.in_flight_in += 1
    st.counted_in = p
    node.pending[msg.uid] = st
    actions: list[Action] = []
    if (
        node.opennet
        and msg.ref != node.ref
        and msg.ref not in node.peers.by_ref
        and (node.is_nearest(msg.location) or node.wants_peer(now))
    ):
        offer = AnnounceOffer(uid=msg.uid, offer=node.own_fold())
        actions.append(Send(peer=peer, message=offer))
    actions += route(node, st, now)
    return actions


def looked_up(node: Node, st: Pending, block: Block | None, now: float) -> list[Action]:
    """The local store answered for ``st`` (a request or an insert)."""
    st.looking_up = False
    if block is not None and (block.routing_key != st.routing_key or block.kind != st.kind):
        raise LocalProtocolError("LookupBlock was answered with a block for another key")
    if st.op is Op.REQUEST:
        if block is None:
            return route(node, st, now)
        if (
            st.upstream is not None
            and st.htl >= node.config.max_htl
            and not node.config.answer_at_max
            and len(node.peers) > 1
        ):
            st.block = block  # ours to answer with only if everything downstream fails
            return route(node, st, now)
        return answer(node, st, block)
    new = st.block
    assert new is not None
    if block is not None and block.kind is KeyKind.SSK and block.data != new.data:
        return reply_collision(node, st, block)
    actions: list[Action] = []
    if st.upstream is not None:
        # A sink: no peer it could pass the insert to is closer to the key (the
        # upstream, which offered it, does not count: it may be the inserter,
        # which keeps nothing).
        if node.peers.nearest_distance(st.target, st.upstream) > node.distance_to(st.target):
            actions.append(StoreBlock(block=new, area=Area.STORE))
            st.held = st.in_store = True
        elif st.received_htl <= node.config.cache_max_htl:
            actions.append(StoreBlock(block=new, area=Area.CACHE))
            st.held = True
    actions += route(node, st, now)
    return actions


def answer(node: Node, st: Pending, block: Block) -> list[Action]:
    """The request ``st`` is answered here with ``block`` (ours, not a downstream's)."""
    if st.upstream is None:
        return finish(
            node, st, [RequestDone(client_id=st.client_id, outcome=Outcome.FOUND, block=block)]
        )
    fold = node.own_fold() if node.opennet else None
    found = DataFound(
        uid=st.uid, kind=st.kind, routing_key=st.routing_key, data=block.data, fold=fold
    )
    return finish(node, st, [Send(peer=st.upstream, message=found)])


# --- routing ----------------------------------------------------------------------


def route(node: Node, st: Pending, now: float) -> list[Action]:
    """Send ``st`` to the best untried peer, or end it here."""
    cfg = node.config
    if now >= st.deadline:
        return end_no_route(node, st, 0, timed_out=True)
    if st.htl <= 0:
        return end_exhausted(node, st, now)
    if st.attempts >= cfg.max_attempts:
        return end_no_route(node, st, st.htl)
    if st.htl >= cfg.max_htl and cfg.random_at_max and st.op is not Op.ANNOUNCE:
        p = node.peers.random_untried(node.rng, st.tried, now, cfg.peer_in_flight_limit)
    elif node.foaf:
        p = node.peers.closest_foaf(st.target, st.tried, now, cfg.peer_in_flight_limit)
    else:
        p = node.peers.closest(st.target, st.tried, now, cfg.peer_in_flight_limit)
        if (
            p is not None
            and st.op is Op.INSERT
            and st.upstream is not None
            and not st.sink
            and cfg.insert_sinks
            and node.opennet
            and circular_distance(p.location, st.target) > node.distance_to(st.target)
        ):
            kept = at_sink(st)
            if st.sinks >= cfg.insert_sinks:
                return kept + end_exhausted(node, st, now)
            return kept + route(node, st, now)
    if p is None:
        if (
            st.upstream is None
            and st.op is not Op.ANNOUNCE
            and node.peers.untried_at_limit(st.tried, cfg.peer_in_flight_limit)
        ):
            return park(node, st)
        return end_no_route(node, st, st.htl)
    htl = st.htl
    if htl >= cfg.max_htl:
        htl = cfg.max_htl - 1 if p.dec_at_max else cfg.max_htl
    elif htl == 1:
        htl = 0 if p.dec_at_one else 1
    else:
        htl -= 1
    if htl == 0:
        return end_exhausted(node, st, now)
    st.tried.add(p.id)
    st.attempts += 1
    st.downstream = p.id
    st.data_sent = False
    p.in_flight_out += 1
    at = now + cfg.base_timeout + htl * cfg.hop_timeout + cfg.reply_slack
    if at > st.deadline:
        at = st.deadline
    st.attempt_deadline = at
    msg: DataRequest | Insert | Announce
    if st.op is Op.REQUEST:
        msg = DataRequest(uid=st.uid, kind=st.kind, routing_key=st.routing_key, htl=htl)
    elif st.op is Op.INSERT:
        msg = Insert(uid=st.uid, kind=st.kind, routing_key=st.routing_key, htl=htl, sinks=st.sinks)
    else:
        msg = Announce(uid=st.uid, location=st.target, ref=st.ref, htl=htl)
    return [Send(peer=p.id, message=msg), SetTimer(at=at, token=st.uid)]


def park(node: Node, st: Pending) -> list[Action]:
    """Our own request or insert found every untried peer at its send limit: wait.

    Our peers are busy with our own traffic, not out of reach, and failing the
    request would only make the client ask again into the same queue (one peer,
    a window wider than its limit: a whole segment failed in milliseconds).
    It goes out, first in first out, when a peer has room
    (:func:`unpark`), or ends ``TIMED_OUT`` at its deadline. Relayed
    requests never wait: their ``RouteNotFound`` is the load signal upstream."""
    node.parked[st.uid] = None
    return [SetTimer(at=st.deadline, token=st.uid)]


def unpark(node: Node, now: float) -> list[Action]:
    """Send parked requests while their peers have room, oldest first."""
    actions: list[Action] = []
    parked = node.parked
    pending = node.pending
    limit = node.config.peer_in_flight_limit
    for _ in range(len(parked)):  # a request parked again goes last: one pass
        uid = next(iter(parked))
        st = pending.get(uid)
        if st is not None and not node.peers.untried_with_room(st.tried, limit):
            break
        del parked[uid]
        if st is not None:
            actions += route(node, st, now)
    return actions


def finish(node: Node, st: Pending, actions: list[Action]) -> list[Action]:
    """Forget ``st`` here; ``actions`` carry its one and only result."""
    del node.pending[st.uid]
    node.parked.pop(st.uid, None)
    recent = node.recent
    recent[st.uid] = None
    if len(recent) > node.config.recent_uids:
        del recent[next(iter(recent))]
    if st.counted_in is not None:
        st.counted_in.in_flight_in -= 1
    return actions


def end_exhausted(node: Node, st: Pending, now: float) -> list[Action]:
    """HTL ran out here: the normal end of inserts and announcements."""
    up = st.upstream
    if st.op is Op.REQUEST and st.block is not None:
        return answer(node, st, st.block)
    if st.op is Op.REQUEST:
        node.failures.record(st.routing_key, st.received_htl, now)
        if up is None:
            return finish(
                node, st, [RequestDone(client_id=st.client_id, outcome=Outcome.DATA_NOT_FOUND)]
            )
        return finish(node, st, [Send(peer=up, message=DataNotFound(uid=st.uid))])
    if st.op is Op.INSERT:
        if up is None:
            return finish(node, st, [InsertDone(client_id=st.client_id, outcome=Outcome.INSERTED)])
        return finish(node, st, [Send(peer=up, message=InsertReply(uid=st.uid))])
    if up is None:
        return finish(node, st, [AnnounceDone(client_id=st.client_id, offers=st.offers)])
    return finish(node, st, [Send(peer=up, message=AnnounceReply(uid=st.uid))])


def at_sink(st: Pending) -> list[Action]:
    """A greedy insert reached a node that no untried peer improves on: a sink.
    It keeps the block in its store and counts itself (``Config.insert_sinks``)."""
    st.sink = True
    st.sinks += 1
    st.held = True
    if st.in_store:
        return []
    assert st.block is not None
    st.in_store = True
    return [StoreBlock(block=st.block, area=Area.STORE)]


def end_no_route(node: Node, st: Pending, htl: int, *, timed_out: bool = False) -> list[Action]:
    """No peer is left (or time ran out): RouteNotFound with what HTL is left.

    An insert that ran out of network is a success if someone keeps the block:
    the node where it ends keeps it in its store if nobody at or past it does
    (the *sink* of a network smaller than the HTL: greedy requests end there
    too), and ``held`` tells the origin, which reports INSERTED."""
    up = st.upstream
    if st.op is Op.REQUEST and st.block is not None:
        return answer(node, st, st.block)
    actions: list[Action] = []
    if st.op is Op.INSERT and not timed_out and not st.held and up is not None:
        assert st.block is not None
        actions.append(StoreBlock(block=st.block, area=Area.STORE))
        st.held = True
    if up is not None:
        actions.append(Send(peer=up, message=RouteNotFound(uid=st.uid, htl=htl, held=st.held)))
        return finish(node, st, actions)
    outcome = Outcome.TIMED_OUT if timed_out else Outcome.ROUTE_NOT_FOUND
    if st.op is Op.REQUEST:
        return finish(node, st, [RequestDone(client_id=st.client_id, outcome=outcome)])
    if st.op is Op.INSERT:
        if st.held and not timed_out:
            outcome = Outcome.INSERTED
        return finish(node, st, [InsertDone(client_id=st.client_id, outcome=outcome)])
    return finish(node, st, [AnnounceDone(client_id=st.client_id, offers=st.offers)])


def reply_collision(node: Node, st: Pending, existing: Block) -> list[Action]:
    if st.upstream is None:
        done = InsertDone(client_id=st.client_id, outcome=Outcome.COLLISION, existing=existing)
        return finish(node, st, [done])
    msg = InsertCollision(
        uid=st.uid, kind=int(existing.kind), routing_key=existing.routing_key, data=existing.data
    )
    return finish(node, st, [Send(peer=st.upstream, message=msg)])


# --- replies from downstream ------------------------------------------------------


def awaited(node: Node, peer: PeerId, uid: int) -> Pending | None:
    """The pending entry for ``uid`` if it is waiting on ``peer``, else None."""
    st = node.pending.get(uid)
    if st is None or st.downstream != peer:
        return None
    return st


def stop_waiting(node: Node, st: Pending) -> None:
    """``st``'s downstream answered: it no longer counts against that peer."""
    peer = st.downstream
    st.downstream = None
    if peer is not None:
        p = node.peers.get(peer)
        if p is not None:
            p.in_flight_out -= 1


def waiting(node: Node, peer: PeerId, uid: int) -> Pending | None:
    """:func:`awaited` and :func:`stop_waiting` for replies that need no checks."""
    st = awaited(node, peer, uid)
    if st is not None:
        stop_waiting(node, st)
    return st


def on_data_found(node: Node, peer: PeerId, msg: DataFound, now: float) -> list[Action]:
    st = awaited(node, peer, msg.uid)
    if st is None:
        return []
    if st.op is not Op.REQUEST or msg.routing_key != st.routing_key or msg.kind != st.kind:
        raise RemoteProtocolError("DataFound for a different key than was requested")
    block = node.checked_block(msg.kind, msg.routing_key, msg.data)
    stop_waiting(node, st)
    p = node.peers.get(peer)
    if p is not None:
        p.useful(now)
    actions: list[Action] = []
    fold = msg.fold
    if st.upstream is None:
        if fold is not None and node.opennet and node.may_fold(fold, now):
            actions.append(ConnectTo(ref=fold.ref, location=fold.location))
        actions.append(RequestDone(client_id=st.client_id, outcome=Outcome.FOUND, block=block))
        return finish(node, st, actions)
    if st.received_htl <= node.config.cache_max_htl:
        actions.append(StoreBlock(block=block, area=Area.CACHE))
    if node.opennet:
        rng = node.rng
        if (
            fold is not None
            and len(node.peers) < node.config.max_peers
            and node.may_fold(fold, now)
        ):
            actions.append(ConnectTo(ref=fold.ref, location=fold.location))
            fold = node.own_fold()
        elif fold is None or rng.random() < node.config.fold_reset_probability:
            fold = node.own_fold()
    if fold is not msg.fold:
        msg = DataFound(
            uid=msg.uid, kind=msg.kind, routing_key=msg.routing_key, data=msg.data, fold=fold
        )
    actions.append(Send(peer=st.upstream, message=msg))
    return finish(node, st, actions)


def on_data_not_found(node: Node, peer: PeerId, msg: DataNotFound, now: float) -> list[Action]:
    st = waiting(node, peer, msg.uid)
    if st is None:
        return []
    return end_exhausted(node, st, now)


def on_route_not_found(node: Node, peer: PeerId, msg: RouteNotFound, now: float) -> list[Action]:
    st = waiting(node, peer, msg.uid)
    if st is None:
        return []
    if msg.htl < st.htl:
        st.htl = msg.htl
    if msg.held and st.op is Op.INSERT:
        # The insert ran out of network past a node that keeps it: trying our
        # other peers would only walk the same (small) network again, one
        # loop-rejection at a time. Pass the news up.
        st.held = True
        return end_no_route(node, st, st.htl)
    return route(node, st, now)


def on_rejected_loop(node: Node, peer: PeerId, msg: RejectedLoop, now: float) -> list[Action]:
    st = waiting(node, peer, msg.uid)
    if st is None:
        return []
    return route(node, st, now)


def on_rejected_overload(
    node: Node, peer: PeerId, msg: RejectedOverload, now: float
) -> list[Action]:
    st = waiting(node, peer, msg.uid)
    if st is None:
        return []
    p = node.peers.get(peer)
    if p is not None:
        node.back_off(p, now)
    return route(node, st, now)


def on_insert_accepted(node: Node, peer: PeerId, msg: InsertAccepted, now: float) -> list[Action]:
    """Our downstream took the offer: now it gets the block (once)."""
    st = awaited(node, peer, msg.uid)
    if st is None:
        return []
    if st.op is not Op.INSERT:
        raise RemoteProtocolError("InsertAccepted for something that is not an insert")
    if st.data_sent:
        return []
    st.data_sent = True
    assert st.block is not None
    return [Send(peer=peer, message=InsertData(uid=st.uid, data=st.block.data))]


def on_insert_reply(node: Node, peer: PeerId, msg: InsertReply, now: float) -> list[Action]:
    st = awaited(node, peer, msg.uid)
    if st is None:
        return []
    if st.op is not Op.INSERT:
        raise RemoteProtocolError("InsertReply for something that is not an insert")
    stop_waiting(node, st)
    p = node.peers.get(peer)
    if p is not None:
        p.useful(now)
    return end_exhausted(node, st, now)


def on_insert_collision(node: Node, peer: PeerId, msg: InsertCollision, now: float) -> list[Action]:
    st = awaited(node, peer, msg.uid)
    if st is None:
        return []
    if st.op is not Op.INSERT or msg.routing_key != st.routing_key or msg.kind != KeyKind.SSK:
        raise RemoteProtocolError("InsertCollision that does not match the insert")
    existing = node.checked_block(msg.kind, msg.routing_key, msg.data)
    stop_waiting(node, st)
    return reply_collision(node, st, existing)


def on_announce_offer(node: Node, peer: PeerId, msg: AnnounceOffer, now: float) -> list[Action]:
    st = node.pending.get(msg.uid)
    if st is None or st.downstream != peer or st.op is not Op.ANNOUNCE:
        return []
    if st.upstream is not None:
        return [Send(peer=st.upstream, message=msg)]
    offer = msg.offer
    if offer.ref == node.ref or offer.ref in node.peers.by_ref:
        return []
    st.offers += 1
    return [ConnectTo(ref=offer.ref, location=offer.location)]


def on_announce_reply(node: Node, peer: PeerId, msg: AnnounceReply, now: float) -> list[Action]:
    st = awaited(node, peer, msg.uid)
    if st is None:
        return []
    if st.op is not Op.ANNOUNCE:
        raise RemoteProtocolError("AnnounceReply for something that is not an announcement")
    stop_waiting(node, st)
    return end_exhausted(node, st, now)


def timed_out(node: Node, st: Pending, now: float) -> list[Action]:
    """A timer for ``st`` fired: if it is still waiting past its deadline, move on."""
    if st.awaiting_data:
        # The upstream offered an insert and never sent the block: it gave up
        # on us (and said nothing, since it no longer waits for our answer).
        return finish(node, st, []) if now >= st.attempt_deadline else []
    if st.uid in node.parked:
        if now < st.deadline:
            return []
        del node.parked[st.uid]
        return end_no_route(node, st, 0, timed_out=True)
    if st.downstream is None or now < st.attempt_deadline:
        return []
    p = node.peers.get(st.downstream)
    st.downstream = None
    if p is not None:
        p.in_flight_out -= 1
        node.back_off(p, now)
    return route(node, st, now)


def upstream_lost(node: Node, st: Pending) -> list[Action]:
    """The peer that offered ``st`` (an insert we still wait on) disconnected."""
    return finish(node, st, [])


def link_lost(node: Node, st: Pending, now: float) -> list[Action]:
    """The downstream peer of ``st`` disconnected: backtrack."""
    st.downstream = None
    return route(node, st, now)


__all__ = ["FoldRef", "Op", "Pending"]
