"""The fetch screen: paste a key, choose where to save, watch it complete, or learn what to try."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Button, Input, Label, Static

from tui.explain import explain
from tui.screens.base import BaseScreen
from tui.state import Transfer, human_duration, human_size
from tui.widgets.meters import bar

KEY_PREFIXES = ("CHK@", "SSK@", "USK@", "KSK@")


def clean_key(text: str) -> str:
    """What a user pasted, as a key: spaces and line breaks and ``freenet:`` dropped."""
    key = "".join(text.split())
    for prefix in ("freenet:", "http://127.0.0.1:8888/", "http://localhost:8888/"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key


def default_filename(key: str) -> str:
    """The key's last path part (``…/photo.jpg`` → ``photo.jpg``), or a name made from it."""
    parts = [p for p in key.split("/")[1:] if p]
    if key.startswith("USK@") and len(parts) >= 2 and parts[-1].lstrip("-").isdigit():
        return f"{parts[-2]}-{parts[-1]}"
    if parts:
        return parts[-1]
    body = key.split("@", 1)[-1]
    return f"download-{body[:8] or 'file'}".replace(",", "")


class FetchScreen(BaseScreen):
    NAME = "fetch"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "fetch", "Fetch"),
        Binding("ctrl+o", "open_folder", "Open folder"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.transfer: Transfer | None = None

    def body(self) -> ComposeResult:
        with Vertical(id="fetch-form", classes="form"):
            yield Label("Key (paste: CHK@…, SSK@…/name, USK@…/site/N, KSK@word)")
            yield Input(placeholder="CHK@…", id="fetch-key", compact=True)
            yield Label("Save in directory")
            yield Input(str(self.sapp.home), id="fetch-dir", compact=True)
            yield Label("File name")
            yield Input(placeholder="from the key", id="fetch-name", compact=True)
            yield Button("Fetch", id="fetch-go", variant="primary", compact=True)
            yield Static("", id="fetch-status")

    @on(Input.Changed, "#fetch-key")
    def _key_changed(self, event: Input.Changed) -> None:
        key = clean_key(event.value)
        name = self.query_one("#fetch-name", Input)
        if key.startswith(KEY_PREFIXES) and not name.value:
            name.placeholder = default_filename(key)

    @on(Input.Submitted)
    @on(Button.Pressed, "#fetch-go")
    def action_fetch(self) -> None:
        key = clean_key(self.query_one("#fetch-key", Input).value)
        if not key.startswith(KEY_PREFIXES):
            self.notify(
                "Paste a Samizdat key: it starts with CHK@, SSK@, USK@ or KSK@.", severity="warning"
            )
            return
        directory = Path(self.query_one("#fetch-dir", Input).value.strip() or ".").expanduser()
        name = self.query_one("#fetch-name", Input).value.strip() or default_filename(key)
        self.transfer = self.sapp.start_fetch(key, directory / name)
        self._show()

    def update_view(self, what: set[str]) -> None:
        if what & {"all", "transfers"}:
            self._show()

    def _show(self) -> None:
        t = self.transfer
        status = self.query_one("#fetch-status", Static)
        if t is None:
            status.update("")
        elif t.state == "done":
            size = f" ({human_size(t.size)})" if t.size else ""
            status.update(f"[green]Saved[/] {t.filename}{size}\n^o opens its folder.")
        elif t.state == "failed":
            status.update(f"[red]Failed:[/] {explain('get', t.error_code, t.error)}")
        else:
            eta = human_duration(t.eta(self.sapp.clock()))
            status.update(
                f"Fetching {t.name}… {bar(t.fraction, 20)} {t.fraction:.0%}  ETA {eta}\n"
                f"blocks {t.succeeded}/{t.required or t.total or '?'}"
            )

    def action_open_folder(self) -> None:
        t = self.transfer
        if t is None or t.state != "done" or not t.filename:
            self.notify("Nothing fetched yet.")
            return
        folder = Path(t.filename).parent
        self.app.open_url(folder.as_uri())
        self.notify(str(folder), title="Download folder")
