"""``samizdat tui [--fcp HOST:PORT] [--start-node]``: open the terminal UI on a node."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DEFAULT_FCP = "127.0.0.1:9481"


def parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def add_parser(subparsers: Any) -> None:
    tui = subparsers.add_parser("tui", help="the terminal UI (a client of a running node)")
    tui.add_argument(
        "--fcp",
        type=parse_address,
        default=DEFAULT_FCP,
        metavar="HOST:PORT",
        help=f"the node's FCP address (default {DEFAULT_FCP})",
    )
    tui.add_argument(
        "--start-node",
        action="store_true",
        help="if no node answers, start one (default data directory) and stop it on exit",
    )
    tui.add_argument(
        "--node-log", type=Path, metavar="FILE", help="where a node started by the TUI logs"
    )
    tui.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tui.app import create_app
    from tui.node_process import NodeProcess

    host, port = args.fcp if isinstance(args.fcp, tuple) else parse_address(args.fcp)
    process = (
        NodeProcess(host, port, log=args.node_log) if host in ("127.0.0.1", "localhost") else None
    )
    app = create_app(host=host, port=port, node_process=process, start_node=args.start_node)
    try:
        app.run()
    finally:
        if process is not None:
            process.stop()
    return 0
