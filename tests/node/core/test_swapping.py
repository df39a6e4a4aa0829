"""Location swapping: the Metropolis–Hastings rule and the swap walk between endpoints."""

from __future__ import annotations

import random

import pytest

from node.core import Config, LocationChanged, Send
from node.core.errors import RemoteProtocolError
from node.core.messages import LocationUpdate, SwapReply, SwapRequest
from node.core.node import Node
from node.core.swapping import coin_of, should_swap
from tests.node.core.helpers import MiniNet, pid


def test_swap_when_it_shortens_links() -> None:
    # A at 0.1 with neighbours near 0.6, B at 0.6 with neighbours near 0.1: swap.
    assert should_swap(0.1, (0.59, 0.61), 0.6, (0.09, 0.11), coin=0.999)
    # Already well placed: only a tiny coin makes it swap.
    assert not should_swap(0.1, (0.09, 0.11), 0.6, (0.59, 0.61), coin=0.5)
    assert should_swap(0.1, (0.09, 0.11), 0.6, (0.59, 0.61), coin=1e-9)


def test_beta_below_one_is_a_hotter_rule() -> None:
    # ratio = (0.01^4) / (0.5^4) = 1.6e-7: Sandberg's rule refuses a 0.01 coin ...
    bad = (0.1, (0.09, 0.11), 0.6, (0.59, 0.61))
    assert not should_swap(*bad, coin=0.01)
    assert not should_swap(*bad, coin=0.01, beta=1.0)
    # ... ratio^0.2 = 0.044 takes it; beta 0 takes every swap.
    assert should_swap(*bad, coin=0.01, beta=0.2)
    assert should_swap(*bad, coin=0.999, beta=0.0)


def test_the_link_between_the_two_endpoints_is_ignored() -> None:
    # A and B are neighbours of each other only: swapping changes nothing.
    assert should_swap(0.1, (0.6,), 0.6, (0.1,), coin=0.999)


def test_both_ends_flip_the_same_coin() -> None:
    assert coin_of(5, 9) == coin_of(9, 5)
    assert 0.0 <= coin_of(2**64 - 1, 0) < 1.0 + 1e-12


def _ring(n: int, locs: list[float]) -> MiniNet:
    net = MiniNet(seed=1)
    for i in range(n):
        net.add(i, locs[i])
    for i in range(n):
        net.link(i, (i + 1) % n)
    return net


def test_a_swap_walk_ends_consistently_and_peers_learn_new_locations() -> None:
    net = _ring(6, [0.0, 0.5, 0.2, 0.7, 0.4, 0.9])
    for _round in range(30):
        for i in range(6):
            node = net.nodes[pid(i)]
            net.apply(node.ref, node.start_swap(net.now))
            net.run()
    locs = sorted(node.location for node in net.nodes.values())
    assert locs == [0.0, 0.2, 0.4, 0.5, 0.7, 0.9]  # swaps permute, never invent
    for node in net.nodes.values():
        for peer_id, peer in node.peers.by_id.items():
            assert peer.location == net.nodes[peer_id].location
        assert node.pending == {} and node.swaps == {} and node.own_swap is None
    assert net.sent(SwapRequest) and net.sent(SwapReply)
    changes = [r for r in net.log if isinstance(r.action, LocationChanged)]
    assert len(changes) == sum(1 for r in net.log if isinstance(r.action, LocationChanged))
    assert net.sent(LocationUpdate) or not changes


def test_a_node_cools_from_beta0_to_beta1_then_uses_sandbergs_rule() -> None:
    node = Node(
        location=0.5,
        ref=b"me",
        rng=random.Random(1),
        config=Config(anneal_walks=10, anneal_beta0=0.2, anneal_beta1=0.6),
        opennet=False,
    )
    assert node.swap_beta() == pytest.approx(0.2)
    node.peer_connected(pid(1), b"r1", 0.1, 0.0)
    sent = [a.message for a in node.start_swap(0.0) if isinstance(a, Send)]
    assert [type(m) for m in sent] == [SwapRequest]
    assert sent[0].beta == pytest.approx(0.2)  # type: ignore[union-attr]
    assert node.swap_walks == 1
    node.swap_walks = 5
    assert node.swap_beta() == pytest.approx(0.4)
    node.swap_walks = 9
    assert node.swap_beta() == pytest.approx(0.56)  # the last annealed walk, nearly 0.6
    node.swap_walks = 10
    assert node.swap_beta() == 1.0  # then Sandberg's rule
    cold = Node(location=0.5, ref=b"c", rng=random.Random(1), config=Config(anneal_walks=0))
    assert cold.swap_beta() == 1.0


def test_the_endpoint_answers_with_its_beta_and_decides_by_the_colder_one() -> None:
    hot_differs = 0
    for seed in range(300):
        rng = random.Random(seed)
        endpoint = Node(
            location=rng.random(),
            ref=b"b",
            rng=random.Random(seed),
            config=Config(anneal_walks=0),  # cold: beta 1
            opennet=False,
        )
        for i in range(3):
            endpoint.peer_connected(pid(i), b"r%d" % i, rng.random(), 0.0)
        a_loc = rng.random()
        a_peers = tuple(rng.random() for _ in range(3))
        request = SwapRequest(
            uid=seed + 1,
            htl=1,
            location=a_loc,
            peer_locations=a_peers,
            nonce=rng.getrandbits(64),
            beta=0.1,
        )
        actions = endpoint.receive(pid(0), request, 0.0)
        reply = next(a.message for a in actions if isinstance(a, Send))
        assert isinstance(reply, SwapReply) and reply.beta == 1.0
        coin = coin_of(request.nonce, reply.nonce)
        b_loc, b_peers = reply.location, reply.peer_locations
        cold = should_swap(a_loc, a_peers, b_loc, b_peers, coin, 1.0)
        assert (endpoint.swap_lock is not None) == cold
        hot_differs += should_swap(a_loc, a_peers, b_loc, b_peers, coin, 0.1) != cold
    assert hot_differs > 0  # the initiator's hot beta would have changed some answers


@pytest.mark.parametrize("beta", [0.0, 0.05, 1.5, 1])
def test_a_swap_message_with_a_beta_out_of_range_is_refused(beta: object) -> None:
    with pytest.raises(RemoteProtocolError):
        SwapReply(uid=1, location=0.5, peer_locations=(), nonce=2, beta=beta)  # type: ignore[arg-type]
