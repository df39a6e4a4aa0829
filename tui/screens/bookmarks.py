"""Bookmarks: follow USKs (and keep any key); a notification when a new edition appears."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, Static

from node.fcp.client import FCPError
from tui.screens.base import BaseScreen
from tui.screens.fetch import clean_key


class BookmarksScreen(BaseScreen):
    NAME = "bookmarks"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "fetch", "Fetch latest"),
        Binding("y", "copy", "Copy key"),
        Binding("delete,x", "forget", "Remove"),
    ]

    def body(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="bookmarks-table", cursor_type="row")
        table.add_column("Name", width=16)
        table.add_column("Edition", width=7)
        table.add_column("Key", width=48)
        yield table
        with Horizontal(id="bookmarks-new", classes="form-row"):
            yield Input(placeholder="name", id="bookmark-name", compact=True)
            yield Input(placeholder="USK@…/site/N", id="bookmark-key", compact=True)
            yield Button("Add", id="bookmark-add", compact=True)
        yield Static("USK bookmarks are followed: new editions are announced.", id="bookmarks-help")

    def update_view(self, what: set[str]) -> None:
        if not what & {"all", "bookmarks"}:
            return
        table = self.query_one("#bookmarks-table", DataTable)
        row = table.cursor_row
        table.clear()
        for b in self.sapp.bookmarks:
            edition = b.get("Edition", "-1")
            table.add_row(b["Name"], "–" if edition == "-1" else edition, b["URI"], key=b["Name"])
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    def current(self) -> dict[str, str] | None:
        table = self.query_one("#bookmarks-table", DataTable)
        if not table.row_count:
            return None
        name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((b for b in self.sapp.bookmarks if b["Name"] == name), None)

    @on(Input.Submitted)
    @on(Button.Pressed, "#bookmark-add")
    def _add(self) -> None:
        name = self.query_one("#bookmark-name", Input).value.strip()
        key = clean_key(self.query_one("#bookmark-key", Input).value)
        if not name or "@" not in key:
            self.notify("Give the bookmark a name and a key (USK@… to follow a site).")
            return
        self._store(name, key)

    @work(exclusive=True, group="bookmarks")
    async def _store(self, name: str, key: str) -> None:
        app = self.sapp
        fcp = app.require_fcp()
        if fcp is None:
            return
        try:
            await fcp.put_entry("Bookmark", name, {"URI": key, "Edition": -1})
            app.bookmarks = await fcp.list_entries("Bookmark")
        except FCPError as exc:
            self.notify(str(exc), severity="error")
            return
        for wid in ("#bookmark-name", "#bookmark-key"):
            self.query_one(wid, Input).value = ""
        app.follow_bookmark(name)
        app.changed("bookmarks")
        self.notify(f"Bookmarked {name!r}.")

    def _latest_key(self, b: dict[str, str]) -> str:
        uri, edition = b["URI"], int(b.get("Edition", "-1"))
        if uri.startswith("USK@") and edition >= 0:
            head, _, tail = uri.rstrip("/").rpartition("/")
            if tail.lstrip("-").isdigit():
                return f"{head}/{edition}"
        return uri

    def action_copy(self) -> None:
        b = self.current()
        if b is not None:
            key = self._latest_key(b)
            self.app.copy_to_clipboard(key)
            self.notify(f"Copied {key}", title="Key copied")

    def action_fetch(self) -> None:
        b = self.current()
        if b is None:
            return
        from tui.screens.fetch import FetchScreen, default_filename

        key = self._latest_key(b)
        self.sapp.action_show("fetch")
        screen = self.app.get_screen("fetch")
        if isinstance(screen, FetchScreen):
            screen.query_one("#fetch-key", Input).value = key
            screen.query_one("#fetch-name", Input).value = default_filename(key)

    def action_forget(self) -> None:
        b = self.current()
        if b is not None:
            self._forget(b["Name"])

    @work(exclusive=True, group="bookmarks")
    async def _forget(self, name: str) -> None:
        fcp = self.sapp.require_fcp()
        if fcp is None:
            return
        await fcp.remove_entry("Bookmark", name)
        self.sapp.bookmarks = await fcp.list_entries("Bookmark")
        self.sapp.changed("bookmarks")
