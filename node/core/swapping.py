"""Darknet location swapping: Sandberg's Metropolis–Hastings walk over locations.

Theory of operation
-------------------
On a darknet the links are friendships and cannot move, so the locations move
instead. Periodically a node *A* starts a swap: it sends a :class:`SwapRequest`
with its location, its neighbours' locations and a random nonce on a random
walk of ``swap_htl`` hops (each hop picks a random peer other than the one it
came from). The walk's last node *B* answers with a :class:`SwapReply` carrying
its own location, neighbours and nonce, relayed back along the walk.

Both ends then compute the same decision from the same numbers (Sandberg 2006):
with ``D(x, N) = prod(distance(x, n) for n in N)``, swap when
``D(a, Na) D(b, Nb) >= D(b, Na) D(a, Nb)`` (the product of link lengths does
not grow), else with probability ``D(a,Na) D(b,Nb) / (D(b,Na) D(a,Nb))``, the
coin being ``(nonce_a XOR nonce_b) / 2^64`` so both ends flip the same coin.
(A mutual link between A and B is left out: it does not change.) When they
swap, each takes the other's location and tells all its peers with a
:class:`LocationUpdate`. B decides when it replies, A when the reply arrives.

Limitation, documented in specs/routing.md: B learns A's nonce before choosing
its own, so a malicious B could bias the coin; a commit–reveal round would fix it.

Transitions of one swap at one node::

    role       state    event                         action                      next
    ---------  -------  ----------------------------  --------------------------  ----
    initiator  (none)   start_swap, has peers         SwapRequest to random peer  WAIT
    initiator  WAIT     SwapReply from that peer      decide, maybe swap          DONE
    initiator  WAIT     SwapRejected / timer / lost   give up                     DONE
    relay      (none)   SwapRequest, htl > 1          forward to random peer      WAIT
    relay      WAIT     SwapReply                     relay upstream              DONE
    relay      WAIT     SwapRejected, not busy        act as the endpoint         DONE
    relay      WAIT     SwapRejected, busy            relay upstream              DONE
    relay      WAIT     timer / downstream lost       SwapRejected upstream       DONE
    endpoint   (none)   SwapRequest, htl <= 1         SwapReply, decide, swap?    DONE
    any        (none)   SwapRequest, uid known/busy   SwapRejected                DONE
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from node.core.actions import Action, PeerId, Send, SetTimer
from node.core.messages import MAX_SWAP_PEERS, SwapRejected, SwapReply, SwapRequest
from node.core.peers import circular_distance

if TYPE_CHECKING:
    from node.core.node import Node

_TWO_64 = float(2**64)
_MIN_DISTANCE = 1e-12  # two nodes at one point: keep the logarithm finite


class Swap:
    """One swap walk in flight at this node (as initiator or relay)."""

    __slots__ = (
        "deadline",
        "downstream",
        "location",
        "nonce",
        "peer_locations",
        "request",
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
    ) -> None:
        self.request = request
        self.upstream = upstream
        self.downstream = downstream
        self.deadline = deadline
        self.location = location
        self.peer_locations = peer_locations
        self.nonce = nonce


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
    a: float, a_peers: tuple[float, ...], b: float, b_peers: tuple[float, ...], coin: float
) -> bool:
    """Sandberg's Metropolis–Hastings rule (see the module comment)."""
    before = log_product(a, a_peers, b) + log_product(b, b_peers, a)
    after = log_product(b, a_peers, b) + log_product(a, b_peers, a)
    if after <= before:
        return True
    return coin < math.exp(before - after)


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


def start(node: Node, now: float) -> list[Action]:
    """Begin a swap walk from this node (call every ``SWAP_INTERVAL`` on darknet)."""
    if node.own_swap is not None:
        return []
    first = random_peer(node, None)
    if first is None:
        return []
    uid = node.new_uid()
    nonce = node.new_uid()
    locs = peer_sample(node)
    deadline = now + node.config.swap_timeout
    node.swaps[uid] = Swap(None, first, deadline, node.location, locs, nonce)
    node.own_swap = uid
    msg = SwapRequest(
        uid=uid, htl=node.config.swap_htl, location=node.location, peer_locations=locs, nonce=nonce
    )
    return [Send(peer=first, message=msg), SetTimer(at=deadline, token=uid)]


def on_swap_request(node: Node, peer: PeerId, msg: SwapRequest, now: float) -> list[Action]:
    uid = msg.uid
    if uid in node.swaps or uid in node.pending:
        return [Send(peer=peer, message=SwapRejected(uid=uid))]
    nxt = random_peer(node, peer) if msg.htl > 1 else None
    if nxt is None:
        if node.own_swap is not None:
            return [Send(peer=peer, message=SwapRejected(uid=uid))]
        return endpoint(node, peer, msg)
    deadline = now + node.config.swap_timeout * msg.htl / node.config.swap_htl
    node.swaps[uid] = Swap(peer, nxt, deadline, request=msg)
    fwd = SwapRequest(
        uid=uid,
        htl=msg.htl - 1,
        location=msg.location,
        peer_locations=msg.peer_locations,
        nonce=msg.nonce,
    )
    return [Send(peer=nxt, message=fwd), SetTimer(at=deadline, token=uid)]


def endpoint(node: Node, peer: PeerId, msg: SwapRequest) -> list[Action]:
    nonce = node.new_uid()
    mine = node.location
    locs = peer_sample(node)
    actions: list[Action] = [
        Send(
            peer=peer,
            message=SwapReply(uid=msg.uid, location=mine, peer_locations=locs, nonce=nonce),
        )
    ]
    if should_swap(msg.location, msg.peer_locations, mine, locs, coin_of(msg.nonce, nonce)):
        actions += node.move_to(msg.location)
    return actions


def on_swap_reply(node: Node, peer: PeerId, msg: SwapReply, now: float) -> list[Action]:
    sw = node.swaps.get(msg.uid)
    if sw is None or sw.downstream != peer:
        return []
    del node.swaps[msg.uid]
    if sw.upstream is not None:
        return [Send(peer=sw.upstream, message=msg)]
    node.own_swap = None
    a, b = sw.location, msg.location
    if should_swap(a, sw.peer_locations, b, msg.peer_locations, coin_of(sw.nonce, msg.nonce)):
        node.swaps_done += 1
        return node.move_to(b)
    return []


def on_swap_rejected(node: Node, peer: PeerId, msg: SwapRejected, now: float) -> list[Action]:
    sw = node.swaps.get(msg.uid)
    if sw is None or sw.downstream != peer:
        return []
    del node.swaps[msg.uid]
    if sw.upstream is not None:
        if sw.request is not None and node.own_swap is None:
            # The walk ran into a loop (or a busy node) past us: end it here instead.
            return endpoint(node, sw.upstream, sw.request)
        return [Send(peer=sw.upstream, message=msg)]
    node.own_swap = None
    return []


def abandon(node: Node, uid: int, sw: Swap, now: float, *, force: bool = False) -> list[Action]:
    """A swap's timer fired (or its downstream left): give up on it."""
    if not force and now < sw.deadline:
        return []
    del node.swaps[uid]
    if sw.upstream is not None:
        return [Send(peer=sw.upstream, message=SwapRejected(uid=uid))]
    node.own_swap = None
    return []
