"""The gateway of a real node: ``running_node(http_port=0)`` served by uvicorn over TCP."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest

from node.client.client import Client
from node.daemon import NodeServices, running_node
from node.net.noderef import parse_noderef
from node.net.settings import NodeSettings

from .gateway_env import LocalStoreNetwork, csrf_token, download_link

pytestmark = pytest.mark.anyio


def _settings(data_dir: Path) -> NodeSettings:
    return NodeSettings.from_config(
        data_dir, {}, listen_host="127.0.0.1", listen_port=0, opennet=False,
        store_synchronous_full=False,
    )  # fmt: skip


async def befriend(a: NodeServices, b: NodeServices) -> None:
    """Make two in-process nodes friends and wait until they are connected."""
    await a.runtime.add_friend(parse_noderef(b.runtime.noderef_text(), now=time.time()))
    await b.runtime.add_friend(parse_noderef(a.runtime.noderef_text(), now=time.time()))
    with anyio.fail_after(10):
        while a.runtime.connected_peers < 1 or b.runtime.connected_peers < 1:
            await anyio.sleep(0.02)


@asynccontextmanager
async def node_with_gateway(
    data_dir: Path, *, http: bool = True, friend: bool = True
) -> AsyncIterator[tuple[NodeServices, Client]]:
    """A node (no FCP) with its gateway on a free port and, unless told otherwise, one
    friend node (a node with no peers may not look in the network at all); and a
    client that inserts into the node's own store."""
    async with running_node(
        _settings(data_dir), fcp_port=None, http_port=0 if http else None, processes=False
    ) as services:
        inserter = services.client.using(
            LocalStoreNetwork(services.runtime, services.client.network)
        )
        if not friend:
            yield services, inserter
            return
        async with running_node(
            _settings(data_dir.with_name(data_dir.name + "-friend")), fcp_port=None,
            processes=False,
        ) as other:  # fmt: skip
            await befriend(services, other)
            yield services, inserter


async def test_real_node_serves_pages_files_and_ranges_over_tcp(tmp_path: Path) -> None:
    async with node_with_gateway(tmp_path / "a") as (node, inserter):
        port = node.ports["http_port"]
        page = await inserter.put(b"<p onclick='x()'>hello</p>", mime="text/html")
        blob = bytes(range(256)) * (8 * 4096)  # 8 MiB: several segments
        big = await inserter.put(blob, mime="application/octet-stream")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            r = await http.get(f"/{page}")
            assert r.status_code == 200 and r.text.endswith("<p>hello</p></body></html>")
            assert r.headers["x-content-type-options"] == "nosniff"
            assert "server" not in r.headers  # uvicorn's banner is off
            link = await download_link(http, f"/{big}")
            r = await http.get(link)
            assert r.status_code == 200 and r.content == blob
            r = await http.get(link, headers={"range": "bytes=5000000-5000099"})
            assert r.status_code == 206 and r.content == blob[5_000_000:5_000_100]
            async with http.stream("GET", link) as streamed:
                assert streamed.headers["content-length"] == str(len(blob))
                got = b"".join([chunk async for chunk in streamed.aiter_bytes()])
            assert got == blob
            evil = await http.get("/", headers={"host": f"attacker.example:{port}"})
            assert evil.status_code == 421
            status = await http.get("/status")
            assert "Store" in status.text and "blocks" in status.text


async def test_peers_page_shows_the_reference_and_adds_friends(tmp_path: Path) -> None:
    async with (
        node_with_gateway(tmp_path / "a", friend=False) as (node, _),
        node_with_gateway(tmp_path / "b", http=False, friend=False) as (friend, _),
    ):
        port = node.ports["http_port"]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            peers = await http.get("/peers")
            own = node.runtime.noderef_text()
            assert peers.status_code == 200 and own.splitlines()[0] in peers.text
            token = await csrf_token(http, "/peers")
            bad = await http.post("/peers/add", data={"ref": "garbage", "csrf": token})
            assert bad.status_code == 400
            mine = await http.post("/peers/add", data={"ref": own, "csrf": token})
            assert mine.status_code == 400 and "own reference" in mine.text
            ok = await http.post(
                "/peers/add", data={"ref": friend.runtime.noderef_text(), "csrf": token}
            )
            assert ok.status_code == 303
            # friendship is mutual: the friend adds this node too
            await friend.runtime.add_friend(parse_noderef(own, now=time.time()))
            deadline = time.monotonic() + 10
            while node.runtime.connected_peers < 1 and time.monotonic() < deadline:
                await anyio.sleep(0.05)
            peers = await http.get("/peers")
            assert re.search(r"Connected peers \(1\)", peers.text)
