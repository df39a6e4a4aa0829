"""Files over a local test network: insert and fetch MB/s of one big file, beside raw blocks.

    .venv/bin/python -m bench.files_bench [--mib 64] [--nodes 6] [--window 32]

Starts ``--nodes`` real node processes (``node.testnet``), inserts ``--mib``
MiB of random bytes over FCP at node 0 (ClientPut, data inline), then fetches
it over FCP at node 0, which keeps none of what it inserted (so every block
crosses the network), and at node 3, which holds the blocks whose sink it was
and those its insert paths cached, checking the bytes each time. In the
same run it measures raw block transfer: node 0 inserts 32 KiB files (one data
block and one metadata block each), and node 5 fetches, ``--window`` at a
time, as many single 32 KiB CHK blocks as the file has data blocks (ClientGet
of each raw CHK: the file's FEC check blocks, which the file fetches never
asked for). Each line says how many blocks the node already held.

Prints figures; never passes or fails on time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import anyio

from bench.peers.common import CPUMeter, own_cpu, proc_cpu
from crypto.blocks import KeyKind
from crypto.keys import decode_block, request_key
from crypto.uri import CHKURI, parse_uri
from node.client.client import Client
from node.client.metadata import FileDoc, MetaDoc, parse_document
from node.client.network import MemoryNetwork
from node.client.splitfile import BytesSink, Transfer, fetch_content
from node.fcp.client import FCPClient
from node.testnet import Testnet

MB = 1_000_000


async def check_block_uris(data: bytes, mime: str) -> tuple[str, list[str]]:
    """The file's CHK (as a node computes it) and the raw URIs of its check blocks."""
    network = MemoryNetwork(verify=False)
    async with Client(network, processes=True) as client:
        uri = await client.put(data, mime=mime)
        meta = network.blocks[(KeyKind.CHK, request_key(parse_uri(uri))[1])]
        doc = parse_document(decode_block(parse_uri(uri), meta))
        while isinstance(doc, MetaDoc):  # 64 MiB of keys is split metadata
            sink = BytesSink()
            await fetch_content(Transfer(network=network, pool=client.pool), doc.content, sink)
            doc = parse_document(sink.getvalue())
    assert isinstance(doc, FileDoc)
    raw = []
    for seg in doc.content.segments:
        for i in range(seg.k, seg.n):
            rk, dk = seg.block_key(i)
            raw.append(str(CHKURI(routing_key=rk, decryption_key=dk)))
    return uri, raw


async def node_blocks(fcp: FCPClient) -> str:
    info = await fcp.node_info(with_volatile=True)
    return f"store {info.get('volatile.storeKeys')} + cache {info.get('volatile.cacheKeys')} blocks"


