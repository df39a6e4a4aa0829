"""Network models for the simulator: opennet grown by announcement, darknet friend graphs.

Opennet: nodes join one at a time at random locations. Each newcomer links to a
random earlier node (its "seed node"), then announces through it: the real
``Announce`` message routes toward the newcomer's location and the nodes on its
path offer to peer, exactly as on the live network. Joins are spaced on the
virtual clock so announcements overlap a little, as they would. Warm-up
requests (run by the experiment) then let path folding reshape the graph.

Darknet: a Kleinberg small world. Nodes sit on a ring in index order, each
linked to its ``local`` nearest neighbours on each side plus ``shortcuts``
long links whose ring distance d is drawn with probability ∝ 1/d. With
``ideal`` locations a node's location follows its ring position (sorted random
points, so the set of locations is the same as the shuffled case); otherwise
locations are shuffled and swapping must restore order.
"""

from __future__ import annotations

import math
import random

from node.sim.network import SimNetwork

JOIN_INTERVAL = 2.0
"""Virtual seconds between opennet joins: ~20 joins in flight per second of announcement."""


def grow_opennet(net: SimNetwork, n: int, min_peers: int = 8) -> None:
    """Add ``n`` opennet nodes, each joining by announcement through a seed node."""
    rng = net.rng
    for k in range(n):
        i = net.add_node(rng.random())
        if k == 0:
            continue
        net.connect(i, rng.randrange(k))
        net.call_at(net.now, net.start_announce, i)
        net.run(until=net.now + JOIN_INTERVAL)
    net.run()
    # A node whose announcement found few takers goes back to a seed node and
    # announces again, as a real node's runtime would.
    for _ in range(3):
        net.maintain(min_peers)
        net.run()


def darknet_graph(n: int, rng: random.Random, local: int = 2, shortcuts: int = 4) -> list[set[int]]:
    """Edges of a Kleinberg ring with 1/d shortcuts (adjacency sets)."""
    adj: list[set[int]] = [set() for _ in range(n)]
    for i in range(n):
        for d in range(1, local + 1):
            j = (i + d) % n
            if j != i:
                adj[i].add(j)
                adj[j].add(i)
    half = max(2, n // 2)
    for i in range(n):
        for _ in range(shortcuts):
            d = int(math.exp(rng.random() * math.log(half)))
            j = (i + d * rng.choice((-1, 1))) % n
            if j != i:
                adj[i].add(j)
                adj[j].add(i)
    return adj


def build_darknet(net: SimNetwork, n: int, *, ideal: bool, graph_seed: int) -> None:
    """Create ``n`` darknet nodes on the friend graph drawn from ``graph_seed``.

    The graph and the set of locations depend only on ``graph_seed``, so an
    ideal and a shuffled network built with the same one share both.
    """
    grng = random.Random(graph_seed)
    locations = sorted(grng.random() for _ in range(n))
    adj = darknet_graph(n, grng)
    if not ideal:
        net.rng.shuffle(locations)
    for i in range(n):
        net.add_node(locations[i])
    for i in range(n):
        for j in sorted(adj[i]):
            if i < j:
                net.connect(i, j)
