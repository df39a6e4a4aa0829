"""The dashboard: who the node is, its peers, store and cache, traffic, uptime and warnings."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Sparkline, Static

from tui.screens.base import BaseScreen
from tui.state import human_duration, human_size
from tui.widgets.meters import usage


class DashboardScreen(BaseScreen):
    NAME = "dashboard"

    def body(self) -> ComposeResult:
        with Vertical(id="dash"):
            with Horizontal(id="dash-top"):
                yield Static(id="node-info", classes="box")
                yield Static(id="storage", classes="box")
            with Horizontal(classes="rate"):
                yield Static("in ", id="rate-in-label", classes="rate-label")
                yield Sparkline([], id="rate-in")
            with Horizontal(classes="rate"):
                yield Static("out", id="rate-out-label", classes="rate-label")
                yield Sparkline([], id="rate-out")
            yield Static(id="warnings")
            table: DataTable[str] = DataTable(id="peers-table", cursor_type="row")
            table.add_columns("Peer", "Location", "Status", "Direction", "Connected")
            yield table

    def update_view(self, what: set[str]) -> None:
        if not what & {"all", "node", "connection"}:
            return
        node = self.sapp.node
        info = node.info
        peers = node.number("volatile.numberOfConnected")
        mode = "opennet" if info.get("opennet") == "true" else "darknet"
        self.query_one("#node-info", Static).update(
            f"[b]Node[/] {info.get('myName', '–')} ({mode})\n"
            f"Location {info.get('location', '–')}\n"
            f"Peers    {peers} connected\n"
            f"Uptime   {human_duration(node.number('volatile.uptimeSeconds') if info else None)}"
        )
        store = usage(node.number("volatile.storeSize"), node.number("volatile.maxStoreSize"), 12)
        cache = usage(node.number("volatile.cacheSize"), node.number("volatile.maxCacheSize"), 12)
        self.query_one("#storage", Static).update(
            f"[b]Storage[/]\nStore {store}\nCache {cache}\n"
            f"Keys  {node.number('volatile.storeKeys')} stored, "
            f"{node.number('volatile.cacheKeys')} cached"
        )
        rin = node.rate_in[-1] if node.rate_in else 0.0
        rout = node.rate_out[-1] if node.rate_out else 0.0
        self.query_one("#rate-in-label", Static).update(f"in  {human_size(rin):>9}/s")
        self.query_one("#rate-out-label", Static).update(f"out {human_size(rout):>9}/s")
        self.query_one("#rate-in", Sparkline).data = list(node.rate_in)
        self.query_one("#rate-out", Sparkline).data = list(node.rate_out)
        warnings = node.warnings()
        box = self.query_one("#warnings", Static)
        box.display = bool(warnings)
        box.update("\n".join(f"⚠ {w}" for w in warnings))
        table = self.query_one("#peers-table", DataTable)
        table.clear()
        for peer in node.peers:
            table.add_row(
                peer.get("identity", "?"),
                peer.get("location", "?"),
                peer.get("metadata.status", "?").lower(),
                peer.get("metadata.direction", "–"),
                human_duration(float(peer.get("volatile.connectedSeconds", "0") or 0)),
            )
