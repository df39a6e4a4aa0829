"""The lines on every screen: the clickable, numbered navigation bar and the connection banner."""

from __future__ import annotations

from textual.widgets import Static


class NavBar(Static):
    """``1 Dashboard 2 Transfers …``: the current screen highlighted, each one clickable."""

    def __init__(self, current: str) -> None:
        super().__init__(id="nav")
        self.current = current

    def on_mount(self) -> None:
        self.show(connected=None)

    def show(self, *, connected: bool | None) -> None:
        from tui.app import SCREEN_NAMES, SCREEN_TITLES

        parts = []
        for i, name in enumerate(SCREEN_NAMES, 1):
            title = SCREEN_TITLES[name].split(" ")[0]
            style = "reverse bold" if name == self.current else ""
            parts.append(f"[{style} @click=app.show('{name}')] {i} {title} [/]")
        dot = {True: "[green]●[/]", False: "[red]●[/]", None: "[yellow]●[/]"}[connected]
        self.update("".join(parts) + " " + dot)


class ConnectionBanner(Static):
    """Shown only while the node is not connected: what went wrong, and that we retry."""

    def show(self, connected: bool, text: str) -> None:
        self.display = not connected
        self.update(text)
