"""Pilot tests of the TUI against a real node on loopback (in-process, FCP on a free port)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from textual.widgets import DataTable, Input

from node.fcp.client import FCPClient
from tests.tui.conftest import loopback_node
from tui.app import SamizdatApp, create_app

pytestmark = pytest.mark.anyio


async def until(check: Callable[[], object], timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not check():
            await anyio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_app(port: int, home: Path) -> SamizdatApp:
    return create_app(port=port, home=home, poll_interval=0.2, reconnect_delay=0.2)


async def test_dashboard_shows_the_node_and_warns_without_peers(tmp_path: Path) -> None:
    async with loopback_node(tmp_path / "node") as node:
        app = make_app(node.ports["fcp_port"], tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(lambda: app.connected and app.node.info)
            await pilot.pause(0.3)
            text = str(app.screen.query_one("#node-info").render())
            assert node.runtime.noderef_text() and f"{node.runtime.location:.6f}" in text
            assert "No peers are connected" in str(app.screen.query_one("#warnings").render())


async def test_transfers_show_a_persistent_request_made_by_another_client(tmp_path: Path) -> None:
    async with loopback_node(tmp_path / "node") as node:
        port = node.ports["fcp_port"]
        app = make_app(port, tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(lambda: app.connected)
            await pilot.press("2")
            async with FCPClient.connect("127.0.0.1", port, name="other") as other:
                with pytest.raises(Exception):  # noqa: B017 - nothing is there to find
                    await other.get(
                        "KSK@nothing-here", global_=True, persistence="forever", identifier="cli-1"
                    )
            await until(lambda: app.transfers.get("cli-1") is not None)
            t = app.transfers.get("cli-1")
            assert t is not None and t.uri == "KSK@nothing-here"
            await pilot.pause(0.2)
            table = app.screen.query_one("#transfers-table", DataTable)
            assert any("KSK@nothing-here" in str(table.get_row(k)) for k in table.rows)
            # A TUI started later sees it too, from ListPersistentRequests.
            late = make_app(port, tmp_path)
            async with late.run_test(size=(80, 24)):
                await until(lambda: late.transfers.get("cli-1") is not None)


async def test_keys_generate_and_bookmark(tmp_path: Path) -> None:
    async with loopback_node(tmp_path / "node") as node:
        app = make_app(node.ports["fcp_port"], tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(lambda: app.connected)
            await pilot.press("5")
            app.screen.query_one("#keys-name", Input).value = "blog"
            await pilot.click("#keys-generate")
            await until(lambda: [k["Name"] for k in app.keypairs] == ["blog"])
            assert "InsertURI" not in app.keypairs[0]  # never listed unless asked
            usk = app.keypairs[0]["RequestURI"].split("/")[0].replace("SSK@", "USK@") + "/blog/0"
            await pilot.press("escape", "6")
            app.screen.query_one("#bookmark-name", Input).value = "my blog"
            app.screen.query_one("#bookmark-key", Input).value = usk
            await pilot.click("#bookmark-add")
            await until(lambda: [b["Name"] for b in app.bookmarks] == ["my blog"])
            await pilot.pause(0.2)
            assert app.screen.query_one("#bookmarks-table", DataTable).row_count == 1


async def test_node_lost_mid_transfer_and_back(tmp_path: Path) -> None:
    port = free_port()
    app = make_app(port, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        async with loopback_node(tmp_path / "node", fcp_port=port):
            await until(lambda: app.connected)
            await pilot.press("4")
            app.screen.query_one("#fetch-key", Input).value = "KSK@not-yet-there"
            await pilot.press("ctrl+s")
            await until(lambda: len(app.transfers) == 1)
        # The node is gone: the app says so and keeps running.
        await until(lambda: not app.connected and "Node lost" in app.connection_text)
        (ident, _global) = next(iter(app.transfers.items))
        app.transfers.items.clear()  # forget it: it must come back from the node's list
        await pilot.pause(0.3)
        assert app.screen.query_one("#banner").display
        assert app.is_running
        async with loopback_node(tmp_path / "node", fcp_port=port):
            await until(lambda: app.connected, timeout=15)
            await pilot.pause(0.3)
            assert not app.screen.query_one("#banner").display
            # The persistent fetch survived in the node and is listed again.
            await until(lambda: app.transfers.get(ident) is not None)
            assert app.transfers.items[(ident, True)].uri == "KSK@not-yet-there"


def test_a_state_change_while_no_screen_is_up_is_not_an_error(tmp_path: Path) -> None:
    # The connection worker may report "node lost" while the app shuts down and
    # its screens are already gone: that must not turn into the app's exception.
    app = make_app(free_port(), tmp_path)
    app.changed("connection")
    app._set_connection(False, "Node lost")
    assert app.connection_text == "Node lost"
