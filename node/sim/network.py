"""A whole network of routing cores in one process, on a virtual clock.

Theory of operation
-------------------
:class:`SimNetwork` is a driver of :class:`node.core.Node`, like the anyio runtime
but with a heap of timed events instead of sockets and timers. It holds one
``Node`` per simulated node and carries out their actions:

==================  ========================================================
``Send``            push a delivery at ``now + latency(src) + latency(dst)``
``SetTimer``        push a timer event at ``at``
``LookupBlock``     answer at once from the node's :class:`SimStore`
``StoreBlock``      put into the node's :class:`SimStore`
``ConnectTo``       link both nodes at once (``peer_connected`` on each side)
``DropPeer``        unlink; the other side gets ``peer_lost`` at once
``RequestDone`` …   recorded for the experiment
==================  ========================================================

Each node has a latency half-way to the "network core" (5-50 ms, drawn from the
seed), so a link's latency is the sum of its ends' halves: deterministic per
pair without storing per-link state. Events at the same instant are ordered by a
sequence number, so a run is a pure function of the seed. Lookups are answered
synchronously: the core's ``LookupBlock``/``block_looked_up`` round trip costs
one method call here (measured: a few percent of the run time).

Peer ids and node references are the node's index as 4 big-endian bytes.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from crypto.blocks import Block
from node.core import (
    Action,
    AnnounceDone,
    Area,
    Config,
    ConnectTo,
    DropPeer,
    InsertDone,
    LocationChanged,
    LookupBlock,
    Node,
    RequestDone,
    Send,
    SetTimer,
    StoreBlock,
)
from node.core.messages import DataFound, Message

DELIVER, TIMER, CALL = 0, 1, 2


def no_verify(block: Block) -> None:
    """The simulator's blocks are stand-ins: the key check is done by the core."""


class SimStore:
    """A node's datastore: a bounded store and an LRU cache, both plain dicts."""

    __slots__ = ("cache", "cache_size", "store", "store_size")

    def __init__(self, store_size: int, cache_size: int) -> None:
        self.store: dict[bytes, Block] = {}
        self.cache: dict[bytes, Block] = {}
        self.store_size = store_size
        self.cache_size = cache_size

    def get(self, key: bytes) -> Block | None:
        block = self.store.get(key)
        if block is not None:
            return block
        block = self.cache.pop(key, None)
        if block is not None:
            self.cache[key] = block  # most recently used goes last
        return block

    def put(self, block: Block, area: Area) -> None:
        d, size = (
            (self.store, self.store_size) if area is Area.STORE else (self.cache, self.cache_size)
        )
        d.pop(block.routing_key, None)
        d[block.routing_key] = block
        if len(d) > size:
            del d[next(iter(d))]

    def __contains__(self, key: bytes) -> bool:
        return key in self.store or key in self.cache


@dataclass(slots=True)
class Outcomes:
    """What the experiment learns from the network, filled in as actions arrive."""

    requests: dict[int, RequestDone] = field(default_factory=dict)
    inserts: dict[int, InsertDone] = field(default_factory=dict)
    announces: int = 0
    hops: dict[int, int] = field(default_factory=dict)  # uid -> DataFound deliveries
    uid_of: dict[int, int] = field(default_factory=dict)  # client id -> uid
    messages: int = 0


def peer_id(index: int) -> bytes:
    return index.to_bytes(4, "big")


