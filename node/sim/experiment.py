"""One simulation run: build a network, insert keys, request them, measure.

Phases, all on the virtual clock and all driving ``node.core`` through
:class:`~node.sim.network.SimNetwork`:

1. *Build*: opennet grows by announcement; darknet gets a small-world friend
   graph with shuffled locations and runs ``swap_rounds`` rounds in which every
   node starts one swap walk.
2. *Insert*: ``keys`` blocks inserted from random nodes.
3. *Warm-up* (opennet): requests for separate, uniformly popular keys, so path
   folding shapes the topology before anything is measured.
4. *Requests*: ``requests`` requests from random nodes, keys drawn with Zipf
   popularity (exponent 1), issued as a Poisson stream.
5. *Churn* (optional): a fraction of nodes leaves at once; after their peers
   notice, requests for keys still held by some live node.

A result is a plain dict (the CLI's JSON). Everything but the wall-clock keys
(``requests_per_second``, ``wall_seconds``) is a pure function of the arguments.
"""

from __future__ import annotations

import copy
import math
import random
import statistics
import time
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import accumulate
from typing import Any

from crypto.blocks import Block, KeyKind
from node.core import Config, Outcome
from node.sim.network import SimNetwork
from node.sim.topology import build_darknet, grow_opennet

REQUEST_RATE = 100.0
"""Requests issued per virtual second: enough concurrency to exercise load limits
without saturating small test networks."""


MAINTAIN_EVERY = 1000
"""Requests between two sweeps of the runtime's seed-node logic (see ``SimNetwork.maintain``)."""


@dataclass(slots=True, kw_only=True)
class Params:
    nodes: int
    requests: int
    seed: int
    mode: str = "opennet"
    churn: float | None = None
    keys: int | None = None
    warmup: int | None = None
    swap_rounds: int = 30
    anneal_rounds: int = 0
    compare_ideal: bool = True
    config: Config | None = None


@dataclass(slots=True)
class Series:
    """Per-request records for the plots, in issue order."""

    found: list[bool] = field(default_factory=list)
    hops: list[int] = field(default_factory=list)  # -1 when not found
    popular: list[bool] = field(default_factory=list)


def fake_block(rng: random.Random) -> Block:
    """A stand-in CHK block: random routing key, tiny payload (sim does not verify)."""
    return Block(KeyKind.CHK, rng.randbytes(32), b"\0")


class Zipf:
    """Ranks 0..n-1 drawn with probability ∝ 1/(rank+1)^s."""

    def __init__(self, n: int, s: float = 1.0) -> None:
        self._cum = list(accumulate(1.0 / (r + 1) ** s for r in range(n)))

    def sample(self, rng: random.Random) -> int:
        return min(bisect_left(self._cum, rng.random() * self._cum[-1]), len(self._cum) - 1)


def _median(xs: list[int]) -> float:
    return float(statistics.median(xs)) if xs else math.nan


def _p90(xs: list[int]) -> float:
    if not xs:
        return math.nan
    s = sorted(xs)
    return float(s[min(len(s) - 1, int(0.9 * len(s)))])


def _live_random(net: SimNetwork, rng: random.Random) -> int:
    n = len(net.nodes)
    while True:
        i = rng.randrange(n)
        if net.alive[i]:
            return i


def _insert_all(net: SimNetwork, blocks: list[Block], rng: random.Random) -> None:
    t = net.now
    for k, block in enumerate(blocks):
        t += rng.expovariate(REQUEST_RATE)
        net.call_at(t, net.start_insert, _live_random(net, rng), block, k)
    net.run()


def _request_batch(
    net: SimNetwork, keys: list[bytes], count: int, rng: random.Random, pick: Any, first_id: int
) -> list[tuple[int, int]]:
    """Issue ``count`` requests; returns (client id, key index) in issue order."""
    issued = []
    t = net.now
    for c in range(count):
        t += rng.expovariate(REQUEST_RATE)
        k = pick(rng)
        cid = first_id + c
        net.call_at(t, net.start_request, _live_random(net, rng), int(KeyKind.CHK), keys[k], cid)
        issued.append((cid, k))
        if c % MAINTAIN_EVERY == MAINTAIN_EVERY - 1:
            net.call_at(t, net.maintain, net.config.min_peers)
    net.run()
    return issued


