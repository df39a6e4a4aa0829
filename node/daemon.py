"""The node daemon and its commands: ``samizdat node run``, ``samizdat noderef``, ``samizdat peer``.

``node run`` assembles a whole node — the runtime (links, routing, datastore)
and, on top of it, the front ends users talk to — in one task group, and stops
it cleanly on SIGINT or SIGTERM. While it runs it keeps ``node.json`` in its
data directory current (process id, the ports it really bound, peer count), so
scripts such as ``samizdat testnet`` can find it without guessing ports.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from crypto.encoding import b64encode
from node.client.client import Client
from node.client.clientdb import ClientDatabase, load_or_create_key
from node.client.node_network import NodeNetwork
from node.client.requests import RequestManager
from node.fcp.node_backend import NodeBackend
from node.fcp.server import serve_fcp
from node.gateway.app import Gateway, GatewaySettings
from node.gateway.server import serve_gateway
from node.net.datadir import DataDir, DataDirError, default_data_dir
from node.net.misbehave import MODES, testing_enabled
from node.net.noderef import NodeRefError, SignedNodeRef, make_noderef, parse_noderef
from node.net.runtime import NodeRuntime
from node.net.settings import NodeSettings, parse_listen, parse_size
from store import StoreError

log = logging.getLogger("samizdat.daemon")

STATUS_FILE = "node.json"
GIL_SWITCH_INTERVAL = 0.0005
"""Seconds a thread may hold the GIL while another waits for it (Python's default
is 5 ms). The event loop shares the process with the datastore's writer and
lookup threads; a message that arrives while the writer runs Python code waits
for the GIL, and every hop of a request pays that wait. At 0.5 ms the transfer
bench's 1-in-flight rate went from 43 % to 49 % of its baseline (mean of four
alternated runs each), with the same CPU per block and the same 16-in-flight rate."""
STATUS_INTERVAL = 1.0  # seconds between node.json refreshes: cheap, and scripts poll it


def add_parsers(subparsers: Any) -> None:
    node = subparsers.add_parser("node", help="run a node")
    node_sub = node.add_subparsers(dest="node_command", metavar="ACTION", required=True)
    run = node_sub.add_parser("run", help="start a node in the foreground (Ctrl-C stops it)")
    _data_dir_arg(run)
    run.add_argument("--listen", metavar="HOST:PORT", help="peer port (default: saved or free)")
    run.add_argument("--advertise", metavar="HOST", help="address peers should dial")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--opennet", dest="opennet", action="store_true", default=None)
    mode.add_argument("--darknet", dest="opennet", action="store_false")
    run.add_argument("--seednodes", type=Path, metavar="FILE", help="opennet seed references")
    run.add_argument("--store-size", metavar="SIZE", help="datastore size, e.g. 10GiB")
    run.add_argument("--upload-limit", metavar="RATE", help="bytes/s for all links, e.g. 2M")
    run.add_argument("--download-limit", metavar="RATE", help="bytes/s for all links")
    run.add_argument("--fcp-port", type=int, default=9481, metavar="N", help="FCP (0: free port)")
    run.add_argument("--fcp-bind", default="127.0.0.1", metavar="HOST")
    run.add_argument("--http-port", type=int, default=8888, metavar="N", help="gateway port")
    run.add_argument("--http-bind", default="127.0.0.1", metavar="HOST")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    run.add_argument(
        "--fast-store",
        action="store_true",
        help="commit the datastore without waiting for the disk (survives a crash of "
        "the node, not a power cut); for test networks",
    )
    if testing_enabled():  # test networks only: never shown to users
        run.add_argument("--misbehave", choices=MODES, default=None, help=argparse.SUPPRESS)
    run.set_defaults(handler=_run_command)

    noderef = subparsers.add_parser("noderef", help="print this node's reference for friends")
    _data_dir_arg(noderef)
    noderef.set_defaults(handler=_noderef_command)

    peer = subparsers.add_parser("peer", help="manage darknet friends")
    peer_sub = peer.add_subparsers(dest="peer_command", metavar="ACTION", required=True)
    add = peer_sub.add_parser("add", help="add a friend's reference (text, a file, or - for stdin)")
    _data_dir_arg(add)
    add.add_argument("ref", nargs="+", metavar="REF")
    add.set_defaults(handler=_peer_add_command)
    lst = peer_sub.add_parser("list", help="list the stored peers")
    _data_dir_arg(lst)
    lst.set_defaults(handler=_peer_list_command)


def _data_dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, default=None, help=f"default: {default_data_dir()}"
    )


def _settings(args: argparse.Namespace, datadir: DataDir) -> NodeSettings:
    host, port = parse_listen(args.listen) if args.listen else ("127.0.0.1", None)
    overrides: dict[str, Any] = {
        "listen_host": host if args.listen else None,
        "listen_port": port,
        "advertise_host": args.advertise,
        "opennet": args.opennet,
        "seednodes": args.seednodes,
        "store_size": parse_size(args.store_size) if args.store_size else None,
        "upload_limit": float(parse_size(args.upload_limit)) if args.upload_limit else None,
        "download_limit": float(parse_size(args.download_limit)) if args.download_limit else None,
    }
    if args.fast_store:
        overrides["store_synchronous_full"] = False
    if getattr(args, "misbehave", None):
        overrides["misbehave"] = args.misbehave
    return NodeSettings.from_config(datadir.path, datadir.read_config(), **overrides)


def _run_command(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        datadir = DataDir.open(args.data_dir)
        settings = _settings(args, datadir)
    except (DataDirError, ValueError) as exc:
        print(f"samizdat: {exc}", file=sys.stderr)
        return 2
    for name, bind in (("FCP", args.fcp_bind), ("gateway", args.http_bind)):
        if bind not in ("127.0.0.1", "localhost", "::1"):
            log.warning(
                "the %s listens on %s, not loopback: anyone who can reach it can use your node",
                name,
                bind,
            )
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    try:
        anyio.run(_serve_until_signalled, settings, args)
    except (DataDirError, StoreError) as exc:
        print(f"samizdat: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"samizdat: cannot start the node: {exc}", file=sys.stderr)
        return 1
    return 0


@dataclass
class NodeServices:
    """Everything one running node is made of, for the front ends and for tests."""

    runtime: NodeRuntime
    client: Client
    manager: RequestManager
    backend: NodeBackend
    ports: dict[str, int] = field(default_factory=dict)


@asynccontextmanager
async def running_node(
    settings: NodeSettings,
    *,
    fcp_host: str = "127.0.0.1",
    fcp_port: int | None = 9481,
    http_host: str = "127.0.0.1",
    http_port: int | None = None,
    processes: bool = True,
) -> AsyncIterator[NodeServices]:
    """Start a whole node (runtime, client layer, FCP, gateway) and stop it on exit.

    ``fcp_port=None`` runs no FCP server (in-process users); 0 picks a free port.
    ``http_port`` likewise for the browser gateway (``node run`` passes 8888).
    """
    async with anyio.create_task_group() as tg:
        runtime = NodeRuntime(settings)
        await tg.start(runtime.run)
        datadir = runtime.datadir
        key = load_or_create_key(datadir.path / "client.key")
        database = ClientDatabase(datadir.path / "client.sqlite", key)
        try:
            async with (
                Client(NodeNetwork(runtime), processes=processes) as client,
                RequestManager(
                    client, database, resume_after=partial(_first_peer, runtime)
                ) as manager,
                contextlib.AsyncExitStack() as stack,
            ):
                backend = NodeBackend(manager, runtime)
                services = NodeServices(runtime, client, manager, backend)
                services.ports["peer_port"] = runtime.listen_port
                if fcp_port is not None:
                    services.ports["fcp_port"] = await tg.start(
                        partial(serve_fcp, backend, host=fcp_host, port=fcp_port)
                    )
                if http_port is not None:
                    gateway = Gateway(
                        client, manager, runtime,
                        GatewaySettings.from_config(datadir.read_config(), host=http_host),
                    )  # fmt: skip
                    await stack.enter_async_context(gateway)
                    services.ports["http_port"] = await tg.start(
                        partial(serve_gateway, gateway, host=http_host, port=http_port)
                    )
                yield services
                tg.cancel_scope.cancel()
        finally:
            database.close()


# Requests resumed at start wait this long for a link before they run (the peers
# of a restarted node are back within seconds; a node with none waits in vain).
RESUME_PEER_WAIT = 30.0


async def _first_peer(runtime: NodeRuntime) -> None:
    with anyio.move_on_after(RESUME_PEER_WAIT):
        while not runtime.connected_peers:
            await anyio.sleep(0.1)


async def _serve_until_signalled(settings: NodeSettings, args: argparse.Namespace) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with (
            running_node(
                settings,
                fcp_host=args.fcp_bind,
                fcp_port=args.fcp_port,
                http_host=args.http_bind,
                http_port=args.http_port,
            ) as services,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(_status_writer, services.runtime, services.ports)
            async for signum in signals:
                log.info("stopping on %s", signal.Signals(signum).name)
                break
            tg.cancel_scope.cancel()
    _remove_status(settings.data_dir)


async def _status_writer(runtime: NodeRuntime, ports: dict[str, int]) -> None:
    path = runtime.datadir.path / STATUS_FILE
    failing = False
    try:
        while True:
            status = {
                "pid": os.getpid(),
                **ports,
                "peers": runtime.connected_peers,
                "location": runtime.location,
                "noderef": runtime.noderef_text().replace("\n", ""),
                "updated": time.time(),
            }
            tmp = path.with_name(f".{STATUS_FILE}.tmp")
            try:
                tmp.write_text(json.dumps(status))
                os.replace(tmp, path)
            except OSError as exc:  # a full disk must not stop the node
                if not failing:
                    log.warning(
                        "cannot write %s (%s): scripts will see stale status; free disk space",
                        path,
                        exc.strerror,
                    )
                failing = True
            else:
                failing = False
            await anyio.sleep(STATUS_INTERVAL)
    finally:
        _remove_status(runtime.datadir.path)


def _remove_status(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (data_dir / STATUS_FILE).unlink()


def _noderef_command(args: argparse.Namespace) -> int:
    """Print the reference from the data directory, running node or not."""
    try:
        ref = offline_noderef(DataDir.open(args.data_dir))
    except DataDirError as exc:
        print(f"samizdat: {exc}", file=sys.stderr)
        return 1
    print(ref.to_text())
    return 0


def offline_noderef(datadir: DataDir, *, opennet: bool | None = None) -> SignedNodeRef:
    """This node's reference without it running: fixes its port and location in
    state.toml (choosing them if new), so the node uses what friends were given."""
    identity = datadir.identity()
    state = datadir.read_state()
    config = datadir.read_config()
    port = state.get("listen_port")
    if not isinstance(port, int) or port == 0:
        port = state["listen_port"] = _free_port()
    location = state.get("location")
    if not isinstance(location, float):
        location = state["location"] = random.SystemRandom().random()
    datadir.write_state(state)
    node = config.get("node", {}) if isinstance(config.get("node"), dict) else {}
    host = str(node.get("advertise", "127.0.0.1"))
    if opennet is None:
        opennet = bool(node.get("opennet", True))
    return make_noderef(
        identity,
        addresses=(f"{host}:{port}",),
        location=location,
        opennet=opennet,
        issued=int(time.time()),
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _peer_add_command(args: argparse.Namespace) -> int:
    text = " ".join(args.ref)
    if text == "-":
        text = sys.stdin.read()
    elif len(args.ref) == 1 and Path(text).is_file():
        text = Path(text).read_text("utf-8")
    try:
        ref = parse_noderef(text, now=time.time())
        datadir = DataDir.open(args.data_dir)
        if ref.identity == datadir.identity().public_key:
            print("samizdat: that is this node's own reference", file=sys.stderr)
            return 2
        added = datadir.add_peer(ref)
    except NodeRefError as exc:
        print(f"samizdat: {exc}", file=sys.stderr)
        return 2
    except DataDirError as exc:
        print(f"samizdat: {exc}", file=sys.stderr)
        return 1
    name = b64encode(ref.identity)[:8]
    if added:
        print(f"added peer {name}; a running node connects to it within seconds")
    else:
        print(f"peer {name} is already known (with an equally recent reference)")
    return 0


def _peer_list_command(args: argparse.Namespace) -> int:
    try:
        refs, problems = DataDir.open(args.data_dir).read_peers()
    except DataDirError as exc:
        print(f"samizdat: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    for ref in refs:
        kind = "opennet" if ref.ref.opennet else "friend"
        print(f"{b64encode(ref.identity)[:8]}  {kind:7}  location {ref.ref.location:.4f}")
    return 0
