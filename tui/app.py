"""The Samizdat terminal UI: :func:`create_app` builds the Textual app around an FCP connection.

The app owns one FCP connection at a time (a worker that connects, watches
the global queue, lists persistent requests, polls the node, follows
bookmarks, and on any failure shows why and reconnects) and the state it
learns (:mod:`tui.state`). Screens read that state (attributes down) and ask
the app to act through its ``start_*`` methods and actions (messages up);
every FCP call runs in a worker. Tests hand :func:`create_app` a connect
function for a node on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, ClassVar

import anyio
from textual import work
from textual.app import App, ScreenStackError, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker

from node.fcp.client import FCPClient, FCPError, new_identifier
from tui.node_process import NodeProcess
from tui.state import NodeState, Transfers
from tui.transfers import TransferActions

ConnectFn = Callable[[], AbstractAsyncContextManager[FCPClient]]

SCREEN_NAMES = ("dashboard", "transfers", "insert", "fetch", "keys", "bookmarks", "peers")
SCREEN_TITLES = {
    "dashboard": "Dashboard",
    "transfers": "Transfers",
    "insert": "Insert",
    "fetch": "Fetch",
    "keys": "Keys & sites",
    "bookmarks": "Bookmarks",
    "peers": "Peers",
}
POLL_INTERVAL = 1.0  # seconds between node polls (figures, peers, rates)
RECONNECT_DELAY = 1.0  # first wait before reconnecting; doubles up to MAX_RECONNECT_DELAY
MAX_RECONNECT_DELAY = 8.0


def connect_to(host: str, port: int) -> ConnectFn:
    """A connect function for the node's FCP port at ``host:port``."""
    return lambda: FCPClient.connect(host, port, name=new_identifier("samizdat-tui"), timeout=5.0)


