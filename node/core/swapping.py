"""Darknet location swapping: Sandberg's Metropolis–Hastings walk, committed atomically.

Theory of operation
-------------------
On a darknet the links are friendships and cannot move, so the locations move
instead. Periodically a node *A* starts a swap: it sends a :class:`SwapRequest`
with its location, its neighbours' locations and a random nonce on a random
walk of ``swap_htl`` hops (each hop picks a random peer other than the one it
came from). The walk's last node *B* answers with a :class:`SwapReply` carrying
its own location, neighbours and nonce, relayed back along the walk.

Both ends compute the same decision from the same numbers (Sandberg 2006):
with ``D(x, N) = prod(distance(x, n) for n in N)``, swap when
``D(a, Na) D(b, Nb) >= D(b, Na) D(a, Nb)`` (the product of link lengths does
not grow), else with probability ``D(a,Na) D(b,Nb) / (D(b,Na) D(a,Nb))``, the
coin being ``(nonce_a XOR nonce_b) / 2^64`` so both ends flip the same coin.
(A mutual link between A and B is left out: it does not change.) A node that
is still annealing (``Config.anneal_walks``) raises that ratio to its β < 1;
each end sends its β and both apply the larger, so they still decide alike.

**Atomicity.** A swap must exchange two locations: the multiset of locations
in the network never changes. Three rules give that:

1. *One swap per node at a time.* A node with its own swap in flight, or
   locked as the endpoint of one, never becomes an endpoint (it answers
   :class:`SwapRejected`) and starts no swap; so between the request and the
   commit neither end's location changes. (Busy nodes still *relay* walks:
   relaying changes nothing.)
2. *Nobody moves on a timeout.* B decides when it replies; if the decision is
   to swap it *locks* (does not move) and waits for a :class:`SwapCommit`. A
   moves when the reply arrives and then sends SwapCommit down the walk; B
   moves when SwapCommit arrives and answers :class:`SwapComplete`. A lost
   request or reply, a relay that gives up, a late reply: none of them moves
   anybody, and B's lock simply expires.
3. *The commit is repeated until acknowledged.* A repeats SwapCommit every
   ``swap_retry_interval`` for ``swap_commit_timeout`` until SwapComplete comes
   back; relays keep the walk's state, and B its lock (then a record that it
   committed, to answer repeats), for longer than that. Any lost SwapCommit or
   SwapComplete costs a repeat.

What remains is the two generals' problem: if *every* SwapCommit is lost for
the whole window (a link of the walk goes down right after the reply passed
and stays down) A has moved and B has not. Links are reliable while up, so
this needs a link failure inside one round trip that lasts longer than the
window; it is not self-corrected, and ``specs/routing.md`` §6 says so.

Limitation, also documented: B learns A's nonce before choosing its own, so a
malicious B could bias the coin; a commit–reveal round would fix it.

Transitions of one swap at one node (``WALK`` and ``COMMIT`` are the phases of
a :class:`Swap` entry; ``LOCKED`` is :class:`Lock`)::

    role       state   event                            action                       next
    ---------  ------  -------------------------------  ---------------------------  ------
    initiator  (none)  start_swap, idle, has peers      SwapRequest to random peer   WALK
    initiator  WALK    SwapReply, no swap               -                            (none)
    initiator  WALK    SwapReply, swap                  move, SwapCommit             COMMIT
    initiator  WALK    SwapRejected / timer / lost      give up                      (none)
    initiator  COMMIT  retry timer                      SwapCommit again             COMMIT
    initiator  COMMIT  SwapComplete                     -                            (none)
    initiator  COMMIT  final timer                      give up (already moved)      (none)
    relay      (none)  SwapRequest, htl > 1             forward to random peer       WALK
    relay      WALK    SwapReply                        relay upstream               COMMIT
    relay      WALK    SwapRejected, idle               act as the endpoint          (none)
    relay      WALK    SwapRejected, busy               relay upstream               (none)
    relay      WALK    timer / downstream lost          SwapRejected upstream        (none)
    relay      COMMIT  SwapCommit from upstream         relay downstream             COMMIT
    relay      COMMIT  SwapComplete from downstream     relay upstream               (none)
    relay      COMMIT  timer                            forget                       (none)
    endpoint   (none)  SwapRequest, htl <= 1, idle      SwapReply; swap? lock        LOCKED
    endpoint   LOCKED  SwapCommit from upstream         move, SwapComplete           (done)
    endpoint   LOCKED  timer                            unlock, no move              (none)
    endpoint   (done)  SwapCommit again                 SwapComplete again           (done)
    any        (none)  SwapRequest, uid known / busy    SwapRejected                 (none)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from node.core.actions import Action, PeerId, Send, SetTimer
from node.core.messages import (
    MAX_SWAP_PEERS,
    SwapCommit,
    SwapComplete,
    SwapRejected,
    SwapReply,
    SwapRequest,
)
from node.core.peers import circular_distance

if TYPE_CHECKING:
    from node.core.node import Node

_TWO_64 = float(2**64)
_MIN_DISTANCE = 1e-12  # two nodes at one point: keep the logarithm finite
WALK, COMMIT = 0, 1
COMMITTED_KEPT = 64
"""Committed swaps an endpoint remembers to answer repeated SwapCommits: at most
one swap per node is open at a time, so a handful covers every repeat."""


class Swap:
    """One swap walk in flight at this node (as initiator or relay)."""

    __slots__ = (
        "beta",
        "deadline",
        "downstream",
        "location",
        "nonce",
        "peer_locations",
        "phase",
        "request",
        "retry_at",
        "upstream",
    )

    def __init__(
        self,
        upstream: PeerId | None,
        downstream: PeerId,
        deadline: float,
        location: float = 0.0,
        peer_locations: tuple[float, ...] = (),
        nonce: int = 0,
        request: SwapRequest | None = None,
        beta: float = 1.0,
    ) -> None:
        self.beta = beta
        self.request = request
        self.upstream = upstream
        self.downstream = downstream
        self.deadline = deadline
        self.location = location
        self.peer_locations = peer_locations
        self.nonce = nonce
        self.phase = WALK
        self.retry_at = deadline


class Lock:
    """This node is the endpoint of swap ``uid`` and waits for its SwapCommit."""

    __slots__ = ("deadline", "location", "uid", "upstream")

    def __init__(self, uid: int, upstream: PeerId, location: float, deadline: float) -> None:
        self.uid = uid
        self.upstream = upstream
        self.location = location
        self.deadline = deadline


def log_product(x: float, others: tuple[float, ...], skip: float) -> float:
    """Sum of log distances from ``x`` to ``others``, leaving out one ``skip``."""
    total = 0.0
    skipped = False
    for o in others:
        if not skipped and o == skip:
            skipped = True
            continue
        total += math.log(max(circular_distance(x, o), _MIN_DISTANCE))
    return total


def should_swap(
    a: float,
    a_peers: tuple[float, ...],
    b: float,
    b_peers: tuple[float, ...],
    coin: float,
    beta: float = 1.0,
) -> bool:
    """Sandberg's Metropolis–Hastings rule (see the module comment).

    ``beta`` raises the acceptance ratio of a worse swap to that power; 1 is
    Sandberg's rule, below 1 is a hotter (annealing) rule (``Config.anneal_walks``)."""
    before = log_product(a, a_peers, b) + log_product(b, b_peers, a)
    after = log_product(b, a_peers, b) + log_product(a, b_peers, a)
    if after <= before:
        return True
    return coin < math.exp(beta * (before - after))


