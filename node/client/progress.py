"""Progress of one fetch or insert, counted in blocks as FCP's ``SimpleProgress`` is.

The fields are Freenet's: ``total`` blocks known, ``required`` to finish (a
fetch needs k of every segment's n; an insert needs all), ``succeeded``,
``failed`` (may be retried), ``fatally_failed``, and ``finalized`` once the
totals can no longer grow (the last level of metadata is known).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """A snapshot of a request's progress."""

    total: int = 0
    required: int = 0
    succeeded: int = 0
    failed: int = 0
    fatally_failed: int = 0
    finalized: bool = False

    @property
    def fraction(self) -> float:
        """``succeeded / required`` clamped to [0, 1] (0 when nothing is known yet)."""
        return min(1.0, self.succeeded / self.required) if self.required else 0.0


ProgressCallback = Callable[[Progress], None]


class ProgressTracker:
    """Mutable counters behind :class:`Progress`; calls ``callback`` on every change.

    The callback runs on the event loop and must not block; it receives an
    immutable snapshot it may keep.
    """

    def __init__(self, callback: ProgressCallback | None = None) -> None:
        self.callback = callback
        self.total = 0
        self.required = 0
        self.succeeded = 0
        self.failed = 0
        self.fatally_failed = 0
        self.finalized = False

    def snapshot(self) -> Progress:
        return Progress(
            total=self.total,
            required=self.required,
            succeeded=self.succeeded,
            failed=self.failed,
            fatally_failed=self.fatally_failed,
            finalized=self.finalized,
        )

    def emit(self) -> None:
        if self.callback is not None:
            self.callback(self.snapshot())

    def add(self, *, total: int = 0, required: int = 0, finalized: bool | None = None) -> None:
        self.total += total
        self.required += required
        if finalized is not None:
            self.finalized = finalized
        self.emit()

    def success(self, count: int = 1) -> None:
        self.succeeded += count
        self.emit()

    def failure(self, *, fatal: bool = False) -> None:
        if fatal:
            self.fatally_failed += 1
        else:
            self.failed += 1
        self.emit()
