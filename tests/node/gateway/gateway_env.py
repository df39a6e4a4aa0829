"""A gateway over a real client layer for tests, and helpers to drive it with httpx."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from crypto.blocks import Block, KeyKind
from node.client.client import Client
from node.client.clientdb import ClientDatabase
from node.client.network import BlockNetwork, MemoryNetwork
from node.client.requests import RequestManager
from node.gateway.app import Gateway, GatewaySettings
from node.net.runtime import NodeRuntime
from store import Area as StoreArea

BASE_URL = "http://127.0.0.1:8888"


@dataclass
class Env:
    net: MemoryNetwork
    client: Client
    manager: RequestManager
    gateway: Gateway
    http: httpx.AsyncClient


@asynccontextmanager
async def memory_gateway(*, delay: float = 0.0, **settings: Any) -> AsyncIterator[Env]:
    """A gateway whose client layer moves blocks through a :class:`MemoryNetwork`."""
    net = MemoryNetwork(delay=delay)
    options = {"first_wait": 5.0, "port": 8888, **settings}
    async with (
        Client(net) as client,
        RequestManager(client, ClientDatabase(None, bytes(32))) as manager,
        Gateway(client, manager, None, GatewaySettings(**options)) as gateway,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url=BASE_URL) as http,
    ):
        yield Env(net, client, manager, gateway, http)


async def csrf_token(http: httpx.AsyncClient, page: str = "/") -> str:
    """Open a gateway page (starting a session) and read its CSRF token."""
    response = await http.get(page)
    match = re.search(r'name="csrf" value="([^"]+)"', response.text)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


class LocalStoreNetwork:
    """Inserts that write straight into a running node's datastore; fetches go
    through the node as usual (and find the blocks in its store).

    Until the core fix for small networks lands (inserts there report "route not
    found" and store nothing), this is how tests put content on a real node.
    """

    def __init__(self, runtime: NodeRuntime, inner: BlockNetwork) -> None:
        self.runtime = runtime
        self.inner = inner

    async def fetch(self, kind: KeyKind, routing_key: bytes) -> Block:
        return await self.inner.fetch(kind, routing_key)

    async def insert(self, block: Block) -> None:
        assert self.runtime.store is not None
        await self.runtime.store.put(block, StoreArea.STORE)


async def download_link(http: httpx.AsyncClient, path: str) -> str:
    """The "save the file" link of the warning page for ``path`` (it carries a grant)."""
    page = await http.get(path.partition("?")[0] + "?download=1")
    match = re.search(r'href="([^"]+\?download=1&amp;grant=[^"]+)"', page.text)
    assert match, f"no download link on the warning page of {path}"
    return match.group(1).replace("&amp;", "&")