def coin_of(nonce_a: int, nonce_b: int) -> float:
    return (nonce_a ^ nonce_b) / _TWO_64


def peer_sample(node: Node) -> tuple[float, ...]:
    locs = node.peers.locations()
    if len(locs) <= MAX_SWAP_PEERS:
        return tuple(locs)
    return tuple(sorted(node.rng.sample(locs, MAX_SWAP_PEERS)))


def random_peer(node: Node, exclude: PeerId | None) -> PeerId | None:
    ids = node.peers.ids()
    if not ids or (len(ids) == 1 and ids[0] == exclude):
        return None
    while True:
        pick = ids[node.rng.randrange(len(ids))]
        if pick != exclude:
            return pick


def busy(node: Node) -> bool:
    """Is this node one end of a swap that is not finished?"""
    return node.own_swap is not None or node.swap_lock is not None


def hold_time(node: Node) -> float:
    """How long relays and the endpoint keep a swap after the reply (see config)."""
    cfg = node.config
    return cfg.swap_timeout + 2.0 * cfg.swap_commit_timeout


def start(node: Node, now: float) -> list[Action]:
    """Begin a swap walk from this node (call every ``SWAP_INTERVAL`` on darknet)."""
    if busy(node):
        return []
    first = random_peer(node, None)
    if first is None:
        return []
    uid = node.new_uid()
    nonce = node.new_uid()
    locs = peer_sample(node)
    deadline = now + node.config.swap_timeout
    beta = node.swap_beta()
    node.swap_walks += 1
    node.swaps[uid] = Swap(None, first, deadline, node.location, locs, nonce, beta=beta)
    node.own_swap = uid
    msg = SwapRequest(
        uid=uid,
        htl=node.config.swap_htl,
        location=node.location,
        peer_locations=locs,
        nonce=nonce,
        beta=beta,
    )
    return [Send(peer=first, message=msg), SetTimer(at=deadline, token=uid)]


