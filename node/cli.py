"""The ``samizdat`` command: one entry point whose subcommands later layers fill in."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="samizdat",
        description="Samizdat: an anonymous, censorship-resistant storage network.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    from node import commands, daemon, testnet
    from node.sim.cli import add_parser as add_sim_parser

    daemon.add_parsers(subparsers)
    commands.add_parsers(subparsers)
    add_sim_parser(subparsers)
    testnet.add_parser(subparsers)
    from tui.cli import add_parser as add_tui_parser

    add_tui_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    handler = getattr(args, "handler", None)
    if handler is not None:
        return int(handler(args))
    return 0  # pragma: no cover - every subcommand returns from its own handler


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
