"""The async FCP client against the real server and the FakeBackend."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from node.fcp.client import FCPClient, FCPConnectionError, GetFailedError, ProtocolErrorReply
from node.fcp.protocol import FCPMessage
from tests.node.fcp.helpers import running_node

pytestmark = pytest.mark.anyio


async def test_connect_refused_is_a_clear_error() -> None:
    async with running_node() as node:
        port = node.port
    with pytest.raises(FCPConnectionError, match="is the node running"):
        async with FCPClient.connect("127.0.0.1", port, timeout=2):
            pass


async def test_keygen_put_get_round_trip(tmp_path: Path) -> None:
    async with running_node() as node, FCPClient.connect(port=node.port) as fcp:
        assert fcp.node_hello is not None and fcp.node_hello["Node"] == "Samizdat"
        keys = await fcp.generate_ssk()
        assert keys.insert_uri.endswith("/") and keys.request_uri.startswith("SSK@")
        seen: list[FCPMessage] = []
        uri = await fcp.put(data=b"payload", content_type="text/plain", progress=seen.append)
        assert "URIGenerated" in [m.name for m in seen]
        assert await fcp.put(data=b"payload", get_chk_only=True) == uri
        result = await fcp.get(uri)
        assert result.data == b"payload" and result.content_type == "text/plain"
        out = tmp_path / "out"
        await fcp.get(uri, output=out)
        assert out.read_bytes() == b"payload"


async def test_put_file_is_streamed(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 8192)  # 2 MiB
    async with running_node() as node, FCPClient.connect(port=node.port) as fcp:
        uri = await fcp.put(path=big)
        assert (await fcp.get(uri)).data == big.read_bytes()
        assert await fcp.put(path=big, from_disk=True) == uri  # FileHash, no TestDDA


async def test_concurrent_requests_are_multiplexed() -> None:
    async with running_node() as node, FCPClient.connect(port=node.port) as fcp:
        uris: dict[int, str] = {}

        async def one(i: int) -> None:
            uris[i] = await fcp.put(data=f"item {i}".encode())
            assert (await fcp.get(uris[i])).data == f"item {i}".encode()

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(one, i)
        assert len(set(uris.values())) == 20


async def test_get_failures_and_redirects() -> None:
    async with running_node() as node, FCPClient.connect(port=node.port) as fcp:
        with pytest.raises(GetFailedError) as info:
            await fcp.get("KSK@missing")
        assert info.value.code == 13 and not info.value.fatal
        await fcp.put("KSK@target", b"redirected")
        assert (await fcp.get("KSK@moved")).data == b"redirected"
        with pytest.raises(GetFailedError) as info:
            await fcp.get("KSK@moved", follow_redirects=False)
        assert info.value.code == 27 and info.value.redirect_uri == "KSK@target"
        with pytest.raises(ProtocolErrorReply) as perr:
            await fcp.get("not a key")
        assert perr.value.code == 4


async def test_site_listing_status_remove_and_watch() -> None:
    async with (
        running_node() as node,
        FCPClient.connect(port=node.port, name="a") as fcp,
        FCPClient.connect(port=node.port, name="b") as other,
    ):
        site = await fcp.put_dir(
            "CHK@", {"index.html": b"<p>", "img/x.png": b"png"}, default_name="index.html"
        )
        assert (await fcp.get(site + "img/x.png")).data == b"png"
        await other.watch_global()
        await fcp.put("KSK@g", b"g", global_=True, persistence="forever", identifier="glob")
        listing = await other.list_persistent()
        assert [m.name for m in listing] == ["PersistentPut", "SimpleProgress", "PutSuccessful"]
        status = await other.get_status("glob", global_=True)
        assert status.name in ("SimpleProgress", "PutSuccessful")
        await other.remove("glob", global_=True)
        with pytest.raises(ProtocolErrorReply) as info:
            await other.remove("glob", global_=True)
        assert info.value.code == 15


async def test_node_info_peers_dda_and_usk(tmp_path: Path) -> None:
    async with running_node() as node, FCPClient.connect(port=node.port) as fcp:
        assert (await fcp.node_info())["identity"] == "fake-node"
        assert len(await fcp.list_peers()) == 2
        assert await fcp.test_dda(tmp_path, read=True, write=True) == (True, True)
        keys = await fcp.generate_ssk()
        usk = keys.request_uri.replace("SSK@", "USK@") + "site/3"
        async with fcp.subscribe_usk(usk) as updates:
            async for edition, uri in updates:
                assert edition == 4 and uri.endswith("/site/4")
                break


async def test_duplicate_name_closes_the_first_client() -> None:
    async with (
        running_node() as node,
        FCPClient.connect(port=node.port, name="dup") as first,
        FCPClient.connect(port=node.port, name="dup") as second,
    ):
        await second.generate_ssk()
        with anyio.fail_after(5):
            while first._closed is None:
                await anyio.sleep(0.01)
        with pytest.raises(FCPConnectionError):
            await first.generate_ssk()
