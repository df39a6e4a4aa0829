"""What an adversary learns in the simulator: originator inference, collusion, censorship.

Theory of operation
-------------------
One opennet (``node.sim``, the real routing core) is built per HTL rule set,
warmed up as ``node.sim.experiment`` does, then runs a stream of Zipf-popular
requests while :attr:`SimNetwork.tap` records every ``DataRequest`` a node
receives: what that node sees of it (the HTL on arrival, the key, the sender,
its location, whether it is short of peers, the time). The truth (which
node started each request) is kept beside it, never shown to the classifiers.

*Originator inference.* A node asks of every request a peer sends it: "did my
peer start this?" Three classifiers, each given strictly what a node sees:

``htl_max``   the HTL on arrival is the maximum (the textbook rule);
``held_max``  the sender *held* the maximum: HTL = max, or HTL = max − 1 over a
              link on which the sender decrements at the maximum. A node learns
              its peer's per-link choice from the HTLs it receives (a link that
              ever brings max keeps max); we hand it the truth, the adversary's
              best case;
``bayes``     a lookup table over (HTL, held_max, how far the sender is from the
              key, whether we are nearer, whether the sender is short
              of peers), trained on half the requests (by request id) and
              judged on the other half: "originator" when most training
              observations in that cell were; a cell with fewer than
              :data:`MIN_CELL` training observations falls back to held_max.
              Greedy routing makes the key distance telling: a relay was chosen
              *because* it is near the key, an originator is anywhere;
``bayes_no_key``  the same table without the two key-distance features;
``bayes_no_room`` the same table without the room feature.

What a neighbour can see of its peer. Its location: in the signed noderef of
the ``LinkHello`` and in every ``location_update``. The key: in the request.
Its *degree* is in no opennet message (``LinkHello`` carries only the noderef
and a clock; swap walks, whose ``peer_locations`` would list a node's peers,
run on darknet only, see ``node/net/runtime.py``'s maintenance loop). What a
neighbour can learn is whether its peer is *short* of peers: an opennet node
offers itself to every announcement it relays (and takes every folded
reference) while it has fewer than ``min_peers`` peers, and otherwise with
``fold_accept_probability``, full table or not (``Node.wants_peer``), so a
neighbour that sends a few announcements through it finds out. The
classifiers get that bit, not the degree. (Until the core stopped it, the
bit was "fewer than ``max_peers``", which is true of about half the nodes
and was worth two points of precision.) (With the exact degree, which a neighbour cannot
see, the table does better: a random relay at max HTL is a random peer of the
previous one, so it is picked in proportion to its degree, while originators
are any node; ``degree_diagnostic`` measures it.)

Timing is not a feature: a neighbour has no clock reading of when the request
began, and in the simulator nodes add no processing delay to tell hops apart.
Request ids are random per request; they matter only when nodes pool what
they saw (collusion), where they link the sightings of one request.

*Collusion.* A random c % of nodes pool their sightings by request id. For a
request started by an honest node, the colluders look at their earliest
sighting: if the classifier says the sender originated it, they name it.

*Censorship.* After the stream, for popular keys (top Zipf ranks, requested
hundreds of times) and for keys nobody requested: kill the 20 live nodes
nearest the key's location, let their peers notice, then request the key from
random live nodes and count successes.

*Uncertainty.* Each precision comes with two 95 % intervals: Wilson's over
the flagged sightings (as if independent), and a bootstrap over the test
requests (the sightings of one request rise and fall together, so this one
is the honest one). :func:`inference_seeds` repeats the measurement on
several networks (seeds) and pools them, bootstrapping within each seed; it
also judges a ``bayes`` table trained on *another* seed's network
(``bayes_cross``), which no cell of the test network has ever seen: if the
same-network table's edge were overfitting, that one would lose it.

*Theory.* With random hops at max HTL, the chain of nodes holding the maximum
is: the originator, then each next holder with probability 1 − p (p =
``p_decrement_at_max``). If every holder went on, "my peer held max" would be
the originator 1 − p of the time: ½. A holder that finds the block in its own
store or cache answers instead, cutting the chain: with a share f of holders
doing so, precision is 1 − (1 − p)(1 − f) = ½ + f/2 at p = ½. ``chain_cut``
measures f. The core no longer answers at max (``Config.answer_at_max`` is
False: a relay still holding the maximum forwards instead of answering from
its store), which makes f = 0; ``answer_at_max=True`` measures the old core.

Every figure is a pure function of the arguments (wall-clock keys aside).
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crypto.blocks import KeyKind
from node.core import Config, Outcome, routing
from node.core.messages import DataRequest, Message
from node.sim.experiment import REQUEST_RATE, Params, Zipf, build, fake_block
from node.sim.network import SimNetwork

HTL_RULES: dict[str, dict[str, float]] = {
    # Every link decrements at max and at 1: HTL on arrival reveals the distance
    # from the originator exactly. (p_decrement_at_max = 0 would be no rule at
    # all but a broken one: HTL would never leave 18.)
    "off": {"p_decrement_at_max": 1.0, "p_decrement_at_one": 1.0},
    # The production defaults (node/core/config.py).
    "on": {"p_decrement_at_max": 0.5, "p_decrement_at_one": 0.25},
    # A stronger setting for comparison: a relay holding max passes it on more
    # often, so "my peer held max" points at the originator only ~1 time in 4,
    # at the price of ~3 extra hops at max per request.
    "strong": {"p_decrement_at_max": 0.25, "p_decrement_at_one": 0.25},
}

CLASSIFIERS = ("htl_max", "held_max", "bayes", "bayes_no_key", "bayes_no_room")
DIAGNOSTICS = ("bayes_degree",)
"""Classifiers given something a real neighbour cannot see (the peer's degree)."""
COLLUDE_PERCENT = (1, 5, 10)
TARGETED = 20
"""Nodes an attacker removes around one key (the issue's figure)."""
MIN_CELL = 20
"""Training sightings a ``bayes`` cell needs to decide by itself; a rarer cell
falls back to held_max (a majority of three says little)."""
BOOTSTRAP = 400
"""Bootstrap resamples for a confidence interval."""
Z95 = 1.959964
POOLED_VARIANTS = (
    ("on, relays at max answer (the core before)", True, False),
    ("on (the core)", False, False),
    ("on, hold by degree", False, True),
)
"""Core variants :func:`measure` pools over seeds: (label, answer_at_max, degree_hold)."""


@dataclass(slots=True)
class Sightings:
    """DataRequests as their receivers saw them; one row per first (receiver, uid)."""

    time: list[float] = field(default_factory=list)
    receiver: list[int] = field(default_factory=list)
    sender: list[int] = field(default_factory=list)
    uid: list[int] = field(default_factory=list)
    htl: list[int] = field(default_factory=list)
    cell: list[tuple[int, ...]] = field(default_factory=list)
    held_max: list[bool] = field(default_factory=list)
    degree: list[int] = field(default_factory=list)  # diagnostic only: not observable
    seen: set[tuple[int, int]] = field(default_factory=set)
    forwarded: set[tuple[int, int]] = field(default_factory=set)  # (sender, uid) of any request


def circular(a: float, b: float) -> float:
    d = abs(a - b)
    return min(d, 1.0 - d)


def _tap(net: SimNetwork, s: Sightings) -> Any:
    max_htl = net.config.max_htl
    min_peers = net.config.min_peers
    index = net.index
    nodes = net.nodes
    ids = net.ids
    location_of = nodes[0].location_of if nodes else None

    def tap(now: float, j: int, sender_id: bytes, msg: Message) -> None:
        if type(msg) is not DataRequest:
            return
        i = index[sender_id]
        s.forwarded.add((i, msg.uid))
        if (j, msg.uid) in s.seen:  # a loop: the receiver knows it saw this one
            return
        s.seen.add((j, msg.uid))
        link = nodes[i].peers.by_id.get(ids[j])
        held = msg.htl == max_htl or (
            msg.htl == max_htl - 1 and link is not None and link.dec_at_max
        )
        assert location_of is not None
        key = location_of(msg.routing_key)
        d_sender = circular(nodes[i].location, key)
        d_me = circular(nodes[j].location, key)
        far = min(15, int(-math.log2(max(d_sender, 1e-9))))
        degree = len(nodes[i].peers)
        s.time.append(now)
        s.receiver.append(j)
        s.sender.append(i)
        s.uid.append(msg.uid)
        s.htl.append(msg.htl)
        s.held_max.append(held)
        s.degree.append(degree)
        s.cell.append((msg.htl, held, far, d_me < d_sender, degree < min_peers))

    return tap


@dataclass(slots=True)
class Run:
    """One network after its measured request stream."""

    net: SimNetwork
    sightings: Sightings
    origin: dict[int, int]  # uid -> node that started it
    keys: list[bytes]
    requested: list[int]  # requests per key index
    rng: random.Random
    found_rate: float
    messages_per_request: float
    wall: float


@contextmanager
def hold_by_degree(nets: list[SimNetwork]) -> Iterator[None]:
    """Bench-only variant of the HTL rule at the maximum: whether a request sent at
    max keeps it is decided per link, once, as now, but with a probability that
    depends on the *receiver's* degree d: it keeps max with probability
    min(1, (1 − p) · max_peers / d). A node with few peers is reached at max by
    fewer links, so it is made a holder more often when it is: its relayed
    sightings per link then scale as 1/d, as its own requests do. (The real
    protocol would have the receiver make this choice, since only it knows its
    degree: "treat an incoming 18 as 17 on this link".) Applies to the network
    put in ``nets`` once it is built. Patches ``node.core.routing.route``."""
    original = routing.route
    coins: dict[tuple[int, bytes], float] = {}
    rng = random.Random(0x4D41)

    def route(node: Any, st: Any, now: float) -> Any:
        cfg = node.config
        if nets and st.htl >= cfg.max_htl:
            net = nets[0]
            keep = 1.0 - cfg.p_decrement_at_max
            for q in node.peers.by_id.values():
                coin = coins.get((id(node), q.id))
                if coin is None:
                    coin = coins[(id(node), q.id)] = rng.random()
                d = len(net.nodes[net.index[q.id]].peers)
                q.dec_at_max = coin >= min(1.0, keep * cfg.max_peers / max(1, d))
        return original(node, st, now)

    routing.route = route
    try:
        yield
    finally:
        routing.route = original


def simulate(
    nodes: int,
    requests: int,
    seed: int,
    rule: str,
    *,
    answer_at_max: bool = False,
    degree_hold: bool = False,
    overrides: dict[str, Any] | None = None,
) -> Run:
    """Build, insert, warm up, then run ``requests`` tapped Zipf requests.
    ``answer_at_max`` is :attr:`Config.answer_at_max` (True: the core before it
    stopped answering at max); ``degree_hold=True`` runs under
    :func:`hold_by_degree`; ``overrides`` are further :class:`Config` fields (a
    proposed default, measured before it lands)."""
    overrides = {"answer_at_max": answer_at_max, **(overrides or {})}
    if degree_hold:
        nets: list[SimNetwork] = []
        with hold_by_degree(nets):
            return _simulate(nodes, requests, seed, rule, overrides, nets)
    return _simulate(nodes, requests, seed, rule, overrides, [])


def _simulate(
    nodes: int,
    requests: int,
    seed: int,
    rule: str,
    overrides: dict[str, Any] | None,
    nets: list[SimNetwork],
) -> Run:
    wall0 = time.perf_counter()
    r = HTL_RULES[rule]
    config = Config(**{**r, **(overrides or {})})
    p = Params(nodes=nodes, requests=requests, seed=seed, config=config)
    net = build(p)
    nets.append(net)
    rng = random.Random(seed * 7919 + 1)
    n_keys = max(50, min(2000, requests // 10))
    blocks = [fake_block(rng) for _ in range(n_keys)]
    _insert(net, blocks, rng)
    warm = [fake_block(rng) for _ in range(max(1, min(nodes // 2, 5000)))]
    _insert(net, warm, rng)
    wkeys = [b.routing_key for b in warm]
    _requests(net, rng, [(rng.randrange(len(wkeys)), None) for _ in range(2 * nodes)], wkeys, 10**7)

    keys = [b.routing_key for b in blocks]
    zipf = Zipf(n_keys)
    picks = [(zipf.sample(rng), None) for _ in range(requests)]
    s = Sightings()
    net.tap = _tap(net, s)
    sent = net.out.messages
    origin, found = _requests(net, rng, picks, keys, 0)
    net.tap = None
    per_request = (net.out.messages - sent) / max(1, requests)
    requested = [0] * n_keys
    for k, _ in picks:
        requested[k] += 1
    wall = time.perf_counter() - wall0
    return Run(net, s, origin, keys, requested, rng, found, per_request, wall)


def _live(net: SimNetwork, rng: random.Random) -> int:
    while True:
        i = rng.randrange(len(net.nodes))
        if net.alive[i]:
            return i


def _insert(net: SimNetwork, blocks: list[Any], rng: random.Random) -> None:
    t = net.now
    for k, block in enumerate(blocks):
        t += rng.expovariate(REQUEST_RATE)
        net.call_at(t, net.start_insert, _live(net, rng), block, 5 * 10**7 + k)
    net.run()


def _requests(
    net: SimNetwork,
    rng: random.Random,
    picks: Sequence[tuple[int, int | None]],
    keys: list[bytes],
    first_id: int,
) -> tuple[dict[int, int], float]:
    """Issue requests (key index, requester or None for random); uid -> origin, success rate."""
    origin: dict[int, int] = {}

    def start(i: int, key: bytes, cid: int) -> None:
        net.start_request(i, int(KeyKind.CHK), key, cid)
        origin[net.out.uid_of[cid]] = i

    t = net.now
    cids = []
    for c, (k, who) in enumerate(picks):
        t += rng.expovariate(REQUEST_RATE)
        cid = first_id + c
        cids.append(cid)
        net.call_at(t, start, _live(net, rng) if who is None else who, keys[k], cid)
        if c % 1000 == 999:
            net.call_at(t, net.maintain, net.config.min_peers)
    net.run()
    ok = sum(
        1
        for cid in cids
        if (d := net.out.requests.get(cid)) is not None and d.outcome is Outcome.FOUND
    )
    return origin, ok / max(1, len(cids))


# --- originator inference ------------------------------------------------------------


def _truth(run: Run) -> list[bool]:
    s, origin = run.sightings, run.origin
    return [origin.get(u) == snd for u, snd in zip(s.uid, s.sender, strict=True)]


Cell = tuple[Any, ...]
Table = dict[Cell, bool]


def _views(s: Sightings) -> dict[str, list[Cell]]:
    """The cells each table classifier looks at, one per sighting."""
    max_peers_bucket = 4  # degree // 10, capped: 0-9, 10-19, ..., 40 (full)
    return {
        "bayes": s.cell,
        "bayes_no_key": [(c[0], c[1], c[4]) for c in s.cell],
        "bayes_no_room": [c[:4] for c in s.cell],
        "bayes_degree": [
            (*c[:4], min(max_peers_bucket, d // 10)) for c, d in zip(s.cell, s.degree, strict=True)
        ],
    }


def _train(
    cells: list[Cell], truth: list[bool], use: list[bool] | None = None, min_cell: int = MIN_CELL
) -> Table:
    """A lookup table cell -> "originator" from the sightings ``use`` marks (all if None);
    cells seen fewer than ``min_cell`` times are left out (they fall back to held_max)."""
    pos: dict[Cell, int] = defaultdict(int)
    tot: dict[Cell, int] = defaultdict(int)
    for k, (cell, t) in enumerate(zip(cells, truth, strict=True)):
        if use is None or use[k]:
            tot[cell] += 1
            pos[cell] += t
    return {cell: 2 * pos[cell] > n for cell, n in tot.items() if n >= min_cell}


def _apply(table: Table, cells: list[Cell], held: list[bool]) -> list[bool]:
    return [table.get(c, h) for c, h in zip(cells, held, strict=True)]


def _predictors(
    s: Sightings,
    truth: list[bool],
    max_htl: int,
    foreign: dict[str, Table] | None = None,
    min_cell: int = MIN_CELL,
) -> dict[str, list[bool]]:
    """Every classifier's verdict on every sighting. Tables are trained on the even
    request ids; ``foreign`` adds ``<name>_cross`` judged by tables from another network."""
    train = [u % 2 == 0 for u in s.uid]
    out = {"htl_max": [h == max_htl for h in s.htl], "held_max": list(s.held_max)}
    for name, cells in _views(s).items():
        out[name] = _apply(_train(cells, truth, train, min_cell), cells, s.held_max)
        if foreign is not None and name in foreign:
            out[f"{name}_cross"] = _apply(foreign[name], cells, s.held_max)
    return out


def tables(run: Run) -> dict[str, Table]:
    """Tables trained on every sighting of ``run``: for judging another network."""
    truth = _truth(run)
    return {name: _train(cells, truth) for name, cells in _views(run.sightings).items()}


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion k / n."""
    if n == 0:
        return (math.nan, math.nan)
    ph = k / n
    d = 1 + z * z / n
    mid = (ph + z * z / (2 * n)) / d
    half = z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / d
    return (max(0.0, mid - half), min(1.0, mid + half))


# Per test request: (true positives, false positives, false negatives) of one classifier.
Counts = list[tuple[int, int, int]]


def _counts(pred: list[bool], truth: list[bool], uids: list[int]) -> Counts:
    """Per request of the test half (odd ids): its sightings' tp, fp and fn."""
    per: dict[int, list[int]] = {}
    for p, t, u in zip(pred, truth, uids, strict=True):
        if u % 2 == 0:
            continue
        c = per.setdefault(u, [0, 0, 0])
        if p and t:
            c[0] += 1
        elif p:
            c[1] += 1
        elif t:
            c[2] += 1
    return [(a, b, c) for a, b, c in per.values()]


def _summary(groups: list[Counts], seed: int = 0) -> dict[str, Any]:
    """Precision with its Wilson and request-bootstrap 95 % intervals, pooled over
    ``groups`` (one per network; the bootstrap resamples requests within each)."""
    tp = sum(c[0] for g in groups for c in g)
    fp = sum(c[1] for g in groups for c in g)
    fn = sum(c[2] for g in groups for c in g)
    rng = np.random.default_rng(seed)
    tps = np.zeros(BOOTSTRAP)
    flagged = np.zeros(BOOTSTRAP)
    for g in groups:
        if not g:
            continue
        a = np.array(g, dtype=np.int64)
        idx = rng.integers(0, len(g), size=(BOOTSTRAP, len(g)))
        tps += a[idx, 0].sum(axis=1)
        flagged += a[idx, 0].sum(axis=1) + a[idx, 1].sum(axis=1)
    ok = flagged > 0
    boot = tps[ok] / flagged[ok]
    lo, hi = np.quantile(boot, [0.025, 0.975]) if len(boot) else (math.nan, math.nan)
    w = wilson(tp, tp + fp)
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else math.nan,
        "recall": round(tp / (tp + fn), 4) if tp + fn else math.nan,
        "flagged": tp + fp,
        "ci_wilson": [round(w[0], 4), round(w[1], 4)],
        "ci_bootstrap": [round(float(lo), 4), round(float(hi), 4)],
    }


def chain_cut(run: Run) -> dict[str, Any]:
    """Of the relays that received a request at max HTL (the originator excluded),
    the share that sent it nowhere (f in the theory: they answered from their store)."""
    s, origin, max_htl = run.sightings, run.origin, run.net.config.max_htl
    got = cut = 0
    for j, u, h in zip(s.receiver, s.uid, s.htl, strict=True):
        if h == max_htl and origin.get(u) != j:
            got += 1
            cut += (j, u) not in s.forwarded
    f = cut / got if got else math.nan
    return {"relays_at_max": got, "answered_at_max": cut, "f": round(f, 4)}


def _observed(run: Run, foreign: dict[str, Table] | None = None) -> dict[str, Any]:
    """Per-request counts of every classifier on ``run``'s test half (odd request ids)."""
    s = run.sightings
    truth = _truth(run)
    preds = _predictors(s, truth, run.net.config.max_htl, foreign)
    test = [u % 2 == 1 for u in s.uid]
    n_test = sum(test)
    return {
        "sightings": n_test,
        "base_rate": round(sum(t for t, m in zip(truth, test, strict=True) if m) / n_test, 4),
        "chain_cut": chain_cut(run),
        "counts": {name: _counts(pred, truth, s.uid) for name, pred in preds.items()},
    }


def inference(run: Run, seed: int = 0) -> dict[str, Any]:
    """Precision (with 95 % intervals) and recall of each classifier on the test half."""
    o = _observed(run)
    counts = o.pop("counts")
    return {**o, **{name: _summary([c], seed) for name, c in counts.items()}}


def _with_room(run: Run) -> float:
    """Share of live nodes with fewer than ``max_peers`` peers after the stream."""
    net = run.net
    live = [i for i in range(len(net.nodes)) if net.alive[i]]
    room = sum(1 for i in live if len(net.nodes[i].peers) < net.config.max_peers)
    return room / max(1, len(live))


def _precision(c: Counts) -> float:
    tp = sum(x[0] for x in c)
    fp = sum(x[1] for x in c)
    return round(tp / (tp + fp), 4) if tp + fp else math.nan


def inference_seeds(
    nodes: int,
    requests: int,
    seeds: list[int],
    rule: str = "on",
    *,
    answer_at_max: bool = False,
    degree_hold: bool = False,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """:func:`inference` on one network per seed, pooled (bootstrap within each seed).
    ``<table>_cross`` judges each network with the tables trained on all sightings
    of the next seed's network, a network it has never seen."""
    runs = [
        simulate(
            nodes,
            requests,
            s,
            rule,
            answer_at_max=answer_at_max,
            degree_hold=degree_hold,
            overrides=overrides,
        )
        for s in seeds
    ]
    trained = [tables(r) for r in runs]
    per_seed, groups = [], []
    for k, (seed, run) in enumerate(zip(seeds, runs, strict=True)):
        foreign = trained[(k + 1) % len(runs)] if len(runs) > 1 else None
        o = _observed(run, foreign)
        groups.append(o["counts"])
        per_seed.append(
            {
                "seed": seed,
                "sightings": o["sightings"],
                "base_rate": o["base_rate"],
                "chain_cut": o["chain_cut"],
                "messages_per_request": round(run.messages_per_request, 2),
                "success_rate": round(run.found_rate, 4),
                "nodes_with_room": round(_with_room(run), 4),
                "precision": {n: _precision(c) for n, c in o["counts"].items()},
            }
        )
    names = list(groups[0])
    return {
        "nodes": nodes,
        "requests": requests,
        "rule": rule,
        "answer_at_max": answer_at_max,
        "degree_hold": degree_hold,
        "overrides": overrides or {},
        "per_seed": per_seed,
        "pooled": {n: _summary([g[n] for g in groups], seeds[0]) for n in names},
    }


# --- collusion -------------------------------------------------------------------------


def collusion(run: Run, percent: int, seed: int) -> dict[str, Any]:
    """Colluders pool sightings by request id; they name the sender of their earliest one
    when a classifier fires. Counted over test-half requests started by honest nodes."""
    n = len(run.net.nodes)
    bad = set(random.Random(seed * 31 + percent).sample(range(n), max(1, n * percent // 100)))
    truth = _truth(run)
    s = run.sightings
    preds = _predictors(s, truth, run.net.config.max_htl)
    first: dict[int, int] = {}  # uid -> row of the earliest colluder sighting
    for row, (j, uid) in enumerate(zip(s.receiver, s.uid, strict=True)):
        if j in bad and uid % 2 == 1:
            old = first.get(uid)
            if old is None or s.time[row] < s.time[old]:
                first[uid] = row
    honest = [u for u, o in run.origin.items() if u % 2 == 1 and o not in bad]
    out: dict[str, Any] = {
        "percent": percent,
        "requests": len(honest),
        "seen": round(sum(1 for u in honest if u in first) / max(1, len(honest)), 4),
    }
    for name in ("held_max", "bayes"):
        right = wrong = 0
        for u in honest:
            hit = first.get(u)
            if hit is not None and preds[name][hit]:
                if truth[hit]:
                    right += 1
                else:
                    wrong += 1
        out[name] = {
            "singled_out": round(right / max(1, len(honest)), 4),
            "precision": round(right / (right + wrong), 4) if right + wrong else math.nan,
        }
    return out


# --- censorship ------------------------------------------------------------------------


def censorship(run: Run, *, keys: int = 5, fetches: int = 100) -> dict[str, Any]:
    """Targeted removal around popular and never-requested keys; then fetch each."""
    net, rng = run.net, run.rng
    order = sorted(range(len(run.keys)), key=lambda k: -run.requested[k])
    popular = order[:keys]
    cold = [k for k in order if run.requested[k] == 0][:keys]
    result: dict[str, Any] = {}
    next_id = 3 * 10**7
    for label, chosen in (("popular", popular), ("unpopular", cold)):
        rows = []
        for k in chosen:
            key = run.keys[k]
            loc = net.nodes[0].location_of(key)
            live = [i for i in range(len(net.nodes)) if net.alive[i]]
            near = sorted(live, key=lambda i: circular(net.nodes[i].location, loc))[:TARGETED]
            copies_before = sum(1 for i in live if key in net.stores[i])
            for i in near:
                net.kill(i)
            net.run()
            copies_after = sum(
                1 for i in range(len(net.nodes)) if net.alive[i] and key in net.stores[i]
            )
            _, rate = _requests(net, rng, [(0, None)] * fetches, [key], next_id)
            next_id += fetches
            rows.append(
                {
                    "requested": run.requested[k],
                    "copies_before": copies_before,
                    "copies_after": copies_after,
                    "retrievable": round(rate, 4),
                }
            )
        result[label] = {
            "keys": rows,
            "retrievable_mean": round(sum(r["retrievable"] for r in rows) / max(1, len(rows)), 4),
        }
    return result


# --- the whole measurement ---------------------------------------------------------------


def measure(nodes: int, requests: int, seed: int = 1, seeds: int = 1) -> dict[str, Any]:
    """Inference and collusion under every HTL rule set; censorship under the defaults.
    With ``seeds`` > 1, also the default rules pooled over that many networks, for
    each of :data:`POOLED_VARIANTS` (``pooled``)."""
    out: dict[str, Any] = {"nodes": nodes, "requests": requests, "seed": seed, "rules": HTL_RULES}
    for rule in HTL_RULES:
        run = simulate(nodes, requests, seed, rule)
        out[rule] = {
            "success_rate": round(run.found_rate, 4),
            "messages_per_request": round(run.messages_per_request, 2),
            "inference": inference(run),
            "collusion": [collusion(run, c, seed) for c in COLLUDE_PERCENT],
            "wall_seconds": round(run.wall, 1),
        }
        if rule == "on":
            wall = time.perf_counter()
            out["censorship"] = censorship(run)
            out["censorship"]["wall_seconds"] = round(time.perf_counter() - wall, 1)
        del run
    if seeds > 1:
        chosen = list(range(seed, seed + seeds))
        out["pooled"] = {
            variant: inference_seeds(
                nodes, requests, chosen, "on", answer_at_max=answer, degree_hold=hold
            )
            for variant, answer, hold in POOLED_VARIANTS
        }
    return out
