"""Location swapping: the Metropolis–Hastings rule and the swap walk between endpoints."""

from __future__ import annotations

from node.core import LocationChanged
from node.core.messages import LocationUpdate, SwapReply, SwapRequest
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
