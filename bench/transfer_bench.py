"""Transfer figures: 32 KiB block fetches through a chain of real nodes, a bare AEAD relay
baseline over the same number of hops, and the peak memory of an idle node with 20 peers.

Run: ``.venv/bin/python -m bench.transfer_bench [--blocks N] [--hops 4]``. Prints
figures; never passes or fails on time.

1. **Samizdat chain.** Nodes N0..N(hops) form a line of darknet friends on
   127.0.0.1, so a request must cross every link. N1..N(hops) are real node
   processes (``samizdat node run``); the fetcher N0 is a :class:`NodeRuntime`
   in this process (its ``fetch`` is the internal API a client uses). The holder's
   datastore is filled offline with distinct random 32 KiB CHK blocks before it
   starts, and every fetch asks for a block not fetched before, so no cache on
   the path can answer: each fetch is a local miss at N0..N(hops-1), a hit at
   the holder, and the block travels back through every relay, which caches it
   (part of the real cost). Every fetch must come back FOUND with the right key.
2. **Baseline.** The same shape without the node: relays that only move TCP
   bytes and re-encrypt each frame (open with the inbound link's key, seal with
   the outbound one: :mod:`crypto.frames`, :mod:`node.wire.framing`), each a
   process of its own, and a server process that answers every 32-byte request
   with a 32 KiB block. The client runs in this process, like N0. Its
   connections are the node's own (:class:`node.net.link.Connection`: frames
   split as they arrive, writes that do not wait), so both chains move bytes
   the same way and the ratio shows what the node adds. Both chains
   are up at once and each in-flight level runs on one, then the other, so both
   see the same machine load; besides MB/s and blocks/s, the CPU time each
   process spent per block is printed (steadier than wall time on a busy host).
3. **Idle RSS.** A hub node process with 20 friend processes (a darknet star):
   once the hub has 20 peers and has idled a few seconds, its VmHWM and VmRSS.

Every process started is stopped by its PID (SIGTERM, then SIGKILL) on every
path, including errors and Ctrl-C, and the temporary directory is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import anyio
import anyio.abc

import store
from crypto.blocks import Block, KeyKind
from crypto.frames import FrameOpener, FrameSealer
from crypto.keys import insert_chk
from node.core import Outcome
from node.daemon import STATUS_FILE, offline_noderef
from node.net.datadir import DataDir
from node.net.link import Connection, LinkClosed
from node.net.runtime import NodeRuntime
from node.net.settings import NodeSettings
from node.wire.framing import FrameDecoder, encode_frame

HOST = "127.0.0.1"
BLOCK_SIZE = 32 * 1024
REQUEST_SIZE = 32
STORE_SIZE = 256 * 1024 * 1024  # the default; the chain's grows to hold every block
IN_FLIGHT = (1, 16)
WARMUP = 32  # fetches before timing: links settled, code paths and SQLite pages warm
HUB_FRIENDS = 20
IDLE_SECONDS = 5.0
START_TIMEOUT = 120.0  # 2 cores starting 21 interpreters can take a while
STOP_TIMEOUT = 15.0
_GONE = (anyio.EndOfStream, LinkClosed, OSError)


# --- processes -------------------------------------------------------------------


class Processes:
    """Every child process this benchmark starts; :meth:`stop_all` ends each by its PID."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []

    def spawn(
        self, args: list[str], log: Path | None, *, pipe: bool = False
    ) -> subprocess.Popen[bytes]:
        out = log.open("ab") if log is not None else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                [sys.executable, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipe else out,
                stderr=out if pipe else subprocess.STDOUT,
            )
        finally:
            if log is not None and not isinstance(out, int):
                out.close()
        self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        with contextlib.suppress(ValueError):
            self._procs.remove(proc)

    def stop_all(self) -> None:
        procs = list(self._procs)
        for proc in procs:  # signal all first so they stop in parallel
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            self.stop(proc)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# --- node processes ----------------------------------------------------------------