class SimNetwork:
    """Many cores, one heap, one clock. See the module comment."""

    def __init__(
        self,
        *,
        seed: int,
        opennet: bool,
        config: Config | None = None,
        store_size: int = 200,
        cache_size: int = 200,
    ) -> None:
        self.rng = random.Random(seed)
        self.config = config if config is not None else Config()
        self.opennet = opennet
        self.store_size = store_size
        self.cache_size = cache_size
        self.now = 0.0
        self.nodes: list[Node] = []
        self.stores: list[SimStore] = []
        self.alive: list[bool] = []
        self.latency: list[float] = []
        self.ids: list[bytes] = []
        self.index: dict[bytes, int] = {}
        self.out = Outcomes()
        self._heap: list[tuple[float, int, int, int, object, object]] = []
        self._seq = 0
        self.tap: Callable[[float, int, bytes, Message], None] | None = None
        """Observation hook: called as ``tap(now, receiver index, sender id, message)``
        for every message delivered, before the receiver handles it. What an
        adversary's node sees (``bench/resilience/adversary.py``); None costs nothing."""

    # --- building -----------------------------------------------------------

    def add_node(self, location: float) -> int:
        i = len(self.nodes)
        pid = peer_id(i)
        node = Node(
            location=location,
            ref=pid,
            rng=random.Random(self.rng.getrandbits(64)),
            config=self.config,
            opennet=self.opennet,
            verify=no_verify,
        )
        self.nodes.append(node)
        self.stores.append(SimStore(self.store_size, self.cache_size))
        self.alive.append(True)
        self.latency.append(self.rng.uniform(0.005, 0.05))
        self.ids.append(pid)
        self.index[pid] = i
        return i

    def connected(self, i: int, j: int) -> bool:
        return self.ids[j] in self.nodes[i].peers

    def connect(self, i: int, j: int) -> None:
        """Link nodes i and j (both must be alive and not yet linked)."""
        if i == j or not (self.alive[i] and self.alive[j]) or self.connected(i, j):
            return
        a, b = self.nodes[i], self.nodes[j]
        acts_j = b.peer_connected(self.ids[i], a.ref, a.location, self.now)
        acts_i = a.peer_connected(self.ids[j], b.ref, b.location, self.now)
        self.run_actions(j, acts_j)
        self.run_actions(i, acts_i)

    def kill(self, i: int, detect_delay: float = 1.0) -> None:
        """Node i leaves abruptly: its peers notice after ``detect_delay``."""
        self.alive[i] = False
        for pid in list(self.nodes[i].peers.ids()):
            j = self.index[pid]
            self.call_at(self.now + detect_delay, self._lost, j, self.ids[i])

    def _lost(self, j: int, pid: bytes) -> None:
        if self.alive[j]:
            self.run_actions(j, self.nodes[j].peer_lost(pid, self.now))

    # --- the event loop -------------------------------------------------------

    def call_at(self, at: float, fn: Callable[..., None], *args: object) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, CALL, 0, fn, args))

    def run(self, until: float | None = None) -> None:
        """Process events in time order until the heap is empty (or ``until``)."""
        heap = self._heap
        pop = heapq.heappop
        nodes = self.nodes
        alive = self.alive
        hops = self.out.hops
        run_actions = self.run_actions
        tap = self.tap
        while heap:
            if until is not None and heap[0][0] > until:
                self.now = until
                return
            at, _, kind, j, a, b = pop(heap)
            self.now = at
            if kind == DELIVER:
                if not alive[j]:
                    continue
                node = nodes[j]
                if a not in node.peers.by_id:  # the link went down in flight
                    continue
                if type(b) is DataFound:
                    uid = b.uid
                    if uid in hops:
                        hops[uid] += 1
                if tap is not None:
                    tap(at, j, a, b)
                run_actions(j, node.receive(a, b, at))
            elif kind == TIMER:
                if alive[j]:
                    run_actions(j, nodes[j].timer(a, at))
            else:
                a(*b)

    def run_actions(self, i: int, actions: list[Action]) -> None:
        heap = self._heap
        push = heapq.heappush
        now = self.now
        for act in actions:
            t = type(act)
            if t is Send:
                j = self.index.get(act.peer)
                if j is None or not self.alive[j]:
                    continue
                self._seq += 1
                self.out.messages += 1
                push(
                    heap,
                    (now + self.latency[i] + self.latency[j], self._seq, DELIVER, j, self.ids[i],
                     act.message),
                )  # fmt: skip
            elif t is SetTimer:
                self._seq += 1
                push(heap, (act.at, self._seq, TIMER, i, act.token, None))
            elif t is LookupBlock:
                block = self.stores[i].get(act.routing_key)
                self.run_actions(i, self.nodes[i].block_looked_up(act.token, block, now))
            elif t is StoreBlock:
                self.stores[i].put(act.block, act.area)
            else:
                self._rare(i, act)

    def _rare(self, i: int, act: Action) -> None:
        out = self.out
        if isinstance(act, RequestDone):
            out.requests[act.client_id] = act
        elif isinstance(act, InsertDone):
            out.inserts[act.client_id] = act
        elif isinstance(act, ConnectTo):
            j = self.index.get(act.ref)
            if j is not None:
                self.connect(i, j)
        elif isinstance(act, DropPeer):
            j = self.index.get(act.peer)
            if j is not None and self.alive[j]:
                self.run_actions(j, self.nodes[j].peer_lost(self.ids[i], self.now))
        elif isinstance(act, AnnounceDone):
            out.announces += 1
        elif isinstance(act, LocationChanged):
            pass  # the sim reads node.location when it needs it

    # --- starting work ----------------------------------------------------------

    def start_request(self, i: int, kind: int, key: bytes, client_id: int) -> None:
        from crypto.blocks import KeyKind

        acts = self.nodes[i].start_request(KeyKind(kind), key, client_id, self.now)
        first = acts[0]
        if isinstance(first, LookupBlock):
            self.out.uid_of[client_id] = first.token
            self.out.hops[first.token] = 0
        self.run_actions(i, acts)

    def start_insert(self, i: int, block: Block, client_id: int) -> None:
        self.run_actions(i, self.nodes[i].start_insert(block, client_id, self.now))

    def start_announce(self, i: int) -> None:
        self.run_actions(i, self.nodes[i].start_announce(0, self.now))

    def start_swap(self, i: int) -> None:
        if self.alive[i]:
            self.run_actions(i, self.nodes[i].start_swap(self.now))

    def maintain(self, min_peers: int) -> None:
        """What a real node's runtime does with its seed nodes: a live opennet node
        with fewer than ``min_peers`` peers reconnects to a random live node and
        announces through it."""
        if not self.opennet:
            return
        n = len(self.nodes)
        for i in range(n):
            if self.alive[i] and len(self.nodes[i].peers) < min_peers:
                j = self.rng.randrange(n)
                if self.alive[j] and j != i:
                    self.connect(i, j)
                if len(self.nodes[i].peers):
                    self.start_announce(i)

    def has_anywhere(self, key: bytes) -> bool:
        """Is the block stored or cached on some live node?"""
        return any(self.alive[i] and key in s for i, s in enumerate(self.stores))

    def messages_in(self) -> list[Message]:  # pragma: no cover - debugging aid
        return [e[5] for e in self._heap if e[2] == DELIVER]
