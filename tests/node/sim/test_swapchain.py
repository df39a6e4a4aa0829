"""The bare swap chain (analysis tool) and darknet checkpoints agree with the simulator."""

from __future__ import annotations

import math
import random
from typing import Any

from node.core.swapping import log_product, should_swap
from node.sim.experiment import Params, build, run, swap_checkpoints
from node.sim.swapchain import Chain, routed

WALL = ("requests_per_second", "wall_seconds")


def _strip(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k not in WALL}


def test_chain_uses_the_simulators_graph_and_locations() -> None:
    p = Params(nodes=120, requests=10, seed=4, mode="darknet", swap_rounds=0)
    net = build(p)
    chain = Chain(120, seed=4)
    for i, node in enumerate(net.nodes):
        assert sorted(net.index[q] for q in node.peers.ids()) == chain.adj[i]
    assert sorted(n.location for n in net.nodes) == chain.sorted_locations


def test_chain_only_exchanges_locations_and_orders_them() -> None:
    chain = Chain(200, seed=1)
    before = chain.link_length()
    chain.rounds(20)
    assert sorted(chain.loc) == chain.sorted_locations
    assert chain.link_length() < 0.8 * before
    assert Chain(200, seed=1, shuffle=False).greedy_reach(200) == 1.0
    again = Chain(200, seed=1)
    again.rounds(20)
    assert again.loc == chain.loc  # deterministic per seed


def test_routed_runs_the_workload_on_the_chains_locations() -> None:
    chain = Chain(150, seed=2, shuffle=False)
    r = routed(Params(nodes=150, requests=300, seed=2, mode="darknet"), chain)
    assert r["success_rate"] >= 0.95


def test_first_checkpoint_is_the_same_run() -> None:
    p = Params(nodes=120, requests=300, seed=3, mode="darknet", swap_rounds=5)
    alone, _ = run(p)
    first, later = swap_checkpoints(p, [5, 10])
    extra = ("swaps_done", "swap_rounds")
    assert _strip(alone) == {k: v for k, v in _strip(first).items() if k not in extra}
    assert later["swaps_done"] >= first["swaps_done"]


def test_chain_decides_as_the_core() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        a, b = rng.random(), rng.random()
        na = (*(rng.random() for _ in range(rng.randrange(1, 8))), b)
        nb = tuple(rng.random() for _ in range(rng.randrange(1, 8)))
        coin = rng.random()
        before = log_product(a, na, b) + log_product(b, nb, a)
        after = log_product(b, na, b) + log_product(a, nb, a)
        chain = after <= before or coin < math.exp(1.0 * (before - after))
        assert chain == should_swap(a, na, b, nb, coin)