def _outcomes(net: SimNetwork, issued: list[tuple[int, int]]) -> tuple[list[bool], list[int]]:
    found, hops = [], []
    for cid, _ in issued:
        done = net.out.requests.get(cid)
        ok = done is not None and done.outcome is Outcome.FOUND
        found.append(ok)
        hops.append(net.out.hops[net.out.uid_of[cid]] if ok else -1)
    return found, hops


def build(p: Params, *, ideal: bool = False) -> SimNetwork:
    if p.mode == "opennet":
        net = SimNetwork(seed=p.seed, opennet=True, config=p.config)
        grow_opennet(net, p.nodes)
        return net
    # The simulator anneals only when asked (``anneal_rounds``, as the nodes'
    # Config.anneal_walks): a network measured before it has cooled is measured
    # hot, so a short run of the production schedule would mislead.
    config = replace(p.config or Config(), anneal_walks=p.anneal_rounds)
    net = SimNetwork(seed=p.seed, opennet=False, config=config)
    build_darknet(net, p.nodes, ideal=ideal, graph_seed=p.seed ^ 0x5EED)
    net.run()  # the friends' first location updates (FOAF), before anything else
    if not ideal:
        swap(net, p.swap_rounds)
    return net


SWAPS_PER_SECOND = 50.0
"""Swap walks started per virtual second in the whole network. A walk takes
~0.5 s; a node busy with its own walk rejects others, so few walks may overlap."""


def swap(net: SimNetwork, rounds: int) -> None:
    """Every live node starts one swap walk per round, for ``rounds`` rounds.

    Nodes anneal by their own ``Config.anneal_walks`` schedule (each walk they
    start is one step of it), as real nodes do; the two ends of a walk agree on
    the colder rule through the swap messages.
    """
    rng = net.rng
    n = len(net.nodes)
    interval = n / SWAPS_PER_SECOND
    for _ in range(rounds):
        t = net.now
        for i in range(n):
            net.call_at(t + rng.random() * interval, net.start_swap, i)
        net.run(until=t + interval)
    net.run()


def route_quality(net: SimNetwork) -> float:
    """Mean distance between linked nodes' locations (lower is better ordered)."""
    total, count = 0.0, 0
    for node in net.nodes:
        for loc in node.peers.locations():
            d = abs(node.location - loc)
            total += min(d, 1.0 - d)
            count += 1
    return total / count if count else 0.0


