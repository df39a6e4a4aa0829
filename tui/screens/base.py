"""The frame every main screen shares: navigation bar, connection banner, body, footer."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer

from tui.widgets.chrome import ConnectionBanner, NavBar

if TYPE_CHECKING:
    from tui.app import SamizdatApp


class BaseScreen(Screen[None]):
    """A main screen. Subclasses give ``NAME``, ``body()`` and ``update_view(what)``."""

    NAME = ""
    # Digits switch screens, so a text field gives its keys back on Escape.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave_field", "Leave field", show=False)
    ]

    @property
    def sapp(self) -> SamizdatApp:
        from tui.app import SamizdatApp

        return cast(SamizdatApp, self.app) if isinstance(self.app, SamizdatApp) else self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield NavBar(self.NAME)
        yield ConnectionBanner(id="banner")
        yield from self.body()
        yield Footer()

    def body(self) -> ComposeResult:
        yield from ()

    def action_leave_field(self) -> None:
        self.set_focus(None)

    def on_screen_resume(self) -> None:
        self.refresh_state({"all"})

    def refresh_state(self, what: set[str]) -> None:
        """The app's state changed (``what``: node, transfers, keys, bookmarks, connection)."""
        if not self.is_mounted:
            return
        app = self.sapp
        try:
            self.query_one(NavBar).show(connected=app.connected if app.ever_connected else None)
            self.query_one(ConnectionBanner).show(app.connected, app.connection_text)
            self.update_view(what)
        except NoMatches:
            return  # mounted but not yet composed: on_screen_resume redraws it all

    def update_view(self, what: set[str]) -> None:
        """Redraw what depends on ``what`` (``all`` on showing the screen)."""
