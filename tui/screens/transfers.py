"""The transfers screen: every insert and fetch on the node, with progress, speed, ETA and state."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from tui.explain import explain
from tui.screens.base import BaseScreen
from tui.state import Transfer, human_duration, human_size
from tui.widgets.meters import bar

KIND_LABEL = {"get": "fetch", "put": "insert", "putdir": "site"}


class TransfersScreen(BaseScreen):
    NAME = "transfers"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel", "Cancel"),
        Binding("r", "retry", "Retry"),
        Binding("delete,x", "remove", "Remove"),
        Binding("y", "copy", "Copy key"),
        Binding("o", "open_folder", "Open folder"),
    ]

    def body(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="transfers-table", cursor_type="row")
        table.add_column("Kind", key="kind", width=6)
        table.add_column("Name", key="name", width=18)
        table.add_column("Progress", key="progress", width=17)
        table.add_column("Speed", key="speed", width=10)
        table.add_column("ETA", key="eta", width=7)
        table.add_column("State", key="state", width=8)
        yield table
        yield Static("No transfers yet: insert (3) or fetch (4) something.", id="transfer-detail")

    def _row(self, t: Transfer, now: float) -> tuple[str, ...]:
        speed = t.speed(now) if t.state == "running" else 0.0
        return (
            KIND_LABEL[t.kind],
            t.name[:18],
            f"{bar(t.fraction, 11)} {t.fraction:4.0%}",
            f"{human_size(speed)}/s" if speed else "–",
            human_duration(t.eta(now)),
            t.state,
        )

    def update_view(self, what: set[str]) -> None:
        if not what & {"all", "transfers"}:
            return
        table = self.query_one("#transfers-table", DataTable)
        now = self.sapp.clock()
        wanted = self.sapp.transfers.ordered()
        keys = [f"{t.identifier}\x00{int(t.global_)}" for t in wanted]
        if [str(k.value) for k in table.rows] != keys:
            selected = self._selected()
            table.clear()
            for key, t in zip(keys, wanted, strict=True):
                table.add_row(*self._row(t, now), key=key)
            if selected is not None and selected in keys:
                table.move_cursor(row=keys.index(selected))
        else:
            for key, t in zip(keys, wanted, strict=True):
                for column, value in zip(
                    ("kind", "name", "progress", "speed", "eta", "state"),
                    self._row(t, now),
                    strict=True,
                ):
                    table.update_cell(key, column, value)
        self._show_detail()

    def _selected(self) -> str | None:
        table = self.query_one("#transfers-table", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def current(self) -> Transfer | None:
        key = self._selected()
        if key is None:
            return None
        identifier, global_ = key.split("\x00")
        return self.sapp.transfers.get(identifier, global_ == "1")

    def on_data_table_row_highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        t = self.current()
        detail = self.query_one("#transfer-detail", Static)
        if t is None:
            detail.update("No transfers yet: insert (3) or fetch (4) something.")
            return
        lines = [f"[b]{KIND_LABEL[t.kind]}[/] {t.filename or t.uri}"]
        if t.result_uri:
            lines.append(f"Key: {t.result_uri}")
        elif t.kind == "get":
            lines.append(f"Key: {t.uri}")
        if t.state == "failed":
            kind = "get" if t.kind == "get" else "put"
            lines.append(f"[red]{explain(kind, t.error_code, t.error)}[/]")
        if t.size:
            lines.append(f"Size: {human_size(t.size)}")
        detail.update("\n".join(lines))

    def action_cancel(self) -> None:
        t = self.current()
        if t is None or t.state != "running":
            self.notify("Select a running transfer to cancel.")
            return
        self.sapp.remove_transfer(t)

    def action_remove(self) -> None:
        t = self.current()
        if t is not None:
            self.sapp.remove_transfer(t)

    def action_retry(self) -> None:
        t = self.current()
        if t is None or t.state == "running":
            self.notify("Select a finished or failed transfer to retry.")
            return
        self.sapp.retry_transfer(t)

    def action_copy(self) -> None:
        t = self.current()
        key = (t.result_uri or (t.uri if t and t.kind == "get" else None)) if t else None
        if not key:
            self.notify("This transfer has no key yet.")
            return
        self.app.copy_to_clipboard(key)
        self.notify(f"Copied {key}", title="Key copied")

    def action_open_folder(self) -> None:
        t = self.current()
        if t is None or t.kind != "get" or t.state != "done" or not t.filename:
            self.notify("Select a finished download.")
            return
        folder = Path(t.filename).parent
        self.app.open_url(folder.as_uri())
        self.notify(str(folder), title="Download folder")
