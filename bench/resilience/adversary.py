"""What an adversary learns in the simulator: originator inference, collusion, censorship.

Theory of operation
-------------------
One opennet (``node.sim``, the real routing core) is built per HTL rule set,
warmed up as ``node.sim.experiment`` does, then runs a stream of Zipf-popular
requests while :attr:`SimNetwork.tap` records every ``DataRequest`` a node
receives: what that node sees of it (the HTL on arrival, the key, the sender,
the sender's degree, the time). The truth (which node started each request) is
kept beside it, never shown to the classifiers.

*Originator inference.* A node asks of every request a peer sends it: "did my
peer start this?" Three classifiers, each given strictly what a node sees:

``htl_max``   the HTL on arrival is the maximum (the textbook rule);
``held_max``  the sender *held* the maximum: HTL = max, or HTL = max − 1 over a
              link on which the sender decrements at the maximum. A node learns
              its peer's per-link choice from the HTLs it receives (a link that
              ever brings max keeps max); we hand it the truth, the adversary's
              best case;
``bayes``     a lookup table over (HTL, held_max, how far the sender is from the
              key, whether we are nearer, the sender's degree), trained on half
              the requests (by request id) and judged on the other half:
              "originator" when most training observations in that cell were.
              Greedy routing makes the key distance telling: a relay was chosen
              *because* it is near the key, an originator is anywhere;
``bayes_no_key``  the same table without the two key-distance features: what
              the HTL and the degree alone give away.

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

Every figure is a pure function of the arguments (wall-clock keys aside).
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from crypto.blocks import KeyKind
from node.core import Config, Outcome
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

CLASSIFIERS = ("htl_max", "held_max", "bayes", "bayes_no_key")
COLLUDE_PERCENT = (1, 5, 10)
TARGETED = 20
"""Nodes an attacker removes around one key (the issue's figure)."""


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
    seen: set[tuple[int, int]] = field(default_factory=set)


def circular(a: float, b: float) -> float:
    d = abs(a - b)
    return min(d, 1.0 - d)


def _tap(net: SimNetwork, s: Sightings) -> Any:
    max_htl = net.config.max_htl
    index = net.index
    nodes = net.nodes
    ids = net.ids
    location_of = nodes[0].location_of if nodes else None

    def tap(now: float, j: int, sender_id: bytes, msg: Message) -> None:
        if type(msg) is not DataRequest:
            return
        i = index[sender_id]
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
        degree = min(4, len(nodes[i].peers) // 10)
        s.time.append(now)
        s.receiver.append(j)
        s.sender.append(i)
        s.uid.append(msg.uid)
        s.htl.append(msg.htl)
        s.held_max.append(held)
        s.cell.append((msg.htl, held, far, d_me < d_sender, degree))

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


def simulate(nodes: int, requests: int, seed: int, rule: str) -> Run:
    """Build, insert, warm up, then run ``requests`` tapped Zipf requests."""
    wall0 = time.perf_counter()
    r = HTL_RULES[rule]
    config = Config(
        p_decrement_at_max=r["p_decrement_at_max"], p_decrement_at_one=r["p_decrement_at_one"]
    )
    p = Params(nodes=nodes, requests=requests, seed=seed, config=config)
    net = build(p)
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
    picks: list[tuple[int, int | None]],
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


def _no_key(cell: tuple[int, ...]) -> tuple[int, ...]:
    """A cell without the key-distance features (HTL, held_max, degree)."""
    return (cell[0], cell[1], cell[4])


def _train(cells: list[tuple[int, ...]], uids: list[int], truth: list[bool]) -> dict[Any, bool]:
    """A lookup table from sightings of even request ids: cell -> "originator"."""
    pos: dict[tuple[int, ...], int] = defaultdict(int)
    tot: dict[tuple[int, ...], int] = defaultdict(int)
    for cell, uid, t in zip(cells, uids, truth, strict=True):
        if uid % 2 == 0:
            tot[cell] += 1
            pos[cell] += t
    return {cell: 2 * pos[cell] > n for cell, n in tot.items()}


def _predictors(run: Run, truth: list[bool]) -> dict[str, list[bool]]:
    s = run.sightings
    max_htl = run.net.config.max_htl
    table = _train(s.cell, s.uid, truth)
    cells = [_no_key(c) for c in s.cell]
    plain = _train(cells, s.uid, truth)
    return {
        "htl_max": [h == max_htl for h in s.htl],
        "held_max": list(s.held_max),
        # An unseen cell falls back to the held_max rule.
        "bayes": [table.get(c, hm) for c, hm in zip(s.cell, s.held_max, strict=True)],
        "bayes_no_key": [plain.get(c, hm) for c, hm in zip(cells, s.held_max, strict=True)],
    }


def _score(pred: list[bool], truth: list[bool], mask: list[bool]) -> dict[str, float]:
    tp = fp = fn = 0
    for p, t, m in zip(pred, truth, mask, strict=True):
        if not m:
            continue
        if p and t:
            tp += 1
        elif p:
            fp += 1
        elif t:
            fn += 1
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else math.nan,
        "recall": round(tp / (tp + fn), 4) if tp + fn else math.nan,
        "flagged": tp + fp,
    }


def inference(run: Run) -> dict[str, Any]:
    """Precision and recall of each classifier on the test half (odd request ids)."""
    truth = _truth(run)
    test = [u % 2 == 1 for u in run.sightings.uid]
    preds = _predictors(run, truth)
    n_test = sum(test)
    return {
        "sightings": n_test,
        "base_rate": round(sum(t for t, m in zip(truth, test, strict=True) if m) / n_test, 4),
        **{name: _score(preds[name], truth, test) for name in CLASSIFIERS},
    }


# --- collusion -------------------------------------------------------------------------


def collusion(run: Run, percent: int, seed: int) -> dict[str, Any]:
    """Colluders pool sightings by request id; they name the sender of their earliest one
    when a classifier fires. Counted over test-half requests started by honest nodes."""
    n = len(run.net.nodes)
    bad = set(random.Random(seed * 31 + percent).sample(range(n), max(1, n * percent // 100)))
    truth = _truth(run)
    preds = _predictors(run, truth)
    s = run.sightings
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
            row = first.get(u)
            if row is not None and preds[name][row]:
                if truth[row]:
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


def measure(nodes: int, requests: int, seed: int = 1) -> dict[str, Any]:
    """Inference and collusion under both HTL rule sets; censorship under the defaults."""
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
    return out