def _reason(exc: BaseException) -> str:
    """The first readable cause inside (possibly nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, FCPError):
        return str(exc)
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return f"{type(exc).__name__}: {exc}"


class SamizdatApp(TransferActions, App[None]):
    """A client of one Samizdat node over FCP (build it with :func:`create_app`)."""

    CSS_PATH = "app.tcss"
    TITLE = "Samizdat"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(str(i), f"show('{name}')", SCREEN_TITLES[name], show=False)
            for i, name in enumerate(SCREEN_NAMES, 1)
        ),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        connect: ConnectFn,
        *,
        address: str = "127.0.0.1:9481",
        home: Path | None = None,
        node_process: NodeProcess | None = None,
        start_node: bool = False,
        poll_interval: float = POLL_INTERVAL,
        reconnect_delay: float = RECONNECT_DELAY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.connect = connect
        self.address = address
        self.home = home or Path.cwd()
        self.node_process = node_process
        self.auto_start = start_node
        self.poll_interval = poll_interval
        self.reconnect_delay = reconnect_delay
        self.clock = clock
        self.fcp: FCPClient | None = None
        self.node = NodeState()
        self.transfers = Transfers()
        self.keypairs: list[dict[str, str]] = []
        self.bookmarks: list[dict[str, str]] = []
        self.connected = False
        self.ever_connected = False
        self.connection_text = f"connecting to {address}…"
        self._session_tg: anyio.abc.TaskGroup | None = None
        self._offered_start = False
        self.transfer_workers: dict[str, Worker[None]] = {}

    # --- screens ------------------------------------------------------------------

    def on_mount(self) -> None:
        from tui.screens import make_screens

        for name, screen in make_screens().items():
            self.install_screen(screen, name)
        self.push_screen("dashboard")
        self.maintain_connection()

    def action_show(self, name: str) -> None:
        if name in SCREEN_NAMES and self.screen is not self.get_screen(name):
            self.switch_screen(name)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for i, name in enumerate(SCREEN_NAMES, 1):
            title = SCREEN_TITLES[name]
            yield SystemCommand(
                f"Go to {title}",
                f"Show the {title} screen ({i})",
                lambda n=name: self.action_show(n),
            )
        yield SystemCommand("Reconnect", "Connect to the node again", self.maintain_connection)

    def changed(self, *what: str) -> None:
        """State changed: let the visible screen redraw what depends on it."""
        try:
            screen = self.screen
        except ScreenStackError:  # the app is shutting down: nothing is visible
            return
        refresh = getattr(screen, "refresh_state", None)
        if refresh is not None:
            refresh(set(what))

    # --- the connection -----------------------------------------------------------

    def _set_connection(self, connected: bool, text: str) -> None:
        self.connected = connected
        self.connection_text = text
        self.changed("connection")

    @work(exclusive=True, group="connection")
    async def maintain_connection(self) -> None:
        """Connect, serve the session, and on any failure say why and reconnect."""
        delay = self.reconnect_delay
        while True:
            try:
                async with self.connect() as fcp:
                    delay = self.reconnect_delay
                    await self._session(fcp)
                reason = "the connection closed"
            except Exception as exc:
                reason = _reason(exc)
            finally:
                self.fcp = None
                self._session_tg = None
            if not self.ever_connected and await self._maybe_start_node():
                continue
            lost = "Node lost" if self.ever_connected else "No node answers"
            self._set_connection(
                False, f"{lost} at {self.address}: {reason} — retrying in {delay:g} s"
            )
            await anyio.sleep(delay)
            delay = min(delay * 2, MAX_RECONNECT_DELAY)

    async def _session(self, fcp: FCPClient) -> None:
        await fcp.watch_global(True)
        now = self.clock()
        listed = set()
        for msg in await fcp.list_persistent():
            t = self.transfers.apply(msg, now)
            if t is not None:
                listed.add(t.key)
        for t in self.transfers.items.values():
            if t.state == "running" and t.key not in listed:
                t.state, t.error, t.finished = "failed", "lost with the connection", now
        self.keypairs = await fcp.list_entries("Keypair")
        self.bookmarks = await fcp.list_entries("Bookmark")
        self.fcp = fcp
        self.ever_connected = True
        self._set_connection(True, f"connected to {self.address}")
        self.changed("transfers", "keys", "bookmarks")
        async with anyio.create_task_group() as tg:
            self._session_tg = tg
            tg.start_soon(self._pump_events, fcp)
            for bookmark in self.bookmarks:
                tg.start_soon(self._follow, fcp, bookmark["Name"])
            await self._poll(fcp)

    async def _poll(self, fcp: FCPClient) -> None:
        while True:
            info = await fcp.node_info(with_private=not self.node.noderef, with_volatile=True)
            peers = await fcp.list_peers(with_volatile=True)
            self.node.update(info, peers, self.clock())
            self.changed("node")
            await anyio.sleep(self.poll_interval)

    async def _pump_events(self, fcp: FCPClient) -> None:
        async for msg in fcp.events():
            self.on_fcp_message(msg)

    async def _follow(self, fcp: FCPClient, name: str) -> None:
        """Subscribe to a bookmarked USK; a newer edition is remembered and announced."""
        entry = next((b for b in self.bookmarks if b["Name"] == name), None)
        if entry is None or not entry.get("URI", "").startswith("USK@"):
            return
        async with fcp.subscribe_usk(entry["URI"]) as updates:
            async for edition, uri in updates:
                # The list may have been reloaded since: find the entry again.
                entry = next((b for b in self.bookmarks if b["Name"] == name), entry)
                if edition <= int(entry.get("Edition", "-1")):
                    continue
                entry["Edition"] = str(edition)
                await fcp.put_entry("Bookmark", name, {"URI": entry["URI"], "Edition": edition})
                self.notify(f"{name}: edition {edition} is out\n{uri}", title="New edition")
                self.changed("bookmarks")

    def follow_bookmark(self, name: str) -> None:
        if self.fcp is not None and self._session_tg is not None:
            self._session_tg.start_soon(self._follow, self.fcp, name)

    async def _maybe_start_node(self) -> bool:
        """No node has answered yet: start one (asked, or at once with ``--start-node``)."""
        process = self.node_process
        if process is None or self._offered_start or process.running:
            return False
        self._offered_start = True
        if not self.auto_start:
            from tui.screens.dialogs import Confirm

            question = (
                f"No node answers at {self.address}.\nStart one with the default data directory?"
            )
            if not await self.push_screen_wait(Confirm(question, yes="Start a node", no="Not now")):
                return False
        self._set_connection(False, f"starting a node (FCP {self.address})…")
        await anyio.to_thread.run_sync(process.start)
        ready = await anyio.to_thread.run_sync(process.wait_ready)
        if not ready:
            self.notify("The node did not start; see its log.", severity="error")
        return ready

    def require_fcp(self) -> FCPClient | None:
        """The live connection, or None after telling the user there is none."""
        if self.fcp is None:
            self.notify(f"Not connected to the node: {self.connection_text}", severity="warning")
        return self.fcp

    def on_unmount(self) -> None:
        if self.node_process is not None:
            self.node_process.stop()


def create_app(
    connect: ConnectFn | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 9481,
    **options: Any,
) -> SamizdatApp:
    """The TUI for the node at ``host:port``, or for whatever ``connect`` opens (tests)."""
    return SamizdatApp(connect or connect_to(host, port), address=f"{host}:{port}", **options)
