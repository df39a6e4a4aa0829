"""Samizdat's side: a 6-node testnet; insert over FCP at node 0, fetch over FCP at node 0.

Run by ``bench.peers`` inside a network namespace. The inserting node keeps
none of its own inserts (it must not be recognisable as the source), so node 0
holds none of a file it has just inserted: its fetch crosses the network.
Every repetition moves a fresh random file, so a fetch never finds blocks that
an earlier fetch cached. How many blocks node 0 held is noted before each fetch.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from bench.peers.common import MIB, CPUMeter, Results, Stall, load_files, runner_args, timed
from node.fcp.client import FCPClient
from node.testnet import Testnet

NODES = 6
INSERTER = 0
FETCHER = 0


def call(timeout: float, fn: Callable[[], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        try:
            with anyio.fail_after(timeout):
                return await fn()
        except TimeoutError:
            raise Stall("samizdat") from None

    return anyio.run(main)


def main() -> None:
    args = runner_args(__doc__.split("\n")[0]).parse_args()
    results = Results("Samizdat", args.out)
    directory = args.work / "testnet"
    meter = CPUMeter(str(directory))
    t0 = time.perf_counter()
    with Testnet(NODES, directory, store_size="4G", timeout=120) as net:
        results.notes.append(
            f"Samizdat: {NODES}-node opennet testnet, started and connected in "
            f"{time.perf_counter() - t0:.1f} s; insert over FCP at node {INSERTER} (data "
            f"inline), fetch over FCP at node {FETCHER}, the inserter, which keeps none of "
            "its own inserts; a fresh file each repetition"
        )
        port_in = net.nodes[INSERTER].fcp_port
        port_out = net.nodes[FETCHER].fcp_port
        for size, rep, path in load_files(args.files):
            data = path.read_bytes()

            async def insert(data: bytes = data) -> str:
                async with FCPClient.connect(port=port_in) as fcp:
                    return await fcp.put("CHK@", data, content_type="application/octet-stream")

            async def held() -> str:
                async with FCPClient.connect(port=port_out) as fcp:
                    info = await fcp.node_info(with_volatile=True)
                return f"{info.get('volatile.storeKeys')}+{info.get('volatile.cacheKeys')}"

            try:
                uri = timed(meter, results.get("insert", size), call, args.timeout, insert)
            except Exception:
                results.save()
                continue
            before = call(30, held)

            async def fetch(uri: str = uri) -> bytes:
                async with FCPClient.connect(port=port_out) as fcp:
                    got = await fcp.get(uri)
                assert got.data is not None
                return got.data

            measure = results.get("fetch", size)
            try:
                got = timed(meter, measure, call, args.timeout, fetch)
            except Exception:
                results.save()
                continue
            if got != data:
                measure.errors.append(f"repetition {rep}: the fetched bytes differ")
                measure.seconds.pop()
                measure.cpu.pop()
            results.notes.append(
                f"Samizdat fetch {size // MIB} MiB #{rep}: node {FETCHER} held {before} "
                "store+cache blocks before"
            )
            results.save()
    results.save()


if __name__ == "__main__":
    main()
