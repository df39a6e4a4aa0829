"""Pilot tests that insert into a real network: two in-process nodes on loopback, darknet friends.

Insert, fetch back and compare bytes; publish two editions of a USK site and
see the bookmark follow. Until inserts succeed on small networks (a node/core
fix: inserts there report ROUTE_NOT_FOUND though the block was stored), the
probe in ``network`` skips these tests with that reason rather than fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest
from textual.widgets import Input, Select

from node.daemon import NodeServices
from node.fcp.client import FCPClient, PutFailedError
from tests.tui.conftest import loopback_node
from tests.tui.test_app import make_app, until

pytestmark = pytest.mark.anyio


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[NodeServices]:
    """Node A (the TUI's) befriended with node B; skips if this network cannot insert."""
    reason = ""
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(loopback_node(tmp_path / "a"))
        b = await stack.enter_async_context(loopback_node(tmp_path / "b"))
        from node.net.noderef import parse_noderef

        await a.runtime.add_friend(parse_noderef(b.runtime.noderef_text()))
        await b.runtime.add_friend(parse_noderef(a.runtime.noderef_text()))
        await until(lambda: a.runtime.connected_peers and b.runtime.connected_peers)
        async with FCPClient.connect("127.0.0.1", a.ports["fcp_port"]) as fcp:
            try:
                with anyio.fail_after(20):
                    await fcp.put("CHK@", b"probe")
            except PutFailedError as exc:
                reason = f"this small network cannot insert yet (node/core fix pending): {exc}"
        if not reason:
            a.manager.usk_poll_interval = 0.5  # the node polls USKs every minute
            yield a
            return
    pytest.skip(reason)  # outside the nodes' task groups, which would wrap it


async def test_insert_then_fetch_back(network: NodeServices, tmp_path: Path) -> None:
    home = tmp_path / "files"
    home.mkdir()
    content = bytes(range(256)) * 300  # 75 KiB: more than one block
    (home / "data.bin").write_bytes(content)
    app = make_app(network.ports["fcp_port"], home)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(lambda: app.connected)
        await pilot.press("3")
        screen = app.screen
        await pilot.pause(0.3)
        screen.selected = home / "data.bin"  # type: ignore[attr-defined]
        await pilot.click("#insert-go")
        await until(lambda: screen.transfer is not None and screen.transfer.state != "running", 30)  # type: ignore[attr-defined]
        t = screen.transfer  # type: ignore[attr-defined]
        assert t.state == "done", t.error
        key = t.result_uri
        assert key.startswith("CHK@") and key.endswith("/data.bin")
        assert key in str(screen.query_one("#insert-result").render())
        await pilot.press("y")
        assert app.clipboard == key
        # Fetch it back from the Fetch screen.
        await pilot.press("escape", "4")
        fetch = app.screen
        fetch.query_one("#fetch-key", Input).value = key
        fetch.query_one("#fetch-dir", Input).value = str(tmp_path / "out")
        await pilot.press("ctrl+s")
        await until(lambda: fetch.transfer is not None and fetch.transfer.state != "running", 30)  # type: ignore[attr-defined]
        assert fetch.transfer.state == "done", fetch.transfer.error  # type: ignore[attr-defined]
        assert (tmp_path / "out" / "data.bin").read_bytes() == content


async def test_publish_two_editions_and_the_bookmark_follows(
    network: NodeServices, tmp_path: Path
) -> None:
    home = tmp_path / "files"
    (home / "site").mkdir(parents=True)
    app = make_app(network.ports["fcp_port"], home)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(lambda: app.connected)
        await pilot.press("5")
        app.screen.query_one("#keys-name", Input).value = "blog"
        await pilot.click("#keys-generate")
        await until(lambda: app.keypairs)
        usk = app.keypairs[0]["RequestURI"].split("/")[0].replace("SSK@", "USK@") + "/blog/0"
        await pilot.press("escape", "6")
        app.screen.query_one("#bookmark-name", Input).value = "blog"
        app.screen.query_one("#bookmark-key", Input).value = usk
        await pilot.click("#bookmark-add")
        await until(lambda: app.bookmarks)
        for edition in (0, 1):
            (home / "site" / "index.html").write_text(f"<h1>edition {edition}</h1>")
            await pilot.press("escape", "3")
            insert = app.screen
            insert.query_one("#insert-kind", Select).value = "USK"
            await pilot.pause(0.1)
            insert.query_one("#insert-keypair", Select).value = "blog"
            insert.selected = home / "site"  # type: ignore[attr-defined]
            await pilot.click("#insert-go")
            await until(
                lambda s=insert: s.transfer is not None and s.transfer.state != "running", 30
            )
            assert insert.transfer.state == "done", insert.transfer.error  # type: ignore[attr-defined]
            await until(lambda e=edition: app.keypairs[0].get("Edition") == str(e))
        await until(lambda: app.bookmarks[0].get("Edition") == "1", 30)