def known(node: Node, uid: int) -> bool:
    lock = node.swap_lock
    return (
        uid in node.swaps
        or uid in node.pending
        or uid in node.swaps_committed
        or (lock is not None and lock.uid == uid)
    )


def on_swap_request(node: Node, peer: PeerId, msg: SwapRequest, now: float) -> list[Action]:
    uid = msg.uid
    if known(node, uid):
        return [Send(peer=peer, message=SwapRejected(uid=uid))]
    nxt = random_peer(node, peer) if msg.htl > 1 else None
    if nxt is None:
        if busy(node):
            return [Send(peer=peer, message=SwapRejected(uid=uid))]
        return endpoint(node, peer, msg, now)
    deadline = now + node.config.swap_timeout * msg.htl / node.config.swap_htl
    node.swaps[uid] = Swap(peer, nxt, deadline, request=msg)
    fwd = SwapRequest(
        uid=uid,
        htl=msg.htl - 1,
        location=msg.location,
        peer_locations=msg.peer_locations,
        nonce=msg.nonce,
        beta=msg.beta,
    )
    return [Send(peer=nxt, message=fwd), SetTimer(at=deadline, token=uid)]


def endpoint(node: Node, peer: PeerId, msg: SwapRequest, now: float) -> list[Action]:
    """Answer the walk as its last node; lock if the answer is to swap."""
    nonce = node.new_uid()
    mine = node.location
    locs = peer_sample(node)
    beta = node.swap_beta()
    reply = SwapReply(uid=msg.uid, location=mine, peer_locations=locs, nonce=nonce, beta=beta)
    actions: list[Action] = [Send(peer=peer, message=reply)]
    coin = coin_of(msg.nonce, nonce)
    # The colder end's rule: an ordered node is never talked into a hot swap.
    if should_swap(msg.location, msg.peer_locations, mine, locs, coin, max(msg.beta, beta)):
        deadline = now + hold_time(node)
        node.swap_lock = Lock(msg.uid, peer, msg.location, deadline)
        actions.append(SetTimer(at=deadline, token=msg.uid))
    return actions


def on_swap_reply(node: Node, peer: PeerId, msg: SwapReply, now: float) -> list[Action]:
    sw = node.swaps.get(msg.uid)
    if sw is None or sw.downstream != peer or sw.phase != WALK:
        return []
    sw.phase = COMMIT
    if sw.upstream is not None:
        sw.deadline = now + hold_time(node)
        return [Send(peer=sw.upstream, message=msg), SetTimer(at=sw.deadline, token=msg.uid)]
    a, b = sw.location, msg.location
    coin = coin_of(sw.nonce, msg.nonce)
    beta = max(sw.beta, msg.beta)  # the same rule the endpoint applied
    if not should_swap(a, sw.peer_locations, b, msg.peer_locations, coin, beta):
        del node.swaps[msg.uid]
        node.own_swap = None
        return []
    cfg = node.config
    sw.deadline = now + cfg.swap_commit_timeout
    sw.retry_at = now + cfg.swap_retry_interval
    node.swaps_done += 1
    actions = node.move_to(b)
    actions.append(Send(peer=peer, message=SwapCommit(uid=msg.uid)))
    actions.append(SetTimer(at=min(sw.retry_at, sw.deadline), token=msg.uid))
    return actions


