"""Test helpers: nodes wired by fake links, in the manner of h11's paired endpoints.

:class:`MiniNet` delivers messages in FIFO order with no latency, answers
``LookupBlock`` from per-node dicts at once, fires timers only when nothing else
is in flight (advancing the fake clock), and records every action so tests can
compare what was sent with what was received.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from dataclasses import dataclass, field

from crypto.blocks import Block, KeyKind
from node.core import (
    Action,
    Area,
    Config,
    ConnectTo,
    DropPeer,
    LookupBlock,
    Node,
    Send,
    SetTimer,
    StoreBlock,
)
from node.core.messages import Message


def pid(i: int) -> bytes:
    return b"n%d" % i


def key_at(location: float, salt: int = 0) -> bytes:
    """A routing key whose location is ``location``."""
    return int(location * 2**64).to_bytes(8, "big") + salt.to_bytes(24, "big")


def block_at(location: float, data: bytes = b"data", kind: KeyKind = KeyKind.CHK) -> Block:
    return Block(kind, key_at(location), data)


def no_verify(block: Block) -> None:
    pass


@dataclass
class Record:
    at: float
    node: bytes
    action: Action


@dataclass
class MiniNet:
    seed: int = 0
    opennet: bool = False
    config: Config = field(default_factory=Config)
    now: float = 0.0
    nodes: dict[bytes, Node] = field(default_factory=dict)
    stores: dict[bytes, dict[bytes, tuple[Block, Area]]] = field(default_factory=dict)
    queue: deque[tuple[bytes, bytes, Message]] = field(default_factory=deque)
    timers: list[tuple[float, int, bytes, int]] = field(default_factory=list)
    log: list[Record] = field(default_factory=list)
    dead: set[bytes] = field(default_factory=set)
    _seq: int = 0

    def add(self, i: int, location: float) -> Node:
        node = Node(
            location=location,
            ref=pid(i),
            rng=random.Random(self.seed * 1000 + i),
            config=self.config,
            opennet=self.opennet,
            verify=no_verify,
        )
        self.nodes[pid(i)] = node
        self.stores[pid(i)] = {}
        return node

    def link(self, a: int, b: int) -> None:
        na, nb = self.nodes[pid(a)], self.nodes[pid(b)]
        self.apply(pid(a), na.peer_connected(pid(b), nb.ref, nb.location, self.now))
        self.apply(pid(b), nb.peer_connected(pid(a), na.ref, na.location, self.now))

    def put(self, i: int, block: Block, area: Area = Area.STORE) -> None:
        self.stores[pid(i)][block.routing_key] = (block, area)

    def apply(self, who: bytes, actions: list[Action]) -> None:
        for act in actions:
            self.log.append(Record(self.now, who, act))
            if isinstance(act, Send):
                self.queue.append((act.peer, who, act.message))
            elif isinstance(act, SetTimer):
                self._seq += 1
                heapq.heappush(self.timers, (act.at, self._seq, who, act.token))
            elif isinstance(act, LookupBlock):
                hit = self.stores[who].get(act.routing_key)
                block = hit[0] if hit else None
                self.apply(who, self.nodes[who].block_looked_up(act.token, block, self.now))
            elif isinstance(act, StoreBlock):
                self.stores[who][act.block.routing_key] = (act.block, act.area)
            elif isinstance(act, DropPeer):
                other = self.nodes.get(act.peer)
                if other is not None:
                    self.apply(act.peer, other.peer_lost(who, self.now))
            elif isinstance(act, ConnectTo):
                other = self.nodes.get(act.ref)
                if other is not None and act.ref not in self.nodes[who].peers and act.ref != who:
                    node = self.nodes[who]
                    self.apply(
                        who, node.peer_connected(act.ref, other.ref, other.location, self.now)
                    )
                    self.apply(
                        act.ref, other.peer_connected(who, node.ref, node.location, self.now)
                    )

    def step(self) -> bool:
        """Deliver one message, or fire the earliest timer; False when idle."""
        while self.queue:
            dst, src, msg = self.queue.popleft()
            node = self.nodes.get(dst)
            if node is None or dst in self.dead or src not in node.peers:
                continue
            self.apply(dst, node.receive(src, msg, self.now))
            return True
        if self.timers:
            at, _, who, token = heapq.heappop(self.timers)
            self.now = max(self.now, at)
            if who not in self.dead:
                self.apply(who, self.nodes[who].timer(token, self.now))
            return True
        return False

    def run(self, limit: int = 100_000) -> int:
        for steps in range(limit):
            if not self.step():
                return steps
        raise AssertionError("the network did not go quiet: a request loops")

    def sent(self, kind: type | None = None) -> list[tuple[bytes, bytes, Message]]:
        out = []
        for r in self.log:
            if isinstance(r.action, Send) and (kind is None or isinstance(r.action.message, kind)):
                out.append((r.node, r.action.peer, r.action.message))
        return out

    def done(self, kind: type) -> list[Action]:
        return [r.action for r in self.log if isinstance(r.action, kind)]


def line(n: int, *, seed: int = 0, config: Config | None = None, opennet: bool = False) -> MiniNet:
    """Nodes 0..n-1 at locations i/n, each linked to the next."""
    net = MiniNet(seed=seed, config=config or Config(), opennet=opennet)
    for i in range(n):
        net.add(i, i / n)
    for i in range(n - 1):
        net.link(i, i + 1)
    return net


def fix_htl_links(net: MiniNet, *, dec_at_max: bool = True, dec_at_one: bool = True) -> None:
    """Make every link's probabilistic HTL decisions deterministic."""
    for node in net.nodes.values():
        for peer in node.peers.by_id.values():
            peer.dec_at_max = dec_at_max
            peer.dec_at_one = dec_at_one


__all__ = ["KeyKind"]
