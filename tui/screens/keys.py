"""Keys and sites: generate keypairs, keep them named in the node, publish a site's next edition."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, DirectoryTree, Input, Static

from node.fcp.client import FCPError
from tui.screens.base import BaseScreen
from tui.screens.insert import doc_name, usk_insert_uri


class PickDirectory(ModalScreen[Path | None]):
    """Choose a directory (Enter on it, or the button); Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, root: Path, title: str) -> None:
        super().__init__()
        self.root, self.title_text = root, title
        self.chosen: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Static(self.title_text)
            yield DirectoryTree(self.root, id="picker-tree")
            with Horizontal(id="dialog-buttons"):
                yield Button("Publish this directory", variant="primary", id="pick")
                yield Button("Cancel", id="cancel")

    @on(DirectoryTree.DirectorySelected)
    def _selected(self, event: DirectoryTree.DirectorySelected) -> None:
        self.chosen = event.path

    def on_tree_node_highlighted(self, event: DirectoryTree.NodeHighlighted[object]) -> None:
        path = getattr(event.node.data, "path", None)
        if isinstance(path, Path) and path.is_dir():
            self.chosen = path

    @on(Button.Pressed, "#pick")
    def _pick(self) -> None:
        self.dismiss(self.chosen)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class KeysScreen(BaseScreen):
    NAME = "keys"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("g", "generate", "Generate"),
        Binding("p", "publish", "Publish"),
        Binding("s", "show_insert", "Insert key"),
        Binding("y", "copy", "Copy key"),
        Binding("delete,x", "forget", "Forget"),
    ]

    def body(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="keys-table", cursor_type="row")
        table.add_column("Name", width=16)
        table.add_column("Edition", width=7)
        table.add_column("Request key", width=48)
        yield table
        with Horizontal(id="keys-new", classes="form-row"):
            yield Input(placeholder="name for a new keypair / site", id="keys-name", compact=True)
            yield Button("Generate", id="keys-generate", compact=True)
        yield Static("Insert keys stay in the node; s shows one.", id="keys-detail")

    def update_view(self, what: set[str]) -> None:
        if not what & {"all", "keys"}:
            return
        table = self.query_one("#keys-table", DataTable)
        row = table.cursor_row
        table.clear()
        for k in self.sapp.keypairs:
            table.add_row(k["Name"], k.get("Edition", "-1"), k.get("RequestURI", ""), key=k["Name"])
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    def current(self) -> dict[str, str] | None:
        table = self.query_one("#keys-table", DataTable)
        if not table.row_count:
            return None
        name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((k for k in self.sapp.keypairs if k["Name"] == name), None)

    @on(Input.Submitted, "#keys-name")
    @on(Button.Pressed, "#keys-generate")
    def action_generate(self) -> None:
        name = doc_name(self.query_one("#keys-name", Input).value.strip())
        if not self.query_one("#keys-name", Input).value.strip():
            self.query_one("#keys-name", Input).focus()
            self.notify("Type a name for the keypair (it is also the site's name), then Enter.")
            return
        self._generate(name)

    @work(exclusive=True, group="keys")
    async def _generate(self, name: str) -> None:
        fcp = self.sapp.require_fcp()
        if fcp is None:
            return
        if any(k["Name"] == name for k in self.sapp.keypairs):
            self.notify(f"A keypair named {name!r} exists already.", severity="warning")
            return
        try:
            pair = await fcp.generate_ssk()
            fields = {"InsertURI": pair.insert_uri, "RequestURI": pair.request_uri, "Edition": -1}
            await fcp.put_entry("Keypair", name, fields)
            self.sapp.keypairs = await fcp.list_entries("Keypair")
        except FCPError as exc:
            self.notify(str(exc), severity="error")
            return
        self.query_one("#keys-name", Input).value = ""
        self.notify(f"Keypair {name!r} generated and kept in the node.")
        self.sapp.changed("keys")

    def action_copy(self) -> None:
        k = self.current()
        if k is None:
            return
        base = k["RequestURI"].split("/", 1)[0].replace("SSK@", "USK@", 1)
        key = f"{base}/{k['Name']}/{max(0, int(k.get('Edition', '-1')))}"
        self.app.copy_to_clipboard(key)
        self.notify(f"Copied {key}", title="Site key copied")

    def action_show_insert(self) -> None:
        k = self.current()
        if k is not None:
            self._show_insert(k["Name"])

    @work(exclusive=True, group="keys")
    async def _show_insert(self, name: str) -> None:
        from tui.screens.dialogs import Confirm

        question = (
            f"Show the insert key of {name!r}?\n"
            "Anyone who sees it can publish as you. Make sure nobody watches your screen."
        )
        if not await self.app.push_screen_wait(Confirm(question, yes="Show it", no="Cancel")):
            return
        fcp = self.sapp.require_fcp()
        if fcp is None:
            return
        private = await fcp.list_entries("Keypair", with_private=True)
        entry = next((k for k in private if k["Name"] == name), None)
        if entry is not None:
            self.query_one("#keys-detail", Static).update(f"[b]Insert key[/] {entry['InsertURI']}")

    def action_publish(self) -> None:
        k = self.current()
        if k is None:
            self.notify("Generate a keypair first (g).")
            return
        self._publish(k["Name"])

    @work(exclusive=True, group="keys")
    async def _publish(self, name: str) -> None:
        directory = await self.app.push_screen_wait(
            PickDirectory(self.sapp.home, f"Publish the next edition of {name!r} from:")
        )
        if directory is None:
            return
        fcp = self.sapp.require_fcp()
        if fcp is None:
            return
        private = await fcp.list_entries("Keypair", with_private=True)
        entry = next((k for k in private if k["Name"] == name), None)
        if entry is None:
            return
        edition = int(entry.get("Edition", "-1")) + 1
        uri = usk_insert_uri(entry["InsertURI"], doc_name(name), edition)
        self.sapp.start_insert(directory, uri, site=name)
        self.notify(f"Publishing edition {edition} of {name!r}; see Transfers (2).")

    def action_forget(self) -> None:
        k = self.current()
        if k is not None:
            self._forget(k["Name"])

    @work(exclusive=True, group="keys")
    async def _forget(self, name: str) -> None:
        from tui.screens.dialogs import Confirm

        question = (
            f"Forget the keypair {name!r}?\nWithout its insert key you can never update the site."
        )
        if not await self.app.push_screen_wait(Confirm(question, yes="Forget it", no="Keep it")):
            return
        fcp = self.sapp.require_fcp()
        if fcp is None:
            return
        await fcp.remove_entry("Keypair", name)
        self.sapp.keypairs = await fcp.list_entries("Keypair")
        self.sapp.changed("keys")
