"""Simulator benchmarks: print the figures of issue 4's targets (never asserts on time).

Usage::

    .venv/bin/python -m bench.sim_bench opennet --nodes 1000 10000 [50000]
    .venv/bin/python -m bench.sim_bench darknet --nodes 10000 --swap-rounds 60
    .venv/bin/python -m bench.sim_bench churn --nodes 10000
    .venv/bin/python -m bench.sim_bench memory --nodes 100000

Each run prints one JSON line (the ``samizdat sim --json`` object plus the peak
resident memory of this process in MiB).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

from node.sim.experiment import Params, run
from node.sim.network import SimNetwork
from node.sim.topology import grow_opennet


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def emit(result: dict[str, object]) -> None:
    result["peak_rss_mib"] = round(peak_mib(), 1)
    print(json.dumps(result, sort_keys=True), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sim_bench")
    ap.add_argument("what", choices=("opennet", "darknet", "churn", "memory"))
    ap.add_argument("--nodes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--requests", type=int, default=None, help="default: 2 x nodes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--swap-rounds", type=int, default=60)
    args = ap.parse_args(argv)
    for n in args.nodes:
        r = args.requests or 2 * n
        if args.what == "opennet":
            emit(run(Params(nodes=n, requests=r, seed=args.seed))[0])
        elif args.what == "darknet":
            p = Params(
                nodes=n, requests=r, seed=args.seed, mode="darknet", swap_rounds=args.swap_rounds
            )
            emit(run(p)[0])
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
