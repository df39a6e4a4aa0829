"""Friend-of-a-friend routing (darknet): peers tell their peers' locations, routing uses them."""

from __future__ import annotations

import random

from crypto.blocks import KeyKind
from node.core import Config, RequestDone, Send, SetTimer
from node.core.messages import DataRequest, LocationUpdate
from node.core.node import FOAF_TOKEN, Node
from node.core.peers import Peer, PeerTable
from tests.node.core.helpers import MiniNet, block_at, fix_htl_links, pid


def _peer(i: int, location: float, foaf: list[float] | None = None) -> Peer:
    peer = Peer(pid(i), pid(i), location, 0.0, dec_at_max=True, dec_at_one=True)
    peer.foaf = sorted(foaf or [])
    return peer


def test_closest_foaf_ranks_a_peer_by_its_nearest_neighbour_then_by_itself() -> None:
    table = PeerTable()
    table.add(_peer(1, 0.40))  # nearest itself
    table.add(_peer(2, 0.10, [0.49, 0.9]))  # far, but a friend of it sits at 0.49
    table.add(_peer(3, 0.70, [0.49]))  # as good through 0.49, and nearer itself than 2
    assert table.closest(0.5, (), 0.0, 10).id == pid(1)  # type: ignore[union-attr]
    assert table.closest_foaf(0.5, (), 0.0, 10).id == pid(3)  # type: ignore[union-attr]
    assert table.closest_foaf(0.5, {pid(3)}, 0.0, 10).id == pid(2)  # type: ignore[union-attr]
    # Busy and backed-off peers are skipped; a backed-off one is the last resort.
    table.get(pid(3)).in_flight_out = 10  # type: ignore[union-attr]
    table.get(pid(2)).backoff_until = 5.0  # type: ignore[union-attr]
    assert table.closest_foaf(0.5, (), 0.0, 10).id == pid(1)  # type: ignore[union-attr]
    assert table.closest_foaf(0.5, {pid(1)}, 0.0, 10).id == pid(2)  # type: ignore[union-attr]
    assert table.closest_foaf(0.5, {pid(1), pid(2)}, 0.0, 10) is None


def test_set_foaf_drops_our_own_location_and_sorts() -> None:
    table = PeerTable()
    table.add(_peer(1, 0.2))
    table.set_foaf(pid(1), (0.9, 0.3, 0.5), mine=0.3)
    assert table.get(pid(1)).foaf == [0.5, 0.9]  # type: ignore[union-attr]
    table.set_foaf(pid(9), (0.1,), mine=0.3)  # an unknown peer: ignored


def _darknet_node(config: Config | None = None) -> Node:
    return Node(location=0.5, ref=b"me", rng=random.Random(1), config=config, opennet=False)


def test_a_darknet_node_tells_its_peers_once_per_delay_whatever_changes() -> None:
    node = _darknet_node()
    delay = node.config.foaf_delay
    first = node.peer_connected(pid(1), b"r1", 0.1, 0.0)
    assert first == [SetTimer(at=delay, token=FOAF_TOKEN)]
    assert node.peer_connected(pid(2), b"r2", 0.8, 1.0) == []  # the timer is already set
    assert node.receive(pid(1), LocationUpdate(location=0.2), 2.0) == []  # moved: noted
    sent = node.timer(FOAF_TOKEN, delay)
    # Each peer hears our location and our other peers' locations (not its own).
    assert sent == [
        Send(peer=pid(1), message=LocationUpdate(location=0.5, peer_locations=(0.8,))),
        Send(peer=pid(2), message=LocationUpdate(location=0.5, peer_locations=(0.2,))),
    ]
    assert node.timer(FOAF_TOKEN, delay + 1) == []  # nothing changed since
    # A peer's neighbour list alone is not a change of ours: no cascade.
    assert node.receive(pid(1), LocationUpdate(location=0.2, peer_locations=(0.3,)), 40.0) == []
    assert node.peers.get(pid(1)).foaf == [0.3]  # type: ignore[union-attr]
    # A peer leaving is.
    assert node.peer_lost(pid(2), 41.0) == [SetTimer(at=41.0 + delay, token=FOAF_TOKEN)]


def test_a_swap_tells_peers_at_once_with_the_neighbours() -> None:
    node = _darknet_node()
    node.peer_connected(pid(1), b"r1", 0.1, 0.0)
    node.peer_connected(pid(2), b"r2", 0.8, 0.0)
    actions = node.move_to(0.6)
    updates = [a for a in actions if isinstance(a, Send)]
    assert updates == [
        Send(peer=pid(1), message=LocationUpdate(location=0.6, peer_locations=(0.8,))),
        Send(peer=pid(2), message=LocationUpdate(location=0.6, peer_locations=(0.1,))),
    ]
    assert node.timer(FOAF_TOKEN, 30.0) == []  # the swap's updates said it all


def test_opennet_and_foaf_off_send_nothing_extra() -> None:
    for node in (
        Node(location=0.5, ref=b"me", rng=random.Random(1), opennet=True),
        _darknet_node(Config(foaf_routing=False)),
    ):
        assert node.peer_connected(pid(1), b"r1", 0.1, 0.0) == []
        assert node.peer_lost(pid(1), 1.0) == []
        node.peer_connected(pid(2), b"r2", 0.2, 2.0)
        sent = [a for a in node.move_to(0.3) if isinstance(a, Send)]
        assert sent == [Send(peer=pid(2), message=LocationUpdate(location=0.3))]


def test_a_request_goes_to_the_friend_whose_friend_is_nearest() -> None:
    """0 knows 1 (at 0.45, nearest itself) and 2 (at 0.1, whose friend 3 sits at 0.9).

    Plain greedy routing would try 1 first, a dead end; with FOAF 0 sends to 2.
    (The first hop at max HTL is random by default: turned off here.)"""
    net = MiniNet(config=Config(random_at_max=False))
    for i, loc in enumerate([0.0, 0.45, 0.1, 0.9]):
        net.add(i, loc)
    for a, b in [(0, 1), (0, 2), (2, 3)]:
        net.link(a, b)
    fix_htl_links(net)
    net.run()  # the FOAF updates flow
    block = block_at(0.88)
    net.put(3, block)
    net.log.clear()
    net.apply(pid(0), net.nodes[pid(0)].start_request(KeyKind.CHK, block.routing_key, 1, net.now))
    net.run()
    first = next((a, b) for a, b, _ in net.sent(DataRequest))
    assert first == (pid(0), pid(2))
    assert net.done(RequestDone)[0].outcome.name == "FOUND"  # type: ignore[union-attr]