@dataclass
class NodeProc:
    data_dir: Path
    proc: subprocess.Popen[bytes]

    def status(self) -> dict[str, object]:
        if self.proc.poll() is not None:
            log = self.data_dir / "node.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"node in {self.data_dir} exited ({self.proc.returncode}):\n{tail}")
        try:
            status = json.loads((self.data_dir / STATUS_FILE).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return status if status.get("pid") == self.proc.pid else {}

    def peers(self) -> int:
        peers = self.status().get("peers", -1)
        return peers if isinstance(peers, int) else -1


def spawn_node(procs: Processes, data_dir: Path, store_size: int = STORE_SIZE) -> NodeProc:
    with contextlib.suppress(FileNotFoundError):
        (data_dir / STATUS_FILE).unlink()
    args = ["-m", "node.cli", "node", "run", "--data-dir", str(data_dir), "--darknet"]
    args += ["--fast-store", "--store-size", str(store_size), "--fcp-port", "0", "--http-port", "0"]
    return NodeProc(data_dir, procs.spawn(args, data_dir / "node.log"))


def befriend(a: DataDir, b: DataDir) -> None:
    """Darknet friends exchange references offline (this also fixes each one's port)."""
    a.add_peer(offline_noderef(b, opennet=False))
    b.add_peer(offline_noderef(a, opennet=False))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


# --- 1. the Samizdat chain ------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    in_flight: int
    blocks: int
    seconds: float
    cpu: tuple[float, ...] = ()
    """CPU seconds each process used during the run: this process first, then the
    chain's processes from the client side to the holder (or server)."""

    @property
    def cpu_ms_per_block(self) -> list[float]:
        return [1000 * c / self.blocks for c in self.cpu]

    @property
    def blocks_per_s(self) -> float:
        return self.blocks / self.seconds

    @property
    def mb_per_s(self) -> float:
        return self.blocks * BLOCK_SIZE / 1e6 / self.seconds


def cpu_seconds(pids: list[int]) -> list[float]:
    """User + system CPU seconds of this process, then of each of ``pids``."""
    tick = os.sysconf("SC_CLK_TCK")
    result = []
    for pid in ["self", *pids]:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        result.append((int(fields[11]) + int(fields[12])) / tick)
    return result


async def measured(
    count: int, in_flight: int, pids: list[int], run: Callable[[], Awaitable[object]]
) -> Figure:
    """Time ``await run()`` and the CPU each process spent on it."""
    before = cpu_seconds(pids)
    start = time.perf_counter()
    await run()
    seconds = time.perf_counter() - start
    cpu = tuple(b - a for a, b in zip(before, cpu_seconds(pids), strict=True))
    return Figure(in_flight, count, seconds, cpu)


def make_blocks(count: int) -> list[Block]:
    return [insert_chk(os.urandom(BLOCK_SIZE))[0] for _ in range(count)]


def store_size_for(blocks: int) -> int:
    """A datastore whose store area (half of it) holds ``blocks`` with room to spare."""
    return max(STORE_SIZE, 3 * blocks * BLOCK_SIZE)


def prefill(datadir: DataDir, blocks: list[Block], size: int) -> None:
    """Put ``blocks`` in a node's store area before it runs, as its runtime would open it."""
    location = datadir.read_state()["location"]
    datadir.store_path.mkdir(mode=0o700, exist_ok=True)
    config = store.StoreConfig(size_bytes=size, synchronous=store.Synchronous.NORMAL)
    db = store.BlockStore.open(datadir.store_path / "datastore.sqlite", config, location=location)
    try:
        for start in range(0, len(blocks), 256):
            db.put_many(blocks[start : start + 256], store.Area.STORE)
        if db.stats().store.blocks != len(blocks):
            raise RuntimeError("the holder's store area evicted blocks while being filled")
    finally:
        db.close()


async def run_workers(
    keys: list[bytes], in_flight: int, fetch: Callable[[bytes], Awaitable[None]]
) -> None:
    """Run ``fetch`` over ``keys`` with ``in_flight`` concurrent workers."""
    it = iter(keys)

    async def worker() -> None:
        for key in it:
            await fetch(key)

    async with anyio.create_task_group() as tg:
        for _ in range(in_flight):
            tg.start_soon(worker)


@dataclass
class Chains:
    """Both chains, started and idle, ready to be measured turn by turn."""

    n0_dir: Path
    nodes: list[NodeProc]
    batches: list[list[bytes]]  # the warm-up keys, then one batch per in-flight level
    seed: bytes = b""
    baseline_port: int = 0
    baseline_pids: tuple[int, ...] = ()


def start_samizdat_chain(procs: Processes, root: Path, hops: int, per_level: int) -> Chains:
    dirs = [DataDir.open(root / f"n{i}") for i in range(hops + 1)]
    for a, b in itertools.pairwise(dirs):
        befriend(a, b)  # a line: N0 - N1 - ... - N(hops)
    blocks = make_blocks(WARMUP + per_level * len(IN_FLIGHT))
    size = store_size_for(len(blocks))
    prefill(dirs[-1], blocks, size)
    keys = [b.routing_key for b in blocks]
    batches = [keys[:WARMUP]] + [
        keys[WARMUP + i * per_level : WARMUP + (i + 1) * per_level] for i in range(len(IN_FLIGHT))
    ]
    nodes = [spawn_node(procs, d.path, size) for d in dirs[1:]]
    wait_until(lambda: all(n.status() for n in nodes), "the chain's node processes")
    return Chains(dirs[0].path, nodes, batches)


async def measure_both(chains: Chains) -> tuple[list[Figure], list[Figure]]:
    """N0 in this process, then each in-flight level on the Samizdat chain and on the
    baseline back to back, so both see the same machine load."""
    settings = NodeSettings(
        data_dir=chains.n0_dir,
        opennet=False,
        store_size=STORE_SIZE,
        store_synchronous_full=False,
    )
    runtime = NodeRuntime(settings, rng=random.Random(1))
    nodes = chains.nodes
    expected = [2] * (len(nodes) - 1) + [1]  # relays link both ways; the holder only back
    pids = [n.proc.pid for n in nodes]
    base_pids = list(chains.baseline_pids)

    def linked() -> bool:
        return runtime.connected_peers == 1 and [n.peers() for n in nodes] == expected

    async def fetch(key: bytes) -> None:
        result = await runtime.fetch(KeyKind.CHK, key)
        if result.outcome is not Outcome.FOUND or result.block is None:
            raise RuntimeError(f"a fetch through the chain ended {result.outcome.name}")
        if result.block.routing_key != key:
            raise RuntimeError("a fetch returned a block for another key")

    ours: list[Figure] = []
    base: list[Figure] = []
    async with anyio.create_task_group() as tg:
        await tg.start(runtime.run)
        with anyio.fail_after(START_TIMEOUT):
            while not linked():
                await anyio.sleep(0.2)
        seed = chains.seed
        end = await connect_frames(
            chains.baseline_port, link_key(seed, 0, "up"), link_key(seed, 0, "down")
        )
        try:
            warmup, *timed = chains.batches
            await run_workers(warmup, 1, fetch)
            await baseline_round(end, 1, len(warmup))
            for in_flight, keys in zip(IN_FLIGHT, timed, strict=True):
                run = functools.partial(run_workers, keys, in_flight, fetch)
                ours.append(await measured(len(keys), in_flight, pids, run))
                run = functools.partial(baseline_round, end, in_flight, len(keys))
                base.append(await measured(len(keys), in_flight, base_pids, run))
        finally:
            end.conn.abort()
        if not linked():
            raise RuntimeError("the chain changed shape during the run")
        tg.cancel_scope.cancel()
    return ours, base


# --- 2. the bare relay baseline ---------------------------------------------------------


def link_key(seed: bytes, link: int, direction: str) -> bytes:
    """The AEAD key of one direction (``up`` toward the server, ``down`` back) of one link."""
    return hashlib.blake2b(f"{link}/{direction}".encode(), key=seed, digest_size=32).digest()


class FrameStream:
    """One end of one baseline link: per-frame AEAD on the node's own connection class.

    :class:`node.net.link.Connection` is what a node's links run on: frames are
    split off as they arrive and woken up for in bursts, and writes are handed
    to the socket without waiting. The baseline uses it too, so that both
    chains move bytes the same way and the ratio shows what the node adds
    (codec, routing, verification, the datastore), not a difference in I/O.
    """

    def __init__(self, conn: Connection, send_key: bytes, recv_key: bytes) -> None:
        self.conn = conn
        self.sealer = FrameSealer(send_key)
        self.opener = FrameOpener(recv_key)
        conn.start_frames(FrameDecoder())

    async def receive(self) -> list[bytes]:
        """The plaintexts of every frame that has arrived (waiting for at least one)."""
        conn = self.conn
        while not conn.frames:
            if conn.end is not None:
                raise anyio.EndOfStream
            await conn.wait()
        opened = []
        while conn.frames:
            opened.append(self.opener.open(conn.pop_frame()))
        return opened

    def send(self, plains: list[bytes]) -> None:
        """Seal ``plains`` and hand them to the socket in one write."""
        self.conn.write(b"".join([encode_frame(self.sealer.seal(p)) for p in plains]))


async def connect_frames(port: int, send_key: bytes, recv_key: bytes) -> FrameStream:
    conn = Connection()
    await asyncio.get_running_loop().create_connection(lambda: conn, HOST, port)
    return FrameStream(conn, send_key, recv_key)


async def pump(src: FrameStream, dst: FrameStream) -> None:
    with contextlib.suppress(*_GONE):
        while True:
            dst.send(await src.receive())
    dst.conn.abort()


async def serve_one(handler: Callable[[Connection], Awaitable[None]]) -> None:
    """Listen on a free loopback port, print it, and hand the first connection to ``handler``."""
    accepted: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()

    def made(conn: Connection) -> None:
        if accepted.done():
            conn.abort()
        else:
            accepted.set_result(conn)

    server = await asyncio.get_running_loop().create_server(lambda: Connection(made), HOST, 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    try:
        conn = await accepted
    finally:
        server.close()
    try:
        await handler(conn)
    finally:
        conn.abort()


async def baseline_server(seed: bytes, link: int) -> None:
    blocks = [os.urandom(BLOCK_SIZE) for _ in range(16)]

    async def handle(conn: Connection) -> None:
        end = FrameStream(conn, link_key(seed, link, "down"), link_key(seed, link, "up"))
        with contextlib.suppress(*_GONE):
            while True:
                end.send([blocks[r[0] % len(blocks)] for r in await end.receive()])

    await serve_one(handle)


async def baseline_relay(seed: bytes, link: int, upstream_port: int) -> None:
    """Relay between link ``link`` (from the client side) and ``link + 1`` (to the server)."""

    async def handle(conn: Connection) -> None:
        down = FrameStream(conn, link_key(seed, link, "down"), link_key(seed, link, "up"))
        up = await connect_frames(
            upstream_port, link_key(seed, link + 1, "up"), link_key(seed, link + 1, "down")
        )
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump, down, up)
                tg.start_soon(pump, up, down)
        finally:
            up.conn.abort()

    await serve_one(handle)


async def baseline_round(end: FrameStream, in_flight: int, count: int) -> None:
    """``count`` request/response exchanges with at most ``in_flight`` outstanding."""
    window = anyio.Semaphore(in_flight)

    async def sender() -> None:
        for _ in range(count):
            await window.acquire()
            end.send([os.urandom(REQUEST_SIZE)])

    async with anyio.create_task_group() as tg:
        tg.start_soon(sender)
        received = 0
        while received < count:
            for block in await end.receive():
                if len(block) != BLOCK_SIZE:
                    raise RuntimeError("the baseline server sent a short block")
                received += 1
                window.release()


def read_port(proc: subprocess.Popen[bytes]) -> int:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        proc.wait(timeout=STOP_TIMEOUT)
        raise RuntimeError(f"a baseline process did not start (exit code {proc.returncode})")
    return int(line)


def start_baseline_chain(procs: Processes, root: Path, hops: int, chains: Chains) -> None:
    """Server and relays (one process each), started server side first; fills in ``chains``."""
    seed = os.urandom(32)
    me = ["-m", "bench.transfer_bench", "--seed", seed.hex()]
    log = root / "baseline.log"
    started = [procs.spawn([*me, "--role", "server", "--link", str(hops - 1)], log, pipe=True)]
    port = read_port(started[-1])
    for link in reversed(range(hops - 1)):  # relays R(hops-1) .. R1
        args = [*me, "--role", "relay", "--link", str(link), "--upstream", str(port)]
        started.append(procs.spawn(args, log, pipe=True))
        port = read_port(started[-1])
    chains.seed = seed
    chains.baseline_port = port
    chains.baseline_pids = tuple(p.pid for p in reversed(started))  # client side first


# --- 3. idle RSS of a node with 20 peers ----------------------------------------------


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line)


