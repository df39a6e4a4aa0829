"""Resilience scenarios on real node processes on 127.0.0.1, for tests and the report.

Each scenario starts a :class:`node.testnet.Testnet`, does its experiment over
FCP, stops every process on every path, and returns a small result dataclass
with the figures (``summary()`` is one line for humans). The e2e tests
(``tests/e2e/test_hostile.py``) assert on them; ``bench/resilience_report.py``
prints them.

- :func:`hostile`: a share of the nodes misbehave (``--misbehave MODE``, see
  :mod:`node.net.misbehave`); honest nodes insert files and fetch each other's.
- :func:`churn`: kill a share of the nodes during one big fetch.
- :func:`crash`: ``kill -9`` one node again and again during inserts and
  persistent fetches; check its store, its acknowledged inserts and its queue.
- :func:`full_disk`: a node whose data directory is on a tiny filesystem.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from crypto.encoding import b64encode
from node.fcp.client import FCPClient
from node.fcp.client_types import FCPError
from node.net.datadir import DataDir
from node.net.misbehave import ENV_SWITCH, GRACE, MODES, OVERSIZE_INTERVAL
from node.testnet import Testnet
from store import BlockStore, StoreConfig

TESTING_ENV = {ENV_SWITCH: "1"}


def p99(values: Sequence[float]) -> float:
    """The 99th percentile (nearest rank); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def identity_name(data_dir: Path) -> str:
    """The short peer name FCP ListPeers shows for the node in ``data_dir``."""
    return b64encode(DataDir.open(data_dir).identity().public_key)[:8]


async def _put(port: int, data: bytes, timeout: float) -> str:
    async with FCPClient.connect(port=port) as fcp:
        with anyio.fail_after(timeout):
            return await fcp.put(data=data)


async def _get(port: int, uri: str, timeout: float) -> bytes | None:
    async with FCPClient.connect(port=port) as fcp:
        with anyio.fail_after(timeout):
            return (await fcp.get(uri)).data


# --- hostile peers ----------------------------------------------------------------


LINK_SETTLE = 40.0  # seconds, at most, for a link-killing node's last links to go


@dataclass
class HostileResult:
    nodes: int
    hostile: dict[int, str]  # node index -> mode
    inserts: int
    insert_failures: int
    fetches: int
    successes: int
    wrong_bytes: int
    latencies: list[float] = field(default_factory=list)
    hostile_links: dict[str, int] = field(default_factory=dict)  # mode -> honest links left
    honest_links: int = 0
    shunned_log_lines: int = 0
    honest_alive: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def success_rate(self) -> float:
        return self.successes / self.fetches if self.fetches else 0.0

    @property
    def p99_latency(self) -> float:
        return p99(self.latencies)

    def summary(self) -> str:
        modes = ", ".join(sorted(self.hostile.values()))
        return (
            f"hostile: {self.nodes} nodes, {len(self.hostile)} misbehaving ({modes}): "
            f"{self.successes}/{self.fetches} fetches succeeded ({self.success_rate:.1%}), "
            f"{self.wrong_bytes} returned wrong bytes; honest fetch latency p99 "
            f"{self.p99_latency:.2f} s (median {p99_median(self.latencies):.2f} s); "
            f"{self.insert_failures}/{self.inserts} inserts failed; links honest nodes keep to "
            f"misbehaving ones at the end: {self.hostile_links}; shunning log lines "
            f"{self.shunned_log_lines}; {self.seconds:.0f} s"
        )


