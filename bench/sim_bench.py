"""Simulator benchmarks: print the figures of issue 4's targets (never asserts on time).

Usage::

    .venv/bin/python -m bench.sim_bench opennet --nodes 1000 10000 [50000]
    .venv/bin/python -m bench.sim_bench darknet --nodes 10000 --swap-rounds 60 120 240
    .venv/bin/python -m bench.sim_bench darknet --nodes 1000 --swap-rounds 300 --anneal-rounds 200
    .venv/bin/python -m bench.sim_bench churn --nodes 10000
    .venv/bin/python -m bench.sim_bench swapchain --nodes 1000 --swap-rounds 100 300 1000 [--route]
    .venv/bin/python -m bench.sim_bench memory --nodes 100000

Each run prints one JSON line (the ``samizdat sim --json`` object plus the peak
resident memory of this process in MiB). ``swapchain`` runs the swap rule as a
bare Markov chain (``node.sim.swapchain``: no messages, 20-40x faster) and prints
link length and greedy reach per checkpoint; with ``--route`` it then runs the
simulator's darknet workload, through the real core, on the chain's locations.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

from node.core.config import Config
from node.sim.experiment import Params, run, swap_checkpoints
from node.sim.network import SimNetwork
from node.sim.swapchain import Chain, routed
from node.sim.topology import grow_opennet


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def emit(result: dict[str, object]) -> None:
    result["peak_rss_mib"] = round(peak_mib(), 1)
    print(json.dumps(result, sort_keys=True), flush=True)


def swap_chain(args: argparse.Namespace, n: int, requests: int) -> None:
    nodes = Config()  # the nodes' schedule
    beta0, beta1 = nodes.anneal_beta0, nodes.anneal_beta1
    chain = Chain(n, seed=args.seed)
    ideal = Chain(n, seed=args.seed, shuffle=False)
    done = 0
    for c in sorted(args.swap_rounds):
        for k in range(done, c):
            a = args.anneal_rounds
            beta = beta0 + (beta1 - beta0) * k / a if k < a else 1.0
            chain.step(n, hops=args.walk_hops, beta=beta)
        done = c
        emit(
            {
                "chain_nodes": n,
                "rounds": c,
                "walk_hops": args.walk_hops,
                "anneal_rounds": args.anneal_rounds,
                "link_length_mean": round(chain.link_length(), 5),
                "greedy_reach": chain.greedy_reach(),
                "ideal_link_length_mean": round(ideal.link_length(), 5),
                "ideal_greedy_reach": ideal.greedy_reach(),
                "accepted_share": round(chain.swaps / max(1, chain.walks), 4),
            }
        )
    if args.route:
        p = Params(nodes=n, requests=requests, seed=args.seed, mode="darknet")
        emit({"chain_rounds": done, "anneal_rounds": args.anneal_rounds, **routed(p, chain)})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sim_bench")
    ap.add_argument("what", choices=("opennet", "darknet", "churn", "memory", "swapchain"))
    ap.add_argument("--nodes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--requests", type=int, default=None, help="default: 2 x nodes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--swap-rounds",
        type=int,
        nargs="+",
        default=[60],
        help="darknet: swap walks per node before measuring; several values measure "
        "one network as it keeps swapping (one JSON line each)",
    )
    ap.add_argument(
        "--anneal-rounds",
        type=int,
        default=0,
        help="darknet: the nodes' Config.anneal_walks (each cools from beta 0.2 to 0.6 over "
        "that many of its walks, then uses beta 1, as real nodes do over 1000); swapchain: "
        "the same schedule",
    )
    ap.add_argument("--walk-hops", type=int, default=10, help="swapchain: swap walk length")
    ap.add_argument("--route", action="store_true", help="swapchain: run the workload after")
    args = ap.parse_args(argv)
    for n in args.nodes:
        r = args.requests or 2 * n
        if args.what == "opennet":
            emit(run(Params(nodes=n, requests=r, seed=args.seed))[0])
        elif args.what == "darknet":
            anneal = args.anneal_rounds
            p = Params(nodes=n, requests=r, seed=args.seed, mode="darknet", anneal_rounds=anneal)
            for result in swap_checkpoints(p, args.swap_rounds):
                emit(result)
        elif args.what == "swapchain":
            swap_chain(args, n, r)
        elif args.what == "churn":
            emit(run(Params(nodes=n, requests=r, seed=args.seed, churn=0.3))[0])
        else:
            t = time.perf_counter()
            net = SimNetwork(seed=args.seed, opennet=True)
            grow_opennet(net, n)
            emit(
                {
                    "nodes": n,
                    "build_seconds": round(time.perf_counter() - t, 1),
                    "peers_mean": round(sum(len(x.peers) for x in net.nodes) / n, 2),
                }
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
