"""A local test network of real node processes on 127.0.0.1: ``samizdat testnet``.

Node 0 starts first and is the seed; the others get its reference in a
seednodes file and join the opennet by announcement. Each node runs as
``python -m node.cli node run`` with its own data directory under ``DIR`` and
free ports, and reports the ports it bound in ``DIR/<name>/node.json``. Once
every node has peers, ``DIR/testnet.json`` is written (a ``nodes`` list: name,
pid, data_dir, peer_port, fcp_port, http_port). SIGINT or SIGTERM stops every
node. :class:`Testnet` is the same thing as a context manager, for tests and
benchmarks, with ``kill`` and ``restart`` for failure experiments.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from node.daemon import STATUS_FILE, offline_noderef
from node.net.datadir import DataDir


class TestnetError(RuntimeError):
    """The test network could not be started; the message says which node and why."""


@dataclass
class TestnetNode:
    name: str
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid if self.process is not None else 0

    @property
    def fcp_port(self) -> int:
        return int(self.status.get("fcp_port", 0))

    @property
    def http_port(self) -> int:
        return int(self.status.get("http_port", 0))

    @property
    def peer_port(self) -> int:
        return int(self.status.get("peer_port", 0))

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.pid,
            "data_dir": str(self.data_dir),
            "peer_port": self.peer_port,
            "fcp_port": self.fcp_port,
            "http_port": self.http_port,
        }


class Testnet:
    """``with Testnet(n, dir) as net:`` — n node processes, connected, stopped on exit."""

    def __init__(
        self,
        nodes: int,
        directory: Path,
        *,
        store_size: str = "256M",
        opennet: bool = True,
        min_peers: int | None = None,
        timeout: float = 60.0,
        extra_args: tuple[str, ...] = (),
        node_args: Mapping[int, Sequence[str]] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``node_args`` adds flags for single nodes (by index), ``env`` variables for all."""
        if nodes < 1:
            raise ValueError("a test network needs at least one node")
        self.directory = Path(directory)
        self.store_size = store_size
        self.opennet = opennet
        self.timeout = timeout
        self.extra_args = extra_args
        self.node_args = dict(node_args or {})
        self.env = {**os.environ, **env} if env else None
        self.min_peers = min(2, nodes - 1) if min_peers is None else min_peers
        self.nodes = [TestnetNode(f"node{i}", self.directory / f"node{i}") for i in range(nodes)]

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            if not self.opennet:
                self._start_darknet()
                return
            seed = self.nodes[0]
            self._spawn(seed)
            self._wait_for(lambda: self._refresh(seed) and bool(seed.status), "the seed node")
            seeds = self.directory / "seednodes"
            seeds.write_text(seed.status["noderef"] + "\n")
            for node in self.nodes[1:]:
                self._spawn(node, seeds)
            self.wait_connected()
            self._write_description()
        except BaseException:
            self.stop()
            raise

    def _start_darknet(self) -> None:
        """Friends only: a ring with chords (i befriends i+1 and i+2), exchanged offline."""
        dirs = [DataDir.open(node.data_dir) for node in self.nodes]
        refs = [offline_noderef(d, opennet=False) for d in dirs]
        count = len(self.nodes)
        for i in range(count):
            for step in (1, 2):
                j = (i + step) % count
                if j != i:
                    dirs[i].add_peer(refs[j])
                    dirs[j].add_peer(refs[i])
        for node in self.nodes:
            self._spawn(node)
        self.wait_connected()
        self._write_description()

    def wait_connected(self, nodes: list[TestnetNode] | None = None) -> None:
        """Wait until every (living) node in ``nodes`` has at least ``min_peers`` peers."""
        targets = nodes if nodes is not None else [n for n in self.nodes if n.process]

        def ready() -> bool:
            return all(
                self._refresh(n) and n.status.get("peers", 0) >= self.min_peers for n in targets
            )

        self._wait_for(ready, "the network to connect")

    def stop(self) -> None:
        for node in self.nodes:
            self._terminate(node)
        with contextlib.suppress(FileNotFoundError):
            (self.directory / "testnet.json").unlink()

    def kill(self, index: int) -> None:
        """SIGKILL one node (an abrupt failure: no clean shutdown)."""
        node = self.nodes[index]
        if node.process is not None and node.process.poll() is None:
            node.process.kill()
            node.process.wait()
        node.process = None
        node.status = {}
        with contextlib.suppress(FileNotFoundError):
            (node.data_dir / STATUS_FILE).unlink()

    def restart(self, index: int) -> None:
        """Start a stopped or killed node again with its data directory intact."""
        node = self.nodes[index]
        self._terminate(node)
        seeds = self.directory / "seednodes"
        self._spawn(node, seeds if index and self.opennet else None)
        self._wait_for(lambda: self._refresh(node) and bool(node.status), node.name)

    def __enter__(self) -> Testnet:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- helpers -----------------------------------------------------------------

    def _spawn(self, node: TestnetNode, seeds: Path | None = None) -> None:
        node.data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            (node.data_dir / STATUS_FILE).unlink()
        args = [
            sys.executable,
            "-m",
            "node.cli",
            "node",
            "run",
            "--data-dir",
            str(node.data_dir),
            "--fcp-port",
            "0",
            "--http-port",
            "0",
            "--store-size",
            self.store_size,
            "--fast-store",
            "--opennet" if self.opennet else "--darknet",
            *self.extra_args,
            *self.node_args.get(self.nodes.index(node), ()),
        ]
        if seeds is not None:
            args += ["--seednodes", str(seeds)]
        log = (node.data_dir / "node.log").open("ab")
        try:
            node.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env
            )
        finally:
            log.close()
        node.status = {}

    def _refresh(self, node: TestnetNode) -> bool:
        if node.process is None:
            return False
        if node.process.poll() is not None:
            log = node.data_dir / "node.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise TestnetError(f"{node.name} exited with code {node.process.returncode}:\n{tail}")
        try:
            status = json.loads((node.data_dir / STATUS_FILE).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return True  # not written yet
        if status.get("pid") == node.process.pid:
            node.status = status
        return True

    def _wait_for(self, condition: Any, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TestnetError(f"timed out after {self.timeout:g} s waiting for {what}")
            time.sleep(0.1)

    def _terminate(self, node: TestnetNode) -> None:
        process = node.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        node.process = None
        node.status = {}

    def _write_description(self) -> None:
        description = {
            "nodes": [n.describe() for n in self.nodes],
            "seednodes": str(self.directory / "seednodes"),
        }
        path = self.directory / "testnet.json"
        tmp = path.with_name(".testnet.json.tmp")
        tmp.write_text(json.dumps(description, indent=2))
        os.replace(tmp, path)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "testnet", help="run N real nodes on 127.0.0.1 as a local test network"
    )
    parser.add_argument("--nodes", type=int, default=6, metavar="N")
    parser.add_argument("--dir", type=Path, required=True, metavar="DIR")
    parser.add_argument("--store-size", default="256M", metavar="SIZE")
    parser.add_argument("--darknet", action="store_true", help="friends only (a ring of friends)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for peers")
    parser.set_defaults(handler=_testnet_command)


def _testnet_command(args: argparse.Namespace) -> int:
    net = Testnet(
        args.nodes,
        args.dir,
        store_size=args.store_size,
        timeout=args.timeout,
        opennet=not args.darknet,
    )
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        net.start()
    except TestnetError as exc:
        print(f"samizdat: {exc}", file=sys.stderr)
        return 1
    print(f"{args.nodes} nodes connected; see {args.dir / 'testnet.json'}", flush=True)
    try:
        while not stop:
            time.sleep(0.2)
            for node in net.nodes:
                if node.process is not None and node.process.poll() is not None:
                    print(f"{node.name} exited with code {node.process.returncode}", flush=True)
                    node.process = None
    finally:
        net.stop()
    return 0