def idle_rss(procs: Processes, root: Path) -> tuple[int, int, int]:
    """(VmHWM kB, VmRSS kB, median friend VmRSS kB) of a hub with HUB_FRIENDS peers."""
    hub_dir = DataDir.open(root / "hub")
    friend_dirs = [DataDir.open(root / f"friend{i}") for i in range(HUB_FRIENDS)]
    for friend in friend_dirs:
        befriend(hub_dir, friend)
    started: list[NodeProc] = []
    try:
        hub = spawn_node(procs, hub_dir.path)
        started.append(hub)
        started += [spawn_node(procs, d.path) for d in friend_dirs]
        wait_until(lambda: hub.peers() == HUB_FRIENDS, f"the hub to have {HUB_FRIENDS} peers")
        time.sleep(IDLE_SECONDS)
        if hub.peers() != HUB_FRIENDS:
            raise RuntimeError("the hub lost peers while idle")
        status = proc_status(hub.proc.pid)
        friends = sorted(_kb(proc_status(n.proc.pid)["VmRSS"]) for n in started[1:])
        return _kb(status["VmHWM"]), _kb(status["VmRSS"]), friends[len(friends) // 2]
    finally:
        for node in started:
            if node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        for node in started:
            procs.stop(node.proc)


def _kb(text: str) -> int:
    return int(text.split()[0])


# --- report -----------------------------------------------------------------------------


def report(hops: int, ours: list[Figure], base: list[Figure], rss: tuple[int, int, int]) -> None:
    print(f"\n32 KiB blocks through {hops} links on {HOST} ({os.cpu_count()} CPUs)")
    print(f"{'':<36} {'MB/s':>9} {'blocks/s':>10} {'blocks':>7}")
    for label, figures in (("samizdat (N0 in-process)", ours), ("baseline (TCP + AEAD)", base)):
        for f in figures:
            name = f"{label}, {f.in_flight:>2} in flight"
            print(f"{name:<36} {f.mb_per_s:>9.2f} {f.blocks_per_s:>10.1f} {f.blocks:>7}")
    for o, b in zip(ours, base, strict=True):
        print(
            f"ratio samizdat/baseline, {o.in_flight:>2} in flight: {o.mb_per_s / b.mb_per_s:6.1%}"
        )
    print("\nCPU ms per block, by process (client side first; 'N0'/'client' is this process)")
    for label, names, figures in (
        ("samizdat", ["N0", *(f"N{i}" for i in range(1, hops + 1))], ours),
        ("baseline", ["client", *(f"R{i}" for i in range(1, hops)), "server"], base),
    ):
        for f in figures:
            cells = "  ".join(
                f"{n} {ms:5.2f}" for n, ms in zip(names, f.cpu_ms_per_block, strict=True)
            )
            total = sum(f.cpu_ms_per_block)
            print(f"{label}, {f.in_flight:>2} in flight: {cells}  (sum {total:.2f})")
    hwm, now, friend = rss
    if not hwm:
        print("\nidle RSS: skipped")
        return
    print(
        f"\nidle node with {HUB_FRIENDS} peers: "
        f"VmHWM {hwm / 1024:.1f} MiB, VmRSS {now / 1024:.1f} MiB"
    )
    print(f"(median friend with 1 peer: VmRSS {friend / 1024:.1f} MiB)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=400, help="fetches per in-flight level")
    parser.add_argument("--hops", type=int, default=4, help="links in the chain (at least 4)")
    parser.add_argument("--skip-rss", action="store_true", help="skip the 21-process RSS test")
    parser.add_argument("--role", choices=["server", "relay"], help=argparse.SUPPRESS)
    parser.add_argument("--seed", help=argparse.SUPPRESS)
    parser.add_argument("--link", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.role is not None:  # a baseline child process
        seed = bytes.fromhex(args.seed)
        signal.signal(signal.SIGTERM, _raise_interrupt)
        with contextlib.suppress(KeyboardInterrupt):
            if args.role == "server":
                anyio.run(baseline_server, seed, args.link)
            else:
                anyio.run(baseline_relay, seed, args.link, args.upstream)
        return
    if args.hops < 4:
        raise SystemExit("--hops must be at least 4")
    signal.signal(signal.SIGTERM, _raise_interrupt)
    procs = Processes()
    root = Path(tempfile.mkdtemp(prefix="samizdat-transfer-bench-"))
    try:
        print(
            f"starting both chains: {args.hops} links, {args.blocks} blocks per level", flush=True
        )
        chains = start_samizdat_chain(procs, root / "chain", args.hops, args.blocks)
        start_baseline_chain(procs, root, args.hops, chains)
        print("measuring ...", flush=True)
        ours, base = anyio.run(measure_both, chains)
        procs.stop_all()
        rss = (0, 0, 0)
        if not args.skip_rss:
            print(f"idle hub with {HUB_FRIENDS} friends ...", flush=True)
            rss = idle_rss(procs, root / "star")
        report(args.hops, ours, base, rss)
    finally:
        procs.stop_all()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("transfer_bench: interrupted; every process it started has been stopped")
