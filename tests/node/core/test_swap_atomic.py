"""Swaps exchange locations and nothing else: the multiset of locations is preserved
under concurrent swaps, message delays past every timeout, reordering and lost
messages (fewer than the commit's repeats), and links that drop and come back.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from node.core import Config, LocationChanged, Node, Send, SetTimer
from node.core.actions import Action
from node.core.messages import (
    Message,
    SwapCommit,
    SwapComplete,
    SwapRejected,
    SwapReply,
    SwapRequest,
)
from tests.node.core.helpers import no_verify, pid

SWAP_MESSAGES = (SwapRequest, SwapReply, SwapRejected, SwapCommit, SwapComplete)
# Short timeouts so that per-hop delays of up to a second make walks time out at
# relays (whose share shrinks along the walk) while replies are still on the way.
CONFIG = Config(swap_htl=4, swap_timeout=4.0, swap_commit_timeout=6.0, swap_retry_interval=1.0)


@dataclass
class LossyNet:
    """Nodes on a fake network: each message takes a random delay (so messages
    overtake one another and arrive after timeouts), and chosen swap messages
    are dropped."""

    seed: int
    max_delay: float = 1.0
    drop: set[int] = field(default_factory=set)  # indices of swap messages to lose
    now: float = 0.0
    nodes: dict[bytes, Node] = field(default_factory=dict)
    links: set[frozenset[bytes]] = field(default_factory=set)
    heap: list[tuple[float, int, str, bytes, object, object]] = field(default_factory=list)
    swap_sent: int = 0
    dropped: int = 0
    moves: int = 0
    _seq: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def add(self, i: int, location: float) -> None:
        self.nodes[pid(i)] = Node(
            location=location,
            ref=pid(i),
            rng=random.Random(self.seed * 1000 + i),
            config=CONFIG,
            opennet=False,
            verify=no_verify,
        )

    def link(self, a: bytes, b: bytes) -> None:
        na, nb = self.nodes[a], self.nodes[b]
        self.links.add(frozenset((a, b)))
        self.apply(a, na.peer_connected(b, nb.ref, nb.location, self.now))
        self.apply(b, nb.peer_connected(a, na.ref, na.location, self.now))

    def unlink(self, a: bytes, b: bytes) -> None:
        self.links.discard(frozenset((a, b)))
        self.apply(a, self.nodes[a].peer_lost(b, self.now))
        self.apply(b, self.nodes[b].peer_lost(a, self.now))

    def push(self, at: float, kind: str, who: bytes, a: object, b: object = None) -> None:
        self._seq += 1
        heapq.heappush(self.heap, (at, self._seq, kind, who, a, b))

    def apply(self, who: bytes, actions: list[Action]) -> None:
        for act in actions:
            if isinstance(act, Send):
                if isinstance(act.message, SWAP_MESSAGES):
                    self.swap_sent += 1
                    if self.swap_sent in self.drop:
                        self.dropped += 1
                        continue
                delay = self.rng.uniform(0.0, self.max_delay)
                self.push(self.now + delay, "msg", act.peer, who, act.message)
            elif isinstance(act, SetTimer):
                self.push(act.at, "timer", who, act.token)
            elif isinstance(act, LocationChanged):
                self.moves += 1

    def run(self, until: float | None = None) -> None:
        while self.heap and (until is None or self.heap[0][0] <= until):
            at, _, kind, who, a, b = heapq.heappop(self.heap)
            self.now = max(self.now, at)
            node = self.nodes[who]
            if kind == "timer":
                assert isinstance(a, int)
                self.apply(who, node.timer(a, self.now))
            elif kind == "swap":
                self.apply(who, node.start_swap(self.now))
            elif isinstance(a, bytes) and frozenset((who, a)) in self.links:
                assert isinstance(b, Message.__args__)  # type: ignore[attr-defined]
                self.apply(who, node.receive(a, b, self.now))

    def locations(self) -> Counter[float]:
        return Counter(n.location for n in self.nodes.values())


def _network(seed: int, n: int, extra_links: int) -> LossyNet:
    rng = random.Random(seed)
    net = LossyNet(seed=seed)
    for i in range(n):
        net.add(i, rng.random())
    for i in range(n):  # a ring, so every node has a walk to take
        if frozenset((pid(i), pid((i + 1) % n))) not in net.links:
            net.link(pid(i), pid((i + 1) % n))
    for _ in range(extra_links):
        a, b = rng.sample(range(n), 2)
        if frozenset((pid(a), pid(b))) not in net.links:
            net.link(pid(a), pid(b))
    return net


def _quiet(net: LossyNet) -> None:
    for node in net.nodes.values():
        assert node.swaps == {}
        assert node.own_swap is None and node.swap_lock is None


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(3, 9),
    extra=st.integers(0, 8),
    starts=st.integers(1, 40),
    drop=st.sets(st.integers(1, 150), max_size=4),
    max_delay=st.sampled_from([0.0, 0.3, 1.0, 3.0]),
)
def test_concurrent_swaps_with_delays_and_losses_preserve_locations(
    seed: int, n: int, extra: int, starts: int, drop: set[int], max_delay: float
) -> None:
    net = _network(seed, n, extra)
    net.drop, net.max_delay = drop, max_delay
    before = net.locations()
    rng = random.Random(seed + 1)
    for _ in range(starts):  # swaps started at once and overlapping
        net.push(rng.uniform(0.0, 3.0), "swap", pid(rng.randrange(n)), None)
    net.run()
    assert net.locations() == before
    _quiet(net)


def test_a_busy_node_rejects_being_an_endpoint() -> None:
    net = _network(1, 2, 0)
    a, b = net.nodes[pid(0)], net.nodes[pid(1)]
    net.apply(pid(0), a.start_swap(0.0))
    acts = b.start_swap(0.0)
    req = next(x.message for x in acts if isinstance(x, Send))
    # A, with its own swap in flight, is asked to be B's endpoint: it refuses.
    out = a.receive(pid(1), req, 0.0)
    assert [type(x.message) for x in out if isinstance(x, Send)] == [SwapRejected]


def test_every_lost_commit_but_one_is_repeated() -> None:
    # 4 nodes in a ring; lose the first three SwapCommits of every swap.
    for seed in range(20):
        net = _network(seed, 4, 0)
        before = net.locations()
        lost: Counter[int] = Counter()
        apply = net.apply

        def lossy(who: bytes, actions: list[Action], apply=apply, lost=lost) -> None:
            kept = []
            for act in actions:
                if isinstance(act, Send) and isinstance(act.message, SwapCommit):
                    lost[act.message.uid] += 1
                    if lost[act.message.uid] <= 3:
                        continue
                kept.append(act)
            apply(who, kept)

        net.apply = lossy  # type: ignore[method-assign]
        for i in range(4):
            net.push(0.1 * i, "swap", pid(i), None)
        net.run()
        assert net.locations() == before
        _quiet(net)


def test_a_link_that_drops_during_the_commit_and_comes_back_heals() -> None:
    healed = 0
    for seed in range(30):
        net = _network(seed, 5, 2)
        net.max_delay = 0.2
        before = net.locations()
        net.push(0.0, "swap", pid(0), None)
        # Cut every link of node 0 right after it moved, restore them 2 s later.
        moved_at = None
        while net.heap:
            net.run(until=net.heap[0][0])
            if moved_at is None and net.moves:
                moved_at = net.now
                cut = [tuple(link) for link in net.links if pid(0) in link]
                for x, y in cut:
                    net.unlink(x, y)
                net.run(until=net.now + 2.0)
                for x, y in cut:
                    net.link(x, y)
                healed += 1
        assert net.locations() == before
        _quiet(net)
    assert healed  # some swap committed in the window


def test_peers_learn_new_locations() -> None:
    # FIFO links (TCP): the last LocationUpdate a peer gets is the current location.
    net = _network(3, 6, 3)
    net.max_delay = 0.0
    for k in range(30):
        net.push(k * 0.5, "swap", pid(k % 6), None)
    net.run()
    assert net.moves
    for node in net.nodes.values():
        for peer_id, peer in node.peers.by_id.items():
            assert peer.location == net.nodes[peer_id].location
