"""Peers: this node's reference to give to friends, and adding a friend's reference."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Label, TextArea

from node.fcp.client import FCPError
from tui.screens.base import BaseScreen


class PeersScreen(BaseScreen):
    NAME = "peers"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+y", "copy_ref", "Copy my reference"),
        Binding("ctrl+s", "add_friend", "Add friend"),
    ]

    def body(self) -> ComposeResult:
        yield Label("This node's reference — give it to a friend:")
        yield TextArea("", id="my-ref", read_only=True, soft_wrap=True)
        yield Label("A friend's reference — paste it, then ^s:")
        yield TextArea("", id="friend-ref", soft_wrap=True)
        with Horizontal(classes="form-row"):
            yield Button("Copy my reference", id="copy-ref", compact=True)
            yield Button("Add friend", id="add-friend", variant="primary", compact=True)
        table: DataTable[str] = DataTable(id="peers-list", cursor_type="row")
        table.add_columns("Peer", "Location", "Kind", "Direction")
        yield table

    def update_view(self, what: set[str]) -> None:
        if not what & {"all", "node"}:
            return
        node = self.sapp.node
        mine = self.query_one("#my-ref", TextArea)
        if mine.text != node.noderef:
            mine.text = node.noderef
        table = self.query_one("#peers-list", DataTable)
        table.clear()
        for p in node.peers:
            kind = "opennet" if p.get("opennet") == "true" else "friend"
            table.add_row(
                p.get("identity", "?"),
                p.get("location", "?"),
                kind,
                p.get("metadata.direction", "–"),
            )

    @on(Button.Pressed, "#copy-ref")
    def action_copy_ref(self) -> None:
        ref = self.sapp.node.noderef
        if not ref:
            self.notify("Not known yet: the node has not answered.")
            return
        self.app.copy_to_clipboard(ref)
        self.notify("Your node reference is on the clipboard.", title="Copied")

    @on(Button.Pressed, "#add-friend")
    def action_add_friend(self) -> None:
        text = self.query_one("#friend-ref", TextArea).text.strip()
        if not text:
            self.notify("Paste a friend's reference first.", severity="warning")
            return
        self._add(text)

    @work(exclusive=True, group="peers")
    async def _add(self, text: str) -> None:
        fcp = self.sapp.require_fcp()
        if fcp is None:
            return
        try:
            identity, new = await fcp.add_peer(text)
        except FCPError as exc:
            self.notify(exc.extra or str(exc), title="Not added", severity="error")
            return
        self.query_one("#friend-ref", TextArea).text = ""
        what = "added; connecting" if new else "known already; reconnecting"
        self.notify(f"Friend {identity} {what}.", title="Peer added")
