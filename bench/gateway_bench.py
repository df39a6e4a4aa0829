"""Gateway throughput next to FCP: requests/s of a small cached page, MB/s of a large file.

Prints figures (never passes or fails on time). One process runs two in-process
nodes (a node with FCP and the gateway on free ports, and one friend so it has
a peer); the content is written straight into the first node's store (inserts
are not what is measured), then fetched from it:

* a small page: sequential requests over one keep-alive connection to the
  gateway (cached after the first) and ClientGets over one FCP connection;
  time to the first byte of the cached page (median and 95th percentile);
* a large file: ``?download=1`` streamed through the gateway, cold (the first
  request makes the gateway fetch it from the node's store, decoding the
  segments while it streams them out) and cached (from the gateway's sealed
  spool), next to the same file fetched over FCP (ClientGet, direct data).

Target (issue 7): the gateway's cold stream ≥ 80 % of the FCP rate; first byte
of a cached page ≤ 20 ms.

    .venv/bin/python -m bench.gateway_bench [--mib 64] [--pages 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import httpx

from crypto.blocks import Block, KeyKind
from node.client.network import BlockNetwork
from node.daemon import NodeServices, running_node
from node.fcp.client import FCPClient
from node.net.noderef import parse_noderef
from node.net.runtime import NodeRuntime
from node.net.settings import NodeSettings
from store import Area

PAGE = b"<!DOCTYPE html><title>Bench</title><h1>Hello</h1>" + b"<p>Some text.</p>" * 100


class _StoreInserts:
    """Inserts go straight into the node's store; fetches go through the node."""

    def __init__(self, runtime: NodeRuntime, inner: BlockNetwork) -> None:
        self.runtime, self.inner = runtime, inner

    async def fetch(self, kind: KeyKind, routing_key: bytes) -> Block:
        return await self.inner.fetch(kind, routing_key)

    async def insert(self, block: Block) -> None:
        assert self.runtime.store is not None
        await self.runtime.store.put(block, Area.STORE)


def _settings(path: Path) -> NodeSettings:
    return NodeSettings.from_config(
        path, {}, listen_host="127.0.0.1", listen_port=0, opennet=False,
        store_synchronous_full=False, store_size=4 * 1024**3,
    )  # fmt: skip


async def _befriend(a: NodeServices, b: NodeServices) -> None:
    await a.runtime.add_friend(parse_noderef(b.runtime.noderef_text(), now=time.time()))
    await b.runtime.add_friend(parse_noderef(a.runtime.noderef_text(), now=time.time()))
    with anyio.fail_after(20):
        while a.runtime.connected_peers < 1:
            await anyio.sleep(0.02)


async def _gateway_get(http: httpx.AsyncClient, path: str) -> tuple[int, float]:
    """Bytes read and seconds to the first byte."""
    start = time.perf_counter()
    first = 0.0
    size = 0
    async with http.stream("GET", path) as response:
        response.raise_for_status()
        async for chunk in response.aiter_raw():
            if not first:
                first = time.perf_counter() - start
            size += len(chunk)
    return size, first


async def _download_link(http: httpx.AsyncClient, path: str) -> str:
    """The warning page's "save the file" link (it carries this session's grant)."""
    page = await http.get(path + "?download=1")
    match = re.search(r'href="([^"]+\?download=1&amp;grant=[^"]+)"', page.text)
    assert match, page.text
    return match.group(1).replace("&amp;", "&")


async def run(mib: int, pages: int, rounds: int) -> None:
    rng = random.Random(1)
    data = bytes(mib * 1024 * 1024)
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            running_node(_settings(Path(tmp) / "a"), fcp_port=0, http_port=0) as node,
            running_node(_settings(Path(tmp) / "b"), fcp_port=None) as friend,
        ):
            await _befriend(node, friend)
            inserter = node.client.using(_StoreInserts(node.runtime, node.client.network))
            page_uri = await inserter.put(PAGE, mime="text/html")
            t0 = time.perf_counter()
            file_uris = []  # one file per round: each gateway fetch is cold
            for _ in range(rounds):
                data = rng.randbytes(len(data))
                file_uris.append(await inserter.put(data, mime="application/octet-stream"))
            print(f"setup: {rounds} × {mib} MiB written to the node's store in "
                  f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
            base = f"http://127.0.0.1:{node.ports['http_port']}"
            async with (
                httpx.AsyncClient(base_url=base, timeout=600) as http,
                FCPClient.connect(port=node.ports["fcp_port"], name="bench") as fcp,
            ):
                await _gateway_get(http, f"/{page_uri}")  # fetched and filtered once
                firsts: list[float] = []
                t0 = time.perf_counter()
                for _ in range(pages):
                    size, first = await _gateway_get(http, f"/{page_uri}")
                    firsts.append(first)
                gw_rps = pages / (time.perf_counter() - t0)
                t0 = time.perf_counter()
                for _ in range(pages):
                    await fcp.get(page_uri)
                fcp_rps = pages / (time.perf_counter() - t0)
                firsts.sort()
                p95 = firsts[int(len(firsts) * 0.95) - 1]
                print(f"small page ({len(PAGE)} B): gateway {gw_rps:7.0f} req/s (cached), "
                      f"FCP {fcp_rps:7.0f} req/s")  # fmt: skip
                print(f"first byte of a cached page: median "
                      f"{statistics.median(firsts) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms "
                      "(target ≤ 20 ms)")  # fmt: skip

                fcp_rates, cold_rates, warm_rates = [], [], []
                for i, file_uri in enumerate(file_uris):
                    t0 = time.perf_counter()
                    result = await fcp.get(file_uri)
                    assert result.data is not None and len(result.data) == len(data)
                    fcp_rates.append(mib / (time.perf_counter() - t0))
                    del result
                    t0 = time.perf_counter()
                    link = await _download_link(http, f"/{file_uri}")  # starts the fetch
                    size, _ = await _gateway_get(http, link)
                    assert size == len(data)
                    cold_rates.append(mib / (time.perf_counter() - t0))
                    t0 = time.perf_counter()
                    size, _ = await _gateway_get(http, link)
                    warm_rates.append(mib / (time.perf_counter() - t0))
                    print(f"  round {i + 1}: FCP {fcp_rates[-1]:6.1f}  gateway cold "
                          f"{cold_rates[-1]:6.1f}  cached {warm_rates[-1]:6.1f} MiB/s")  # fmt: skip
                fcp_best, cold_best = max(fcp_rates), max(cold_rates)
                print(f"{mib} MiB file: FCP {fcp_best:.1f} MiB/s, gateway {cold_best:.1f} MiB/s "
                      f"cold ({cold_best / fcp_best:.0%} of FCP; target ≥ 80 %), "
                      f"{max(warm_rates):.1f} MiB/s cached")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    anyio.run(run, args.mib, args.pages, args.rounds)


if __name__ == "__main__":
    main()
