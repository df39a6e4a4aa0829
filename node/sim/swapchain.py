"""The swap rule alone: Sandberg's Markov chain on a darknet graph, without messages.

Theory of operation
-------------------
The simulator runs location swapping through the real core: every walk is ten
``SwapRequest`` hops, a reply, a commit and location updates, about 24
messages, so a 10,000-node network manages one swap walk per node in a few
seconds of wall clock. This module runs the *same decision*
(:func:`node.core.swapping.should_swap`) on the same friend graph
(:func:`node.sim.topology.darknet_graph`) as a bare Markov chain: pick a node,
walk ``hops`` random hops (never straight back, as the core's relays do), ask
the rule, exchange the two locations. It is 20-40 times faster, so it can show
where the rule goes in thousands of walks per node, which the message-level
simulator cannot reach. It is an analysis tool: figures for the issue's targets
come from :mod:`node.sim.experiment`, which drives the real core.

``beta`` below 1 accepts a worse swap with probability ``ratio ** beta``
instead of ``ratio`` (simulated annealing). Here one ``beta`` holds for the
whole network in a round (``schedule``); in the core each node cools by its own
count of walks (``Config.anneal_walks``) and a swap uses the colder end's
``beta``, which comes to the same when every node starts one walk per round.

``greedy_reach`` is a routing-free figure of how well ordered the locations
are: the share of greedy walks (always to the neighbour nearest the target,
stopping when no neighbour is nearer) that end at the node nearest the target.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from node.core.peers import circular_distance
from node.core.swapping import log_product
from node.sim.experiment import Params, build, measure, param_fields
from node.sim.topology import darknet_graph


class Chain:
    """Locations on a fixed friend graph, moved by the swap rule."""

    def __init__(self, n: int, *, seed: int, shuffle: bool = True) -> None:
        # The same draws as topology.build_darknet with graph_seed = seed ^ 0x5EED.
        grng = random.Random(seed ^ 0x5EED)
        self.sorted_locations = sorted(grng.random() for _ in range(n))
        self.adj = [sorted(s) for s in darknet_graph(n, grng)]
        self.rng = random.Random(seed)
        self.loc = list(self.sorted_locations)
        if shuffle:
            self.rng.shuffle(self.loc)
        self.walks = 0
        self.swaps = 0

    def walk_end(self, a: int, hops: int) -> int:
        rng, adj = self.rng, self.adj
        prev, cur = -1, a
        for _ in range(hops):
            ns = adj[cur]
            if len(ns) == 1 and ns[0] == prev:
                break
            nxt = ns[rng.randrange(len(ns))]
            while nxt == prev:
                nxt = ns[rng.randrange(len(ns))]
            prev, cur = cur, nxt
        return cur

    def step(self, walks: int, *, hops: int = 10, beta: float = 1.0) -> None:
        """``walks`` swap attempts from uniformly chosen nodes."""
        rng, adj, loc = self.rng, self.adj, self.loc
        n = len(loc)
        for _ in range(walks):
            a = rng.randrange(n)
            b = self.walk_end(a, hops)
            self.walks += 1
            if b == a:
                continue
            la, lb = loc[a], loc[b]
            na = tuple(loc[x] for x in adj[a])
            nb = tuple(loc[x] for x in adj[b])
            before = log_product(la, na, lb) + log_product(lb, nb, la)
            after = log_product(lb, na, lb) + log_product(la, nb, la)
            # should_swap's arithmetic (tested equal), with the coin drawn only
            # when needed and the ratio raised to beta.
            if after <= before or rng.random() < math.exp(beta * (before - after)):
                loc[a], loc[b] = lb, la
                self.swaps += 1

    def rounds(
        self, count: int, *, hops: int = 10, schedule: Callable[[int], float] | None = None
    ) -> None:
        """``count`` rounds of one walk per node; ``schedule(round) -> beta``."""
        n = len(self.loc)
        for r in range(count):
            self.step(n, hops=hops, beta=schedule(r) if schedule else 1.0)

    def link_length(self) -> float:
        loc = self.loc
        total = count = 0.0
        for i, ns in enumerate(self.adj):
            for j in ns:
                total += circular_distance(loc[i], loc[j])
                count += 1
        return total / count

    def greedy_reach(self, trials: int = 2000, seed: int = 5) -> float:
        rng = random.Random(seed)
        loc, adj = self.loc, self.adj
        n = len(loc)
        order = sorted(range(n), key=loc.__getitem__)
        ordered = [loc[i] for i in order]
        ok = 0
        for _ in range(trials):
            key = rng.random()
            k = bisect_left(ordered, key)
            best = min(order[k % n], order[k - 1], key=lambda i: circular_distance(loc[i], key))
            cur = rng.randrange(n)
            while True:
                nxt = min(adj[cur], key=lambda j: circular_distance(loc[j], key))
                if circular_distance(loc[nxt], key) >= circular_distance(loc[cur], key):
                    break
                cur = nxt
            ok += cur == best
        return ok / trials


def routed(p: Params, chain: Chain) -> dict[str, Any]:
    """The simulator's darknet workload (real core) on the chain's locations.

    Builds the darknet of ``p`` without swapping, moves every node to its
    location in ``chain`` (same graph: same seed), then measures as usual."""
    net = build(Params(**{**param_fields(p), "swap_rounds": 0}))
    for i, node in enumerate(net.nodes):
        node.location = chain.loc[i]
    for node in net.nodes:
        for pid in list(node.peers.ids()):
            node.peers.relocate(pid, chain.loc[net.index[pid]])
    for node in net.nodes:  # what each friend's last location_update would say (FOAF)
        for pid in node.peers.ids():
            friend = net.nodes[net.index[pid]]
            node.peers.set_foaf(pid, tuple(friend.peers.locations()), node.location)
    result, _ = measure(p, net=net)
    return result
