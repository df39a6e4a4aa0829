"""TUI tests: a real node in-process on loopback (tests may import node internals; tui/ may not)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from node.daemon import NodeServices, running_node
from node.net.settings import NodeSettings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def loopback_node(data_dir: Path, *, fcp_port: int = 0) -> AsyncIterator[NodeServices]:
    """One darknet node with no peers, FCP on 127.0.0.1 (a free port unless given)."""
    settings = NodeSettings(data_dir=data_dir, opennet=False, store_synchronous_full=False)
    async with running_node(settings, fcp_port=fcp_port, processes=False) as services:
        yield services