def p99_median(values: Sequence[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


async def hostile(
    directory: Path,
    *,
    nodes: int = 10,
    share: float = 0.2,
    modes: Sequence[str] = MODES,
    files: int = 6,
    file_size: int = 96 * 1024,
    fetchers_per_file: int = 3,
    concurrency: int = 4,
    fetch_timeout: float = 120.0,
    settle: float = 12.0,
    seed: int = 1,
) -> HostileResult:
    """Insert ``files`` files at honest nodes; fetch each at ``fetchers_per_file`` others.

    The misbehaving nodes are the last ``round(nodes * share)`` (node 0, the
    seed, is honest), their modes taken from ``modes`` in turn.
    """
    rng = random.Random(seed)
    count = max(1, round(nodes * share))
    bad = {nodes - 1 - k: modes[k % len(modes)] for k in range(count)}
    honest = [i for i in range(nodes) if i not in bad]
    node_args = {i: ("--misbehave", mode) for i, mode in bad.items()}
    started = time.monotonic()
    result = HostileResult(nodes, bad, 0, 0, 0, 0, 0)
    with Testnet(
        nodes, directory, node_args=node_args, env=TESTING_ENV, timeout=max(60.0, 4.0 * nodes)
    ) as net:
        up = time.monotonic()
        await anyio.sleep(settle)  # let the hostile nodes start misbehaving (GRACE)
        uploads: list[tuple[int, bytes, str]] = []
        limiter = anyio.CapacityLimiter(concurrency)

        async def insert(n: int, at: int, data: bytes) -> None:
            async with limiter:
                result.inserts += 1
                try:
                    uploads.append(
                        (at, data, await _put(net.nodes[at].fcp_port, data, fetch_timeout))
                    )
                except (FCPError, TimeoutError) as exc:
                    result.insert_failures += 1
                    why = str(exc) or type(exc).__name__
                    result.failures.append(f"insert {n} at node{at}: {why}")

        async with anyio.create_task_group() as tg:
            for n in range(files):
                tg.start_soon(insert, n, honest[n % len(honest)], rng.randbytes(file_size))

        async def fetch(at: int, data: bytes, uri: str) -> None:
            async with limiter:
                t0 = time.monotonic()
                try:
                    got = await _get(net.nodes[at].fcp_port, uri, fetch_timeout)
                except (FCPError, TimeoutError) as exc:
                    result.failures.append(f"fetch at node{at}: {str(exc) or type(exc).__name__}")
                    return
                finally:
                    result.fetches += 1
                if got == data:
                    result.successes += 1
                    result.latencies.append(time.monotonic() - t0)
                else:
                    result.wrong_bytes += 1
                    result.failures.append(f"fetch at node{at}: WRONG BYTES")

        async with anyio.create_task_group() as tg:
            for inserter, data, uri in uploads:
                # The inserter keeps none of what it inserted: its fetch crosses
                # the network, where the hostile nodes are.
                others = [i for i in honest if i != inserter]
                chosen = rng.sample(others, min(fetchers_per_file - 1, len(others)))
                for at in [inserter, *chosen]:
                    tg.start_soon(fetch, at, data, uri)
        # Give a link-killing node time for three faults at each peer (a shunning)
        # before counting who still links to whom.
        await anyio.sleep(max(0.0, up + GRACE + 6 * OVERSIZE_INTERVAL - time.monotonic()))
        names = {identity_name(net.nodes[i].data_dir): mode for i, mode in bad.items()}

        async def count_links() -> None:
            result.hostile_links = dict.fromkeys(bad.values(), 0)
            result.honest_links = result.honest_alive = 0
            for i in honest:
                if not net.nodes[i].alive:
                    continue
                result.honest_alive += 1
                async with FCPClient.connect(port=net.nodes[i].fcp_port) as fcp:
                    for peer in await fcp.list_peers():
                        mode = names.get(peer.get("identity", ""))
                        if mode is None:
                            result.honest_links += 1
                        else:
                            result.hostile_links[mode] += 1

        # Reconnection back-off stretches on a loaded machine: give a link-killing
        # node up to LINK_SETTLE more seconds to be shunned before the final count.
        settle = time.monotonic() + LINK_SETTLE
        await count_links()
        while result.hostile_links.get("oversize", 0) > 1 and time.monotonic() < settle:
            await anyio.sleep(2.0)
            await count_links()
        for i in honest:
            log = net.nodes[i].data_dir / "node.log"
            text = log.read_text(errors="replace") if log.exists() else ""
            result.shunned_log_lines += text.count("shunning a peer")
    result.seconds = time.monotonic() - started
    return result


# --- churn ------------------------------------------------------------------------


@dataclass
class ChurnResult:
    nodes: int
    killed: list[int]
    size: int
    ok: bool
    correct: bool
    error: str
    insert_seconds: float
    fetch_seconds: float

    def summary(self) -> str:
        outcome = (
            "completed with correct bytes"
            if self.ok and self.correct
            else ("completed with WRONG bytes" if self.ok else f"failed: {self.error}")
        )
        return (
            f"churn: {self.size / 2**20:g} MiB fetch on {self.nodes} nodes, "
            f"{len(self.killed)} killed during it: {outcome} in {self.fetch_seconds:.1f} s "
            f"(insert {self.insert_seconds:.1f} s)"
        )


async def churn(
    directory: Path,
    *,
    nodes: int = 12,
    size: int = 8 * 2**20,
    share: float = 0.3,
    kill_spacing: float = 0.5,
    timeout: float = 600.0,
    seed: int = 2,
) -> ChurnResult:
    """Insert ``size`` bytes at node 1 and fetch them there, killing ``share`` of the
    nodes meanwhile. An inserter keeps none of what it inserts, so every block of
    the fetch comes over the network, some of it from the nodes being killed."""
    rng = random.Random(seed)
    data = rng.randbytes(size)
    victims = rng.sample(range(3, nodes), max(1, round(nodes * share)))
    with Testnet(nodes, directory) as net:
        t0 = time.monotonic()
        uri = await _put(net.nodes[1].fcp_port, data, timeout)
        insert_seconds = time.monotonic() - t0
        got: bytes | None = None
        error = ""
        t0 = time.monotonic()

        async def killer() -> None:
            for victim in victims:
                await anyio.sleep(kill_spacing)
                net.kill(victim)

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(killer)
                got = await _get(net.nodes[1].fcp_port, uri, timeout)
        except (FCPError, TimeoutError) as exc:
            error = str(exc) or "timed out"
        fetch_seconds = time.monotonic() - t0
    return ChurnResult(
        nodes, victims, size, got is not None, got == data, error, insert_seconds, fetch_seconds
    )


# --- crashes ----------------------------------------------------------------------


@dataclass
class CrashResult:
    rounds: int = 0
    integrity_ok: int = 0
    integrity_errors: list[str] = field(default_factory=list)
    acknowledged: int = 0
    acknowledged_lost: list[str] = field(default_factory=list)
    persistent: int = 0
    persistent_finished: int = 0
    persistent_failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"crash: {self.rounds} kill -9 rounds; store integrity ok {self.integrity_ok}/"
            f"{self.rounds}; acknowledged inserts lost {len(self.acknowledged_lost)}/"
            f"{self.acknowledged}; persistent fetches finished {self.persistent_finished}/"
            f"{self.persistent}; {self.seconds:.0f} s"
        )


def check_store(data_dir: Path) -> str:
    """'ok', or what is wrong with the (stopped) node's datastore file."""
    path = DataDir.open(data_dir).store_path / "datastore.sqlite"
    if not path.exists():
        return "ok"
    try:
        with BlockStore.open(path, StoreConfig(size_bytes=2**40)):
            pass
        connection = sqlite3.connect(path)
        try:
            rows = connection.execute("PRAGMA integrity_check").fetchall()
        finally:
            connection.close()
    except Exception as exc:  # any failure to open is the finding
        return f"{type(exc).__name__}: {exc}"
    return "ok" if rows == [("ok",)] else f"integrity_check: {rows[:5]}"


async def crash(
    directory: Path,
    *,
    kills: int = 5,
    nodes: int = 4,
    file_size: int = 512 * 1024,
    max_wait: float = 3.0,
    finish_timeout: float = 120.0,
    seed: int = 3,
) -> CrashResult:
    """Kill node 1 ``kills`` times at random moments while it inserts and fetches.

    Each round node 1 queues a persistent (global, forever) fetch of a file
    node 0 inserted, and inserts a new file itself; after a random delay it is
    killed with SIGKILL. Its store is checked while it is dead; after restarting,
    every insert it had acknowledged must still be fetchable, and at the end
    every persistent fetch must finish with the right bytes.
    """
    rng = random.Random(seed)
    result = CrashResult()
    started = time.monotonic()
    victim = 1
    wanted: dict[str, bytes] = {}  # identifier -> bytes of the persistent fetches
    acked: list[tuple[str, bytes]] = []
    with Testnet(nodes, directory) as net:
        for round_ in range(kills):
            source = rng.randbytes(file_size)
            uri = await _put(net.nodes[0].fcp_port, source, finish_timeout)
            identifier = f"crash-{round_}"
            wanted[identifier] = source
            done = rng.randbytes(file_size)  # acknowledged before the kill
            acked.append((await _put(net.nodes[victim].fcp_port, done, finish_timeout), done))
            mine = rng.randbytes(file_size)

            async def insert(data: bytes = mine) -> None:
                with contextlib.suppress(FCPError, OSError):
                    acked.append((await _put(net.nodes[victim].fcp_port, data, 60), data))

            await _queue_get(net.nodes[victim].fcp_port, uri, identifier)
            async with anyio.create_task_group() as tg:
                tg.start_soon(insert)
                await anyio.sleep(rng.uniform(0.05, max_wait))
                net.kill(victim)
            result.rounds += 1
            verdict = check_store(net.nodes[victim].data_dir)
            if verdict == "ok":
                result.integrity_ok += 1
            else:
                result.integrity_errors.append(f"round {round_}: {verdict}")
            net.restart(victim)
            net.wait_connected([net.nodes[victim]])
        result.acknowledged = len(acked)
        for uri, data in acked:
            try:
                got = await _get(net.nodes[victim].fcp_port, uri, finish_timeout)
            except (FCPError, TimeoutError) as exc:
                got = None
                result.acknowledged_lost.append(f"{uri[:40]}: {str(exc) or type(exc).__name__}")
            if got is not None and got != data:
                result.acknowledged_lost.append(f"{uri[:40]}: WRONG BYTES")
        result.persistent = len(wanted)
        await _await_persistent(net.nodes[victim].fcp_port, wanted, finish_timeout, result)
    result.seconds = time.monotonic() - started
    return result


async def _queue_get(port: int, uri: str, identifier: str) -> None:
    """Queue a global, persistent fetch and return once the node has taken it."""
    queued = anyio.Event()

    def on_message(msg: Any) -> None:
        if getattr(msg, "name", "") == "PersistentGet":
            queued.set()

    async with FCPClient.connect(port=port) as fcp, anyio.create_task_group() as tg:

        async def get() -> None:
            with contextlib.suppress(FCPError):
                await fcp.get(
                    uri, persistence="forever", global_=True, identifier=identifier,
                    progress=on_message,
                )  # fmt: skip
            queued.set()

        tg.start_soon(get)
        with anyio.fail_after(30):
            await queued.wait()
        tg.cancel_scope.cancel()


async def _await_persistent(
    port: int, wanted: dict[str, bytes], timeout: float, result: CrashResult
) -> None:
    async with FCPClient.connect(port=port) as fcp:
        await fcp.watch_global()
        pending = set(wanted)
        with anyio.move_on_after(timeout):
            while pending:
                listing = await fcp.list_persistent()
                for msg in listing:
                    ident = msg.get("Identifier")
                    if ident not in pending:
                        continue
                    if msg.name == "GetFailed":
                        result.persistent_failures.append(f"{ident}: {msg.get('CodeDescription')}")
                        pending.discard(ident)
                    elif msg.name == "DataFound":
                        pending.discard(ident)
                        if await fcp.get_data(ident, global_=True) == wanted[ident]:
                            result.persistent_finished += 1
                        else:
                            result.persistent_failures.append(f"{ident}: WRONG BYTES")
                listed = {m.get("Identifier") for m in listing}
                for ident in [i for i in pending if i not in listed]:
                    result.persistent_failures.append(f"{ident}: lost from the queue")
                    pending.discard(ident)
                await anyio.sleep(0.3)
        for ident in pending:
            result.persistent_failures.append(f"{ident}: not finished after {timeout:g} s")


# --- a full disk --------------------------------------------------------------------


@dataclass
class DiskResult:
    mode: str  # "full disk" or "store limit"
    alive: bool
    warnings: list[str]
    fetch_ok: bool
    error: str = ""

    def summary(self) -> str:
        return (
            f"{self.mode}: node {'still running' if self.alive else 'DIED'}, "
            f"fetch afterwards {'ok' if self.fetch_ok else 'failed'}, "
            f"{len(self.warnings)} warning lines"
            + (f" (e.g. {self.warnings[0]!r})" if self.warnings else "")
        )


class LoopMountUnavailable(RuntimeError):
    """No loop-mounted filesystem here (not root, or no loop devices)."""


@contextlib.contextmanager
def small_filesystem(directory: Path, size_mib: int = 64) -> Any:
    """Mount a fresh ext4 image of ``size_mib`` MiB at ``directory/mnt``; unmount on exit."""
    if os.geteuid() != 0 or shutil.which("mkfs.ext4") is None:
        raise LoopMountUnavailable("needs root and mkfs.ext4 to loop-mount a small filesystem")
    image = directory / "disk.img"
    mount = directory / "mnt"
    mount.mkdir(parents=True, exist_ok=True)
    with image.open("wb") as f:
        f.truncate(size_mib * 2**20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    done = subprocess.run(
        ["mount", "-o", "loop", str(image), str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise LoopMountUnavailable(f"mount -o loop failed: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        for _ in range(10):
            if subprocess.run(["umount", str(mount)], capture_output=True).returncode == 0:
                break
            time.sleep(0.5)
        else:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)
        image.unlink(missing_ok=True)


def _warnings(log: Path) -> list[str]:
    text = log.read_text(errors="replace") if log.exists() else ""
    return [line for line in text.splitlines() if " WARNING " in line or " ERROR " in line]


async def full_disk(
    directory: Path, *, size_mib: int = 64, files: int = 6, file_size: int = 4 * 2**20
) -> DiskResult:
    """Node 2's data directory lives on a small filesystem we fill to the brim first."""
    directory.mkdir(parents=True, exist_ok=True)
    with small_filesystem(directory, size_mib) as mount:
        (mount / "node2").mkdir()
        # The log goes elsewhere (as a service's journal would): it outlives the mount.
        (mount / "node2" / "node.log").symlink_to(directory / "node2.log")
        net_dir = directory / "net"
        net_dir.mkdir()
        (net_dir / "node2").symlink_to(mount / "node2")
        with Testnet(3, net_dir) as net:
            filler = mount / "filler"
            with filler.open("wb") as f, contextlib.suppress(OSError):
                while True:
                    f.write(bytes(2**20))
                    f.flush()
            return await _pressure(net, 2, "full disk", files, file_size)


async def store_limit(directory: Path, *, files: int = 6, file_size: int = 2 * 2**20) -> DiskResult:
    """Node 2's store and cache are far smaller than what passes through it."""
    with Testnet(3, directory, node_args={2: ("--store-size", "1M")}) as net:
        return await _pressure(net, 2, "store limit", files, file_size)


async def _pressure(net: Testnet, victim: int, mode: str, files: int, file_size: int) -> DiskResult:
    rng = random.Random(4)
    error = ""
    uris: list[tuple[str, bytes]] = []
    port = net.nodes[victim].fcp_port
    for _ in range(files):
        data = rng.randbytes(file_size)
        try:
            uri = await _put(net.nodes[0].fcp_port, data, 120)
            uris.append((uri, data))
            await _attempt(_get(port, uri, 120))  # passes through (and into) the victim
            await _attempt(_put(port, rng.randbytes(file_size), 120))
            async with FCPClient.connect(port=port) as fcp:
                await _attempt(fcp.put(data=data, persistence="forever", global_=True))
        except (FCPError, TimeoutError, OSError) as exc:
            error = error or str(exc)
    alive = net.nodes[victim].alive
    fetch_ok = False
    if alive and uris:
        try:
            fetch_ok = await _get(net.nodes[1].fcp_port, uris[-1][0], 120) == uris[-1][1]
        except (FCPError, TimeoutError, OSError) as exc:
            error = f"fetch afterwards: {str(exc) or type(exc).__name__}"
    return DiskResult(
        mode, alive, _warnings(net.nodes[victim].data_dir / "node.log"), fetch_ok, error
    )


async def _attempt(call: Awaitable[object]) -> None:
    with contextlib.suppress(FCPError, TimeoutError):
        await call


Scenario = Callable[..., Awaitable[Any]]


async def run_all(directory: Path, *, soak: bool = False) -> list[Any]:
    """Every scenario at CI sizes (``soak``: the full ones), one after another.

    Returns the result objects (each has ``summary()``); the full-disk scenario
    is left out where no loop mount is possible.
    """
    directory.mkdir(parents=True, exist_ok=True)
    results: list[Any] = []
    if soak:
        results.append(
            await hostile(directory / "hostile", nodes=30, files=20, fetchers_per_file=5,
                          fetch_timeout=300)
        )  # fmt: skip
        results.append(await churn(directory / "churn", size=64 * 2**20, kill_spacing=2.0))
        results.append(await crash(directory / "crash", kills=50))
    else:
        results.append(await hostile(directory / "hostile", modes=("corrupt", "oversize"), files=4))
        results.append(await churn(directory / "churn"))
        results.append(await crash(directory / "crash", kills=5))
    with contextlib.suppress(LoopMountUnavailable):
        results.append(await full_disk(directory / "disk"))
    results.append(await store_limit(directory / "limit"))
    return results
