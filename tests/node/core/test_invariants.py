"""Hypothesis state machine over small random networks: routing invariants hold.

Invariants, checked on every message a node sends:

* HTL never increases: a forwarded request carries no more HTL than it arrived with.
* No node forwards a request to the peer it came from.
* Every request and insert ends with exactly one result at its origin.
* No request loops forever: the network always goes quiet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from crypto.blocks import KeyKind
from node.core import Config, InsertDone, RequestDone, Send
from node.core.messages import DataRequest, Insert
from tests.node.core.helpers import MiniNet, block_at, key_at, pid

CONFIG = Config(max_htl=8, cache_max_htl=7, peer_in_flight_limit=3)


@dataclass
class CheckedNet(MiniNet):
    """A MiniNet that checks the per-hop invariants as it goes."""

    arrived: dict[tuple[bytes, int], tuple[bytes, int]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def step(self) -> bool:
        if self.queue:
            dst, src, msg = self.queue[0]
            node = self.nodes.get(dst)
            if (
                isinstance(msg, DataRequest | Insert)
                and node is not None
                and msg.uid not in node.pending
                and msg.uid not in node.recent
            ):  # a first arrival, not one rejected as a loop
                self.arrived.setdefault((dst, msg.uid), (src, msg.htl))
        return super().step()

    def apply(self, who: bytes, actions: list) -> None:  # type: ignore[type-arg]
        for act in actions:
            if isinstance(act, Send) and isinstance(act.message, DataRequest | Insert):
                came = self.arrived.get((who, act.message.uid))
                if came is not None:
                    if act.peer == came[0]:
                        self.violations.append(f"{who!r} sent {act.message.uid} back to its source")
                    if act.message.htl > came[1]:
                        self.violations.append(
                            f"HTL rose at {who!r}: {came[1]} -> {act.message.htl}"
                        )
        super().apply(who, actions)


class Routing(RuleBasedStateMachine):
    net: CheckedNet

    @initialize(
        n=st.integers(3, 9),
        extra=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8)), max_size=12),
        locs=st.lists(st.floats(0.0, 0.999), min_size=9, max_size=9),
        seed=st.integers(0, 1000),
    )
    def build(self, n: int, extra: list[tuple[int, int]], locs: list[float], seed: int) -> None:
        self.net = CheckedNet(seed=seed, config=CONFIG)
        self.n = n
        for i in range(n):
            self.net.add(i, locs[i])
        for i in range(n - 1):
            self.net.link(i, i + 1)
        for a, b in extra:
            a, b = a % n, b % n
            if a != b and pid(b) not in self.net.nodes[pid(a)].peers:
                self.net.link(a, b)
        self.started_requests: list[tuple[int, bytes]] = []
        self.started_inserts: list[tuple[int, bytes]] = []
        self.next_id = 0

    @rule(origin=st.integers(0, 8), loc=st.floats(0.0, 0.999), holder=st.integers(0, 8))
    def request(self, origin: int, loc: float, holder: int) -> None:
        block = block_at(loc)
        self.net.put(holder % self.n, block)
        self.next_id += 1
        node = self.net.nodes[pid(origin % self.n)]
        self.started_requests.append((self.next_id, node.ref))
        self.net.apply(
            node.ref, node.start_request(KeyKind.CHK, block.routing_key, self.next_id, self.net.now)
        )

    @rule(origin=st.integers(0, 8), loc=st.floats(0.0, 0.999))
    def missing_request(self, origin: int, loc: float) -> None:
        self.next_id += 1
        node = self.net.nodes[pid(origin % self.n)]
        self.started_requests.append((self.next_id, node.ref))
        self.net.apply(
            node.ref, node.start_request(KeyKind.CHK, key_at(loc, 7), self.next_id, self.net.now)
        )

    @rule(origin=st.integers(0, 8), loc=st.floats(0.0, 0.999))
    def insert(self, origin: int, loc: float) -> None:
        self.next_id += 1
        node = self.net.nodes[pid(origin % self.n)]
        self.started_inserts.append((self.next_id, node.ref))
        self.net.apply(node.ref, node.start_insert(block_at(loc, b"i"), self.next_id, self.net.now))

    @rule(victim=st.integers(0, 8))
    def node_goes_silent(self, victim: int) -> None:
        self.net.dead.add(pid(victim % self.n))

    @rule(a=st.integers(0, 8), b=st.integers(0, 8))
    def link_drops(self, a: int, b: int) -> None:
        a, b = pid(a % self.n), pid(b % self.n)
        if a != b and b in self.net.nodes[a].peers:
            self.net.apply(a, self.net.nodes[a].peer_lost(b, self.net.now))
            self.net.apply(b, self.net.nodes[b].peer_lost(a, self.net.now))

    @rule(steps=st.integers(1, 30))
    def deliver_some(self, steps: int) -> None:
        for _ in range(steps):
            if not self.net.step():
                break

    @precondition(lambda self: hasattr(self, "net"))
    @invariant()
    def hop_invariants_hold(self) -> None:
        assert self.net.violations == []

    def teardown(self) -> None:
        if not hasattr(self, "net"):
            return
        self.net.run(limit=200_000)  # raises if the network never goes quiet
        # A silent node's own requests end with it; every other one ends exactly once.
        dead = self.net.dead
        for kind, started in (
            (RequestDone, self.started_requests),
            (InsertDone, self.started_inserts),
        ):
            ends = [r.action.client_id for r in self.net.log if isinstance(r.action, kind)]  # type: ignore[union-attr]
            assert len(ends) == len(set(ends)), "a request ended twice"
            live = {cid for cid, origin in started if origin not in dead}
            assert live <= set(ends)
        assert self.net.violations == []
        for who, node in self.net.nodes.items():
            if who not in self.net.dead:
                assert node.pending == {}, "a request is stuck"
            for peer in node.peers.by_id.values():
                assert peer.in_flight_out >= 0 and peer.in_flight_in >= 0


Routing.TestCase.settings = settings(max_examples=40, stateful_step_count=20, deadline=None)
TestRouting = Routing.TestCase
