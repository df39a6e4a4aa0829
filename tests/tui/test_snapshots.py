"""SVG snapshots of every screen at 80×24 and 120×40 (pytest-textual-snapshot), on a fake node.

Update after a deliberate change of the look: ``pytest tests/tui --snapshot-update``,
then inspect the SVGs under ``tests/tui/__snapshots__``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.tui.fake_fcp import fake_connect
from tui.app import SCREEN_NAMES, create_app

SIZES = [(80, 24), (120, 40)]


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fixed tree under a relative path, so no temporary directory name shows."""
    root = tmp_path / "files"
    (root / "site").mkdir(parents=True)
    (root / "site" / "index.html").write_text("<h1>hello</h1>")
    (root / "photo.jpg").write_bytes(b"\xff\xd8")
    (root / "notes.txt").write_text("notes")
    monkeypatch.chdir(tmp_path)
    return Path("files")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", SCREEN_NAMES)
def test_screen(snap_compare: object, files: Path, screen: str, size: tuple[int, int]) -> None:
    app = create_app(fake_connect(), home=files, clock=lambda: 1000.0, poll_interval=3600)  # type: ignore[arg-type]

    async def show(pilot: Pilot[None]) -> None:
        for _ in range(50):
            if app.connected and app.node.info:
                break
            await pilot.pause(0.02)
        await pilot.press("escape", str(SCREEN_NAMES.index(screen) + 1))
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()

    assert snap_compare(app, terminal_size=size, run_before=show)  # type: ignore[operator]
