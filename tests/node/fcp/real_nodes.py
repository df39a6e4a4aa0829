"""Real nodes in-process for FCP tests: a small darknet of running_node()s on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio

from node.daemon import NodeServices, offline_noderef, running_node
from node.net.datadir import DataDir
from node.net.settings import NodeSettings


@asynccontextmanager
async def real_network(directory: Path, count: int = 3) -> AsyncIterator[list[NodeServices]]:
    """``count`` friends (each befriends every other), FCP on free ports, connected."""
    dirs = [DataDir.open(directory / f"n{i}") for i in range(count)]
    refs = [offline_noderef(d, opennet=False) for d in dirs]
    for i, d in enumerate(dirs):
        for j, ref in enumerate(refs):
            if i != j:
                d.add_peer(ref)
    async with AsyncExitStack() as stack:
        nodes = []
        for d in dirs:
            settings = NodeSettings(data_dir=d.path, opennet=False, store_synchronous_full=False)
            nodes.append(
                await stack.enter_async_context(running_node(settings, fcp_port=0, processes=False))
            )
        with anyio.fail_after(20):
            while any(n.runtime.connected_peers < count - 1 for n in nodes):
                await anyio.sleep(0.05)
        yield nodes
