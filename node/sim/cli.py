"""The ``samizdat sim`` subcommand: run the simulator and print or plot its figures."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from node.sim.experiment import Params, run


def add_parser(subparsers: Any) -> None:
    """Register ``sim`` on the ``samizdat`` parser (called by ``node.cli``)."""
    p = subparsers.add_parser(
        "sim",
        help="simulate a network of routing cores on a virtual clock",
        description=(
            "Build a simulated opennet or darknet, insert keys, request them with Zipf "
            "popularity and report success, hops, data migration and (with --churn) "
            "success after nodes leave. Deterministic for a given --seed."
        ),
    )
    p.add_argument("--nodes", type=int, required=True, metavar="N")
    p.add_argument("--requests", type=int, required=True, metavar="R")
    p.add_argument("--seed", type=int, required=True, metavar="S")
    p.add_argument("--mode", choices=("opennet", "darknet"), default="opennet")
    p.add_argument("--churn", type=float, default=None, metavar="FRACTION")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", default=None, metavar="DIR", help="write PNG plots into DIR")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    if args.nodes < 2 or args.requests < 1:
        print("samizdat sim: need --nodes >= 2 and --requests >= 1", file=sys.stderr)
        return 2
    if args.churn is not None and not 0.0 < args.churn < 1.0:
        print("samizdat sim: --churn is a fraction between 0 and 1", file=sys.stderr)
        return 2
    params = Params(
        nodes=args.nodes, requests=args.requests, seed=args.seed, mode=args.mode, churn=args.churn
    )
    result, series = run(params)
    if args.plot:
        from node.sim.plots import write_plots

        result["plots"] = write_plots(args.plot, series)
    if args.json:
        print(json.dumps(_jsonable(result), sort_keys=True))
    else:
        print(summary(result))
    return 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def summary(r: dict[str, Any]) -> str:
    mig = r["migration"]
    lines = [
        f"{r['mode']} network of {r['nodes']} nodes, {r['requests']} requests "
        f"for {r['keys']} keys (seed {r['seed']})",
        f"  success rate       {r['success_rate']:.2%}",
        f"  hops               median {r['hops_median']}, p90 {r['hops_p90']}, "
        f"mean {r['hops_mean']}",
        f"  migration          popular keys: median hops {mig['first_tenth_median']} "
        f"(first tenth) -> {mig['last_tenth_median']} (last tenth)",
        f"  peers per node     {r['peers_mean']}",
        f"  speed              {r['requests_per_second']:.0f} requests/s (wall clock), "
        f"{r['wall_seconds']} s in all",
    ]
    if "ideal_hops_median" in r:
        lines.append(
            f"  ideal locations    median hops {r['ideal_hops_median']}, "
            f"success {r['ideal_success_rate']:.2%}"
        )
    if "success_rate_after_churn" in r:
        lines.append(f"  after churn        success rate {r['success_rate_after_churn']:.2%}")
    return "\n".join(lines)
