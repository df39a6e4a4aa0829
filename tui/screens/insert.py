"""The insert screen: pick a file or directory, choose the kind of key, insert, copy the key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DirectoryTree, Input, Label, Select, Static, Tree

from tui.explain import explain
from tui.screens.base import BaseScreen
from tui.state import Transfer
from tui.widgets.meters import bar

KINDS = [
    ("CHK — content hash key", "CHK"),
    ("SSK — signed, under a keypair", "SSK"),
    ("KSK — a keyword anyone can guess", "KSK"),
    ("USK — next edition of my site", "USK"),
]
NEW_KEYPAIR = "\x00new"
_DOC_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def doc_name(text: str) -> str:
    """A document name for SSK/USK keys: letters, digits, ``.``, ``_`` and ``-``."""
    return _DOC_NAME.sub("-", text).strip("-") or "file"


def usk_insert_uri(insert_ssk: str, site: str, edition: int) -> str:
    """``USK@…/site/N`` from a keypair's ``SSK@…/`` insert key."""
    base = insert_ssk.split("/", 1)[0].replace("SSK@", "USK@", 1)
    return f"{base}/{site}/{edition}"


class InsertScreen(BaseScreen):
    NAME = "insert"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "insert", "Insert"),
        Binding("y", "copy", "Copy key"),
        Binding("ctrl+r", "reload_tree", "Reload files"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected: Path | None = None
        self.transfer: Transfer | None = None

    def body(self) -> ComposeResult:
        with Horizontal(id="insert-split"):
            yield DirectoryTree(self.sapp.home, id="insert-tree")
            with Vertical(id="insert-form", classes="form"):
                yield Static("Choose a file or directory on the left.", id="insert-path")
                yield Label("Key")
                yield Select(KINDS, value="CHK", allow_blank=False, id="insert-kind", compact=True)
                yield Label("Keypair / site", id="insert-keypair-label")
                yield Select([], id="insert-keypair", compact=True, prompt="(new keypair)")
                yield Label("Name or keyword", id="insert-name-label")
                yield Input(placeholder="default: the file name", id="insert-name", compact=True)
                yield Label("MIME type (optional)")
                yield Input(placeholder="guessed from the name", id="insert-mime", compact=True)
                yield Button("Insert", id="insert-go", variant="primary", compact=True)
                yield Static("", id="insert-result")

    def on_mount(self) -> None:
        self._kind_changed()

    @on(Tree.NodeHighlighted, "#insert-tree")
    def _highlighted(self, event: Tree.NodeHighlighted[object]) -> None:
        path = getattr(event.node.data, "path", None)
        if isinstance(path, Path):
            self.selected = path
            kind = "directory (a site)" if path.is_dir() else "file"
            self.query_one("#insert-path", Static).update(f"[b]{kind}[/] {path.name}")

    @on(Select.Changed, "#insert-kind")
    def _kind_changed(self) -> None:
        kind = self.query_one("#insert-kind", Select).value
        keypair = kind in ("SSK", "USK")
        for wid in ("#insert-keypair", "#insert-keypair-label"):
            self.query_one(wid).display = keypair
        self.query_one("#insert-name-label", Label).update(
            "Keyword" if kind == "KSK" else "Document name" if kind == "SSK" else "Name"
        )
        self.query_one("#insert-name").display = kind in ("SSK", "KSK")
        self.query_one("#insert-name-label").display = kind in ("SSK", "KSK")

    def update_view(self, what: set[str]) -> None:
        if what & {"all", "keys"}:
            select = self.query_one("#insert-keypair", Select)
            options = [
                (f"{k['Name']} (edition {k.get('Edition', '-1')})", k["Name"])
                for k in self.sapp.keypairs
            ]
            current = select.value
            select.set_options(options)
            if current in [v for _, v in options]:
                select.value = current
        if what & {"all", "transfers"}:
            self._show_result()

    def _show_result(self) -> None:
        t = self.transfer
        out = self.query_one("#insert-result", Static)
        if t is None:
            out.update("")
        elif t.state == "done":
            out.update(f"[green]Inserted.[/] Key (y copies):\n{t.result_uri}")
        elif t.state == "failed":
            out.update(f"[red]Failed:[/] {explain('put', t.error_code, t.error)}")
        else:
            key = f"\nKey: {t.result_uri}" if t.result_uri else ""
            out.update(f"Inserting {t.name}… {bar(t.fraction, 16)} {t.fraction:.0%}{key}")

    def action_reload_tree(self) -> None:
        self.query_one(DirectoryTree).reload()

    @on(Button.Pressed, "#insert-go")
    def action_insert(self) -> None:
        if self.selected is None:
            self.notify("Choose a file or directory first.", severity="warning")
            return
        self._insert(self.selected)

    @work(exclusive=True, group="insert")
    async def _insert(self, path: Path) -> None:
        app = self.sapp
        fcp = app.require_fcp()
        if fcp is None:
            return
        kind = self.query_one("#insert-kind", Select).value
        name = self.query_one("#insert-name", Input).value.strip()
        mime = self.query_one("#insert-mime", Input).value.strip() or None
        keypair = self.query_one("#insert-keypair", Select).value
        site: str | None = None
        if kind == "CHK":
            uri = "CHK@"
        elif kind == "KSK":
            if not name:
                self.notify("A KSK needs a keyword.", severity="warning")
                return
            uri = f"KSK@{name}"
        else:
            if kind == "USK" and not isinstance(keypair, str):
                self.notify("Choose one of your sites (make one on the Keys screen, 5).")
                return
            if isinstance(keypair, str):
                private = await fcp.list_entries("Keypair", with_private=True)
                entry = next((k for k in private if k["Name"] == keypair), None)
                if entry is None:
                    self.notify(f"No keypair named {keypair!r}.", severity="error")
                    return
            else:
                pair = await fcp.generate_ssk()
                entry = {"InsertURI": pair.insert_uri, "RequestURI": pair.request_uri}
                saved = doc_name(name or path.stem)
                await fcp.put_entry("Keypair", saved, {**entry, "Edition": -1})
                app.keypairs = await fcp.list_entries("Keypair")
                app.changed("keys")
                self.notify(f"New keypair kept as {saved!r} (Keys screen).")
            if kind == "USK":
                site = str(keypair)
                edition = int(entry.get("Edition", "-1")) + 1
                uri = usk_insert_uri(entry["InsertURI"], doc_name(site), edition)
            else:
                uri = entry["InsertURI"].split("/", 1)[0] + "/" + doc_name(name or path.name)
        self.transfer = app.start_insert(path, uri, mime=mime, site=site)
        self._show_result()

    def action_copy(self) -> None:
        t = self.transfer
        if t is None or not t.result_uri:
            self.notify("No key yet.")
            return
        self.app.copy_to_clipboard(t.result_uri)
        self.notify(f"Copied {t.result_uri}", title="Key copied")
