"""Shared helpers for node.client tests: a client over a memory network."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from node.client.client import Client
from node.client.network import MemoryNetwork


def payload(size: int, seed: int = 0) -> bytes:
    """Incompressible bytes from a seeded generator."""
    return random.Random(seed).randbytes(size)


@asynccontextmanager
async def client_on(
    network: MemoryNetwork | None = None, **kwargs: object
) -> AsyncIterator[Client]:
    net = network if network is not None else MemoryNetwork()
    async with Client(net, **kwargs) as client:  # type: ignore[arg-type]
        yield client
