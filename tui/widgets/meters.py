"""Small read-only displays: a text progress bar and a labelled usage meter."""

from __future__ import annotations

from tui.state import human_size


def bar(fraction: float, width: int = 12) -> str:
    """``████▌·······`` — a progress bar as text, for table cells."""
    fraction = max(0.0, min(1.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[part] if part else ""
    return ("█" * full + partial).ljust(width, "·")[:width]


def usage(used: int, limit: int, width: int = 20) -> str:
    """``███······ 1.2 MiB / 10.0 MiB (12%)``."""
    fraction = used / limit if limit else 0.0
    return f"{bar(fraction, width)} {human_size(used)} / {human_size(limit)} ({fraction:.0%})"
