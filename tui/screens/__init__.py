"""The TUI's screens, one module each, built by :func:`make_screens`."""

from __future__ import annotations

from tui.screens.base import BaseScreen


def make_screens() -> dict[str, BaseScreen]:
    from tui.screens.bookmarks import BookmarksScreen
    from tui.screens.dashboard import DashboardScreen
    from tui.screens.fetch import FetchScreen
    from tui.screens.insert import InsertScreen
    from tui.screens.keys import KeysScreen
    from tui.screens.peers import PeersScreen
    from tui.screens.transfers import TransfersScreen

    screens: list[BaseScreen] = [
        DashboardScreen(),
        TransfersScreen(),
        InsertScreen(),
        FetchScreen(),
        KeysScreen(),
        BookmarksScreen(),
        PeersScreen(),
    ]
    return {s.NAME: s for s in screens}
