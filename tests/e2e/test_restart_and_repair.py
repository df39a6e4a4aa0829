"""Failures on a real test network: a persistent fetch outlives its node; check and repair.

The blocks to delete are known without asking the network: CHKs are
deterministic, so inserting the same bytes into a MemoryNetwork in this process
gives the very routing keys the nodes hold. Deleting them means stopping every
node, removing them from each datastore, and starting the nodes again.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from crypto.blocks import KeyKind
from crypto.keys import decode_block, request_key
from crypto.uri import parse_uri
from node import testnet
from node.client.client import Client
from node.client.metadata import FileDoc, parse_document
from node.client.network import MemoryNetwork
from node.fcp.client import FCPClient, FCPConnectionError
from store import BlockStore, StoreConfig

from .conftest import cli

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


async def test_a_persistent_fetch_survives_a_restart(net: testnet.Testnet, tmp_path: Path) -> None:
    data = random.Random(1).randbytes(4 * 1024 * 1024)
    src = tmp_path / "f.bin"
    src.write_bytes(data)
    fetcher = 3
    # A node keeps none of what it inserts itself, so its fetch must go to the network.
    uri = cli("put", src, node=fetcher, net=net).last_line
    queued = anyio.Event()

    def on_message(msg: object) -> None:
        if getattr(msg, "name", "") == "PersistentGet":
            queued.set()

    async def fetch() -> None:
        port = net.nodes[fetcher].fcp_port
        async with FCPClient.connect(port=port) as fcp:
            await fcp.get(
                uri, persistence="forever", global_=True, identifier="survivor", progress=on_message
            )

    async with anyio.create_task_group() as tg:
        tg.start_soon(_ignore_lost_connection, fetch)
        with anyio.fail_after(30):
            await queued.wait()
        net.kill(fetcher)  # SIGKILL, mid-fetch
    net.restart(fetcher)
    net.wait_connected([net.nodes[fetcher]])
    async with FCPClient.connect(port=net.nodes[fetcher].fcp_port) as fcp:
        await fcp.watch_global()
        with anyio.fail_after(60):
            while True:
                listing = await fcp.list_persistent()
                mine = [m for m in listing if m.get("Identifier") == "survivor"]
                # Listed after the restart. (With the global queue watched, the
                # resumed fetch's own DataFound may arrive amid the listing.)
                assert any(m.name == "PersistentGet" for m in mine), listing
                if any(m.name == "GetFailed" for m in mine):
                    pytest.fail(f"the resumed fetch failed: {mine}")
                if any(m.name == "DataFound" for m in mine):
                    break
                await anyio.sleep(0.2)
        assert await fcp.get_data("survivor", global_=True) == data
        await fcp.remove("survivor", global_=True)


async def _ignore_lost_connection(fn: Callable[[], Awaitable[None]]) -> None:
    with contextlib.suppress(FCPConnectionError):  # the node is killed under it
        await fn()


async def _layout(data: bytes) -> list[list[bytes]]:
    """The routing keys of each segment of ``data`` inserted as ``samizdat put`` does."""
    network = MemoryNetwork()
    async with Client(network) as client:
        uri = await client.put(data, mime="application/octet-stream")
    meta = network.blocks[(KeyKind.CHK, request_key(parse_uri(uri))[1])]
    doc = parse_document(decode_block(parse_uri(uri), meta))
    assert isinstance(doc, FileDoc)
    return [[seg.block_key(i)[0] for i in range(seg.n)] for seg in doc.content.segments]


def _delete_everywhere(net: testnet.Testnet, keys: list[bytes]) -> None:
    for i in range(len(net.nodes)):
        net.kill(i)
    for node in net.nodes:
        store = BlockStore.open(
            node.data_dir / "store" / "datastore.sqlite", StoreConfig(size_bytes=256 << 20)
        )
        try:
            for rk in keys:
                store.delete(rk)
        finally:
            store.close()
    for i in range(len(net.nodes)):
        net.restart(i)
    net.wait_connected()


async def test_check_reports_lost_blocks_and_repair_brings_them_back(
    net: testnet.Testnet, tmp_path: Path
) -> None:
    data = random.Random(2).randbytes(2 * 1024 * 1024 + 100)  # 65 blocks: segments of 33 and 32
    src = tmp_path / "keep.bin"
    src.write_bytes(data)
    put = cli("put", src, "--mime", "application/octet-stream", node=1, net=net)
    assert put.code == 0, put.err
    uri = put.last_line
    healthy = cli("check", uri, node=4, net=net)
    assert healthy.code == 0 and "survives: yes" in healthy.text, healthy.err
    segments = await _layout(data)
    assert len(segments) == 2
    # Segment 1 loses a third of its blocks (FEC can rebuild them), segment 2 all but 10.
    lost = segments[0][::3] + segments[1][10:]
    _delete_everywhere(net, lost)

    damaged = cli("check", uri, node=2, net=net)
    assert damaged.code == 1 and "survives: NO" in damaged.text
    assert "LOST" in damaged.text
    fec_only = cli("check", uri, "--repair", node=2, net=net)
    assert fec_only.code == 1  # segment 2 cannot be rebuilt without a copy
    repaired = cli("check", uri, "--repair", "--from", src, node=2, net=net)
    assert repaired.code == 0, repaired.text + repaired.err
    assert "survives: yes" in repaired.text
    out = tmp_path / "back.bin"
    assert cli("get", uri, "-o", out, node=5, net=net).code == 0
    assert out.read_bytes() == data