def measure(
    p: Params, *, ideal: bool = False, net: SimNetwork | None = None
) -> tuple[dict[str, Any], Series]:
    """Run one network through the phases; return figures and the per-request series.

    ``net``: an already built network to use instead of building one from ``p``
    (``swap_checkpoints`` measures copies of one network as it keeps swapping).
    """
    wall0 = time.perf_counter()
    if net is None:
        net = build(p, ideal=ideal)
    rng = random.Random(p.seed * 7919 + 1)
    n_keys = p.keys if p.keys is not None else max(50, min(2000, p.requests // 10))
    blocks = [fake_block(rng) for _ in range(n_keys)]
    keys = [b.routing_key for b in blocks]
    _insert_all(net, blocks, rng)
    inserted = sum(1 for d in net.out.inserts.values() if d.outcome is Outcome.INSERTED)

    next_id = 1_000_000
    warm = 0
    if p.mode == "opennet":
        warm = p.warmup if p.warmup is not None else 2 * p.nodes
        wblocks = [fake_block(rng) for _ in range(max(1, min(warm // 4, 5000)))]
        _insert_all(net, wblocks, rng)
        wkeys = [b.routing_key for b in wblocks]
        _request_batch(net, wkeys, warm, rng, lambda r: r.randrange(len(wkeys)), next_id)
        next_id += warm

    zipf = Zipf(n_keys)
    wall1 = time.perf_counter()
    issued = _request_batch(net, keys, p.requests, rng, zipf.sample, 0)
    wall2 = time.perf_counter()
    found, hops = _outcomes(net, issued)
    popular_cut = max(3, n_keys // 50)
    popular = [k < popular_cut for _, k in issued]
    ok_hops = [h for h in hops if h >= 0]

    pop_hops = [h for h, pop in zip(hops, popular, strict=True) if pop]
    tenth = max(1, len(pop_hops) // 10)
    first = [h for h in pop_hops[:tenth] if h >= 0]
    last = [h for h in pop_hops[-tenth:] if h >= 0]

    result: dict[str, Any] = {
        "mode": p.mode,
        "nodes": p.nodes,
        "requests": p.requests,
        "seed": p.seed,
        "keys": n_keys,
        "inserts_completed": inserted,
        "success_rate": round(sum(found) / max(1, len(found)), 4),
        "hops_median": _median(ok_hops),
        "hops_p90": _p90(ok_hops),
        "hops_mean": round(statistics.fmean(ok_hops), 3) if ok_hops else math.nan,
        "migration": {
            "popular_keys": popular_cut,
            "first_tenth_median": _median(first),
            "last_tenth_median": _median(last),
            # Hop counts are small integers, so medians move in whole steps;
            # the means show the trend the medians round away.
            "first_tenth_mean": round(statistics.fmean(first), 3) if first else math.nan,
            "last_tenth_mean": round(statistics.fmean(last), 3) if last else math.nan,
        },
        "messages_per_operation": round(net.out.messages / max(1, n_keys + warm + p.requests), 2),
        "peers_mean": round(statistics.fmean(len(nd.peers) for nd in net.nodes), 2),
        "link_length_mean": round(route_quality(net), 5),
        "requests_per_second": round(p.requests / max(1e-9, wall2 - wall1), 1),
    }
    if p.churn:
        result["success_rate_after_churn"] = _churn(net, p.churn, keys, rng)
    result["wall_seconds"] = round(time.perf_counter() - wall0, 2)
    return result, Series(found, hops, popular)


def _churn(net: SimNetwork, fraction: float, keys: list[bytes], rng: random.Random) -> float:
    n = len(net.nodes)
    for i in rng.sample(range(n), int(n * fraction)):
        net.kill(i)
    net.run()
    if net.opennet:  # survivors that lost most of their peers announce again
        for i in range(n):
            if net.alive[i] and len(net.nodes[i].peers) < 8:
                net.start_announce(i)
        net.run()
    held: set[bytes] = set()
    for i, s in enumerate(net.stores):
        if net.alive[i]:
            held.update(s.store)
            held.update(s.cache)
    live_keys = [k for k in keys if k in held]
    if not live_keys:
        return math.nan
    count = max(100, len(live_keys))
    issued = _request_batch(
        net, live_keys, count, rng, lambda r: r.randrange(len(live_keys)), 2_000_000
    )
    found, _ = _outcomes(net, issued)
    return round(sum(found) / len(found), 4)


def run(p: Params) -> tuple[dict[str, Any], Series]:
    """The full experiment; darknet also measures the ideal-location network."""
    result, series = measure(p)
    if p.mode == "darknet" and p.compare_ideal:
        ideal, _ = measure(Params(**{**param_fields(p), "churn": None}), ideal=True)
        result["ideal_hops_median"] = ideal["hops_median"]
        result["ideal_success_rate"] = ideal["success_rate"]
        result["ideal_link_length_mean"] = ideal["link_length_mean"]
    return result, series


def swap_checkpoints(p: Params, rounds: list[int]) -> Iterator[dict[str, Any]]:
    """Darknet: one network swapping on, measured after each number of ``rounds``.

    The workload runs on a deep copy at each checkpoint, so its requests (and
    the caching they cause) do not carry over into the next checkpoint; the
    first checkpoint's figures equal ``run`` with that many ``swap_rounds``.
    The ideal-location network is measured once and reported beside each.
    Yields each checkpoint's figures as soon as they are measured.
    """
    base = build(Params(**{**param_fields(p), "swap_rounds": 0}))
    ideal, _ = measure(Params(**{**param_fields(p), "churn": None}), ideal=True)
    done = 0
    for r in sorted(rounds):
        swap(base, r - done)
        done = r
        at = Params(**{**param_fields(p), "swap_rounds": r})
        result, _ = measure(at, net=copy.deepcopy(base))
        result["swap_rounds"] = r
        result["swaps_done"] = sum(nd.swaps_done for nd in base.nodes)
        result["ideal_hops_median"] = ideal["hops_median"]
        result["ideal_success_rate"] = ideal["success_rate"]
        result["ideal_link_length_mean"] = ideal["link_length_mean"]
        yield result


def param_fields(p: Params) -> dict[str, Any]:
    return {name: getattr(p, name) for name in Params.__dataclass_fields__}