def on_swap_commit(node: Node, peer: PeerId, msg: SwapCommit, now: float) -> list[Action]:
    uid = msg.uid
    sw = node.swaps.get(uid)
    if sw is not None:
        if sw.phase == COMMIT and sw.upstream == peer:
            return [Send(peer=sw.downstream, message=msg)]
        return []
    lock = node.swap_lock
    if lock is not None and lock.uid == uid and lock.upstream == peer:
        node.swap_lock = None
        committed = node.swaps_committed
        committed[uid] = peer
        if len(committed) > COMMITTED_KEPT:
            del committed[next(iter(committed))]
        actions = node.move_to(lock.location)
        actions.append(Send(peer=peer, message=SwapComplete(uid=uid)))
        return actions
    if node.swaps_committed.get(uid) == peer:
        return [Send(peer=peer, message=SwapComplete(uid=uid))]
    return []


def on_swap_complete(node: Node, peer: PeerId, msg: SwapComplete, now: float) -> list[Action]:
    sw = node.swaps.get(msg.uid)
    if sw is None or sw.downstream != peer or sw.phase != COMMIT:
        return []
    del node.swaps[msg.uid]
    if sw.upstream is not None:
        return [Send(peer=sw.upstream, message=msg)]
    node.own_swap = None
    return []


def on_swap_rejected(node: Node, peer: PeerId, msg: SwapRejected, now: float) -> list[Action]:
    sw = node.swaps.get(msg.uid)
    if sw is None or sw.downstream != peer or sw.phase != WALK:
        return []
    del node.swaps[msg.uid]
    if sw.upstream is not None:
        if sw.request is not None and not busy(node):
            # The walk ran into a loop (or a busy node) past us: end it here instead.
            return endpoint(node, sw.upstream, sw.request, now)
        return [Send(peer=sw.upstream, message=msg)]
    node.own_swap = None
    return []


def on_timer(node: Node, uid: int, now: float) -> list[Action]:
    """A swap timer came due (stale ones are no-ops)."""
    sw = node.swaps.get(uid)
    if sw is not None:
        if sw.phase == WALK:
            return abandon(node, uid, sw, now)
        if sw.upstream is None and now < sw.deadline:
            if now < sw.retry_at:
                return []
            sw.retry_at = now + node.config.swap_retry_interval
            return [
                Send(peer=sw.downstream, message=SwapCommit(uid=uid)),
                SetTimer(at=min(sw.retry_at, sw.deadline), token=uid),
            ]
        if now >= sw.deadline:
            del node.swaps[uid]
            if sw.upstream is None:
                node.own_swap = None  # moved already; the endpoint never confirmed
        return []
    lock = node.swap_lock
    if lock is not None and lock.uid == uid and now >= lock.deadline:
        node.swap_lock = None  # no SwapCommit came: the initiator did not move
    return []


def link_lost(node: Node, peer: PeerId, now: float) -> list[Action]:
    """``peer``'s link went down: walks waiting on it end (committed ones wait on)."""
    actions: list[Action] = []
    for uid, sw in [(u, s) for u, s in node.swaps.items() if s.downstream == peer]:
        if sw.phase == WALK:
            actions += abandon(node, uid, sw, now, force=True)
    return actions


def abandon(node: Node, uid: int, sw: Swap, now: float, *, force: bool = False) -> list[Action]:
    """A walk's timer fired (or its downstream left) before the reply: give up on it."""
    if not force and now < sw.deadline:
        return []
    del node.swaps[uid]
    if sw.upstream is not None:
        return [Send(peer=sw.upstream, message=SwapRejected(uid=uid))]
    node.own_swap = None
    return []
