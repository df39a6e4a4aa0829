"""The Samizdat FCP extensions the TUI relies on, against a real node: entries and peers."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.fcp.client import FCPClient, ProtocolErrorReply
from tests.tui.conftest import loopback_node

pytestmark = pytest.mark.anyio


async def test_entries_keep_insert_keys_private(tmp_path: Path) -> None:
    async with loopback_node(tmp_path / "a") as node:
        port = node.ports["fcp_port"]
        async with FCPClient.connect("127.0.0.1", port) as fcp:
            pair = await fcp.generate_ssk()
            usk_insert = pair.insert_uri.replace("SSK@", "USK@") + "site/0"
            usk_request = pair.request_uri.replace("SSK@", "USK@") + "site/0"
            await fcp.put_entry(
                "Keypair", "blog", {"InsertURI": usk_insert, "RequestURI": usk_request}
            )
            await fcp.put_entry("Bookmark", "news", {"URI": usk_request, "Edition": 3})
            public = await fcp.list_entries("Keypair")
            assert public == [{"Name": "blog", "RequestURI": usk_request, "Edition": "-1"}]
            private = await fcp.list_entries("Keypair", with_private=True)
            assert private[0]["InsertURI"] == usk_insert
            assert (await fcp.list_entries("Bookmark"))[0]["Edition"] == "3"
            with pytest.raises(ProtocolErrorReply) as bad:
                await fcp.put_entry(
                    "Keypair", "x", {"InsertURI": usk_request, "RequestURI": usk_request}
                )
            assert bad.value.code == 8
            await fcp.remove_entry("Bookmark", "news")
            assert await fcp.list_entries("Bookmark") == []
            with pytest.raises(ProtocolErrorReply) as missing:
                await fcp.remove_entry("Bookmark", "news")
            assert missing.value.code == 15
    # Kept in the node's client database across a restart.
    async with (
        loopback_node(tmp_path / "a") as node,
        FCPClient.connect("127.0.0.1", node.ports["fcp_port"]) as fcp,
    ):
        assert [e["Name"] for e in await fcp.list_entries("Keypair")] == ["blog"]


async def test_add_peer(tmp_path: Path) -> None:
    async with (
        loopback_node(tmp_path / "a") as a,
        loopback_node(tmp_path / "b") as b,
        FCPClient.connect("127.0.0.1", a.ports["fcp_port"]) as fcp,
    ):
        own = (await fcp.node_info(with_private=True))["noderef"]
        with pytest.raises(ProtocolErrorReply) as self_ref:
            await fcp.add_peer(own)
        assert self_ref.value.code == 28
        with pytest.raises(ProtocolErrorReply) as junk:
            await fcp.add_peer("not a reference")
        assert junk.value.code == 21
        ref = b.runtime.noderef_text()
        identity, new = await fcp.add_peer(ref)
        assert new and len(identity) == 8
        assert (await fcp.add_peer(ref))[1] is False