async def run(args: argparse.Namespace, net: Testnet) -> None:
    size = args.mib * 1024 * 1024
    data = os.urandom(size)
    mime = "application/octet-stream"
    expected, raw = await check_block_uris(data, mime)
    raw = raw[: -(-size // 32768)]
    ports = [n.fcp_port for n in net.nodes]
    inserter, fetcher, raw_node = 0, 3 % len(ports), 5 % len(ports)
    meter = CPUMeter(str(net.directory))
    # Each node's own (its worker processes included), by the data directory its
    # command line names (arguments end in NUL).
    per_node = [f"{net.directory / f'node{i}'}\0" for i in range(len(ports))]

    def node_cpu() -> list[float]:
        return [proc_cpu(match) for match in per_node] + [own_cpu()]

    async with FCPClient.connect(port=ports[inserter]) as fcp:
        n0, c0, t0 = node_cpu(), meter.sample(), time.perf_counter()
        uri = await fcp.put("CHK@", data, content_type=mime)
        insert_s = time.perf_counter() - t0
        insert_cpu = meter.sample() - c0
        by_node = [b - a for a, b in zip(n0, node_cpu(), strict=True)]
    assert uri == expected, (uri, expected)
    blocks = len(raw) * 2 + 1
    print(
        f"insert at node {inserter}: {size / MB / insert_s:6.1f} MB/s of file "
        f"({insert_s:.2f} s; {blocks * 32768 / MB / insert_s:.1f} MB/s of blocks with FEC; "
        f"{insert_cpu:.1f} CPU s in the nodes)"
    )
    print(
        "  insert CPU s by node: "
        + ", ".join(f"{i}: {cpu:.2f}" for i, cpu in enumerate(by_node[:-1]))
        + f"; the bench's FCP client {by_node[-1]:.2f}"
    )

    # Raw inserts: 32 KiB files, uncompressed, are one data block plus one small
    # metadata block each; as many as the file had blocks / 8, --window at a time.
    # Without the extra copies a client gets by default for blocks outside FEC
    # (ExtraInserts*, specs/client.md), so that the figure is of single blocks.
    count = max(16, len(raw) // 8)
    async with FCPClient.connect(port=ports[inserter]) as fcp:
        limiter = anyio.CapacityLimiter(args.window)

        async def put_one() -> None:
            async with limiter:
                await fcp.put(
                    "CHK@",
                    os.urandom(32768),
                    dont_compress=True,
                    extra_inserts_single_block=0,
                    extra_inserts_splitfile_header_block=0,
                )

        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(count):
                tg.start_soon(put_one)
        raw_put_s = time.perf_counter() - t0
    print(
        f"raw inserts at node {inserter}: {count * 2 * 32768 / MB / raw_put_s:6.1f} MB/s of "
        f"blocks ({count} single-block ClientPuts = {2 * count} blocks, {raw_put_s:.2f} s)"
    )

    # The inserter keeps none of what it inserts (it must not be recognisable as
    # the source), so its fetch is the one that certainly crosses the network.
    async with FCPClient.connect(port=ports[inserter]) as fcp:
        before = await node_blocks(fcp)
        c0, t0 = meter.sample(), time.perf_counter()
        got = await fcp.get(uri)
        fetch_s = time.perf_counter() - t0
        fetch_cpu = meter.sample() - c0
    assert got.data == data, "the fetched file differs"
    print(
        f"fetch at node {inserter}:  {size / MB / fetch_s:6.1f} MB/s "
        f"({fetch_s:.2f} s; {fetch_cpu:.1f} CPU s; the inserter, it held {before})"
    )

    async with FCPClient.connect(port=ports[fetcher]) as fcp:
        before = await node_blocks(fcp)
        t0 = time.perf_counter()
        got = await fcp.get(uri)
        fetch_s = time.perf_counter() - t0
    assert got.data == data, "the fetched file differs"
    print(
        f"fetch at node {fetcher}:  {size / MB / fetch_s:6.1f} MB/s "
        f"({fetch_s:.2f} s; it held {before})"
    )

    async with FCPClient.connect(port=ports[raw_node]) as fcp:
        before = await node_blocks(fcp)
        limiter = anyio.CapacityLimiter(args.window)
        failures = 0

        async def one(block_uri: str) -> None:
            nonlocal failures
            async with limiter:
                try:
                    result = await fcp.get(block_uri)
                except Exception:
                    failures += 1
                    return
                assert result.data is not None and len(result.data) == 32768

        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for block_uri in raw:
                tg.start_soon(one, block_uri)
        raw_s = time.perf_counter() - t0
    moved = (len(raw) - failures) * 32768
    print(
        f"raw blocks at node {raw_node}: {moved / MB / raw_s:6.1f} MB/s "
        f"({len(raw)} single-block ClientGets, {failures} failed, window {args.window}, "
        f"{raw_s:.2f} s; it held {before})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--nodes", type=int, default=6)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--dir", type=Path, default=None, help="keep the network's files here")
    parser.add_argument("--pause", action="store_true", help="print node pids, wait for Enter")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.dir or Path(tmp)
        with Testnet(args.nodes, directory, store_size="1G") as net:
            print(f"{args.nodes} nodes: pids {[n.pid for n in net.nodes]}", flush=True)
            if args.pause:
                input("profile now; Enter to start ")
            anyio.run(run, args, net)


if __name__ == "__main__":
    main()
