"""What the TUI knows about the node: transfers folded from FCP messages, node figures, rates.

Plain Python, no Textual: the app feeds every FCP message it sees (global-queue
traffic, listings, its own requests' progress) to :meth:`Transfers.apply`, and
node polls to :meth:`NodeState.update`; screens read these objects. Time is a
parameter (``now``) so tests can drive it.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

State = Literal["queued", "running", "done", "failed", "removed"]
RATE_SAMPLES = 60  # one per poll: a minute of history for the sparklines
SPEED_WINDOW = 10.0  # seconds of block progress a transfer's speed is averaged over
BLOCK_SIZE = 32 * 1024  # a CHK data block: speeds and ETAs are in blocks × this


class MessageLike(Protocol):
    """An FCP message as the client returns it (``node.fcp.client`` FCPMessage)."""

    name: str
    fields: dict[str, str]


def _int(fields: Mapping[str, str], key: str, default: int = 0) -> int:
    text = fields.get(key, "")
    return int(text) if text.lstrip("-").isdigit() else default


@dataclass
class Transfer:
    """One insert or fetch on the node, ours or started by another client."""

    identifier: str
    global_: bool
    kind: Literal["get", "put", "putdir"]
    uri: str
    started: float
    filename: str | None = None  # a download's file, or an insert's source
    state: State = "running"
    total: int = 0
    required: int = 0
    succeeded: int = 0
    failed: int = 0
    finalized: bool = False
    result_uri: str | None = None
    error: str | None = None
    error_code: int | None = None
    size: int | None = None
    finished: float | None = None
    samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=32))
    mine: bool = False  # started from this TUI (we know how to retry it)
    retry: dict[str, object] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, bool]:
        return self.identifier, self.global_

    @property
    def fraction(self) -> float:
        if self.state == "done":
            return 1.0
        need = self.required or self.total
        return min(1.0, self.succeeded / need) if need else 0.0

    @property
    def name(self) -> str:
        """A short label: the file name, else the key's last part."""
        if self.filename:
            return os.path.basename(self.filename.rstrip("/")) or self.filename
        uri = self.result_uri or self.uri
        tail = uri.rsplit("/", 1)[-1] if "/" in uri else ""
        return tail or uri[:24]

    def blocks_per_second(self, now: float) -> float:
        recent = [(t, n) for t, n in self.samples if now - t <= SPEED_WINDOW]
        if len(recent) < 2 or recent[-1][0] <= recent[0][0]:
            return 0.0
        return (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])

    def speed(self, now: float) -> float:
        """Bytes per second, estimated from blocks completed lately."""
        return self.blocks_per_second(now) * BLOCK_SIZE

    def eta(self, now: float) -> float | None:
        rate = self.blocks_per_second(now)
        need = self.required or self.total
        if self.state != "running" or rate <= 0 or not need:
            return None
        return max(0.0, (need - self.succeeded) / rate)


_KINDS: dict[str, Literal["get", "put", "putdir"]] = {
    "PersistentGet": "get",
    "PersistentPut": "put",
    "PersistentPutDir": "putdir",
}


class Transfers:
    """Every transfer the TUI has seen, keyed by ``(identifier, global)``."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, bool], Transfer] = {}

    def __len__(self) -> int:
        return len(self.items)

    def get(self, identifier: str, global_: bool = True) -> Transfer | None:
        return self.items.get((identifier, global_))

    def add(self, transfer: Transfer) -> Transfer:
        old = self.items.get(transfer.key)
        if old is not None:
            return old
        self.items[transfer.key] = transfer
        return transfer

    def apply(self, msg: MessageLike, now: float) -> Transfer | None:
        """Fold one FCP message in; returns the transfer it changed, if any."""
        f = msg.fields
        identifier = f.get("Identifier")
        if not identifier:
            return None
        global_ = f.get("Global", "false").lower() == "true"
        t = self.items.get((identifier, global_))
        if msg.name in _KINDS:
            if t is None:
                kind = _KINDS[msg.name]
                t = self.add(
                    Transfer(
                        identifier=identifier,
                        global_=global_,
                        kind=kind,
                        uri=f.get("URI", ""),
                        started=now,
                        filename=f.get("Filename") or f.get("TargetFilename"),
                    )
                )
            return t
        if t is None:
            return None
        if msg.name == "SimpleProgress":
            t.total, t.required = _int(f, "Total"), _int(f, "Required")
            t.succeeded, t.failed = _int(f, "Succeeded"), _int(f, "Failed")
            t.finalized = f.get("FinalizedTotal", "").lower() == "true"
            t.samples.append((now, t.succeeded))
        elif msg.name in ("URIGenerated", "PutFetchable"):
            t.result_uri = f.get("URI") or t.result_uri
        elif msg.name == "PutSuccessful":
            t.result_uri = f.get("URI") or t.result_uri
            self._finish(t, "done", now)
        elif msg.name == "DataFound":
            t.size = _int(f, "DataLength") or t.size
            t.result_uri = t.uri
            self._finish(t, "done", now)
        elif msg.name in ("PutFailed", "GetFailed"):
            t.error_code = _int(f, "Code", -1)
            extra = f.get("ExtraDescription")
            t.error = (f.get("CodeDescription") or msg.name) + (f": {extra}" if extra else "")
            self._finish(t, "failed", now)
        elif msg.name == "PersistentRequestRemoved":
            del self.items[t.key]
            t.state = "removed"
        else:
            return None
        return t

    @staticmethod
    def _finish(t: Transfer, state: State, now: float) -> None:
        t.state = state
        t.finished = t.finished or now

    def ordered(self) -> list[Transfer]:
        """Running first, then by start time, newest first."""
        return sorted(self.items.values(), key=lambda t: (t.state != "running", -t.started))


@dataclass
class NodeState:
    """The node's figures from the last poll, and rate history for the sparklines."""

    info: dict[str, str] = field(default_factory=dict)
    peers: list[dict[str, str]] = field(default_factory=list)
    noderef: str = ""
    rate_in: deque[float] = field(default_factory=lambda: deque(maxlen=RATE_SAMPLES))
    rate_out: deque[float] = field(default_factory=lambda: deque(maxlen=RATE_SAMPLES))
    _last: tuple[float, int, int] | None = None

    def update(self, info: Mapping[str, str], peers: list[dict[str, str]], now: float) -> None:
        self.info = dict(info)
        self.peers = peers
        if info.get("noderef"):
            self.noderef = info["noderef"]
        # Bytes on the node's links (frames included), in and out since it started.
        got, sent = _int(info, "volatile.totalInputBytes"), _int(info, "volatile.totalOutputBytes")
        if self._last is not None and now > self._last[0]:
            dt = now - self._last[0]
            self.rate_in.append(max(0, got - self._last[1]) / dt)
            self.rate_out.append(max(0, sent - self._last[2]) / dt)
        self._last = (now, got, sent)

    def number(self, key: str) -> int:
        return _int(self.info, key)

    def warnings(self) -> list[str]:
        """What a user should know about, in words that say what to do."""
        if not self.info:
            return []
        out = []
        if self.number("volatile.numberOfConnected") == 0:
            out.append(
                "No peers are connected: add a friend's reference on the Peers screen (7), "
                "or run the node with --opennet and seed nodes."
            )
        skew = self.number("volatile.clockSkewSeconds")
        if abs(skew) >= CLOCK_SKEW_WARNING:
            direction = "behind" if skew > 0 else "ahead of"
            out.append(
                f"This computer's clock is about {human_duration(abs(skew))} {direction} "
                "its peers': set it right (e.g. enable NTP), or friends may refuse its reference."
            )
        size, limit = self.number("volatile.storeSize"), self.number("volatile.maxStoreSize")
        if limit and size >= 0.95 * limit:
            out.append(
                "The store is full: old blocks are being replaced; give the node a "
                "bigger --store-size."
            )
        return out


CLOCK_SKEW_WARNING = 600  # seconds: well above link latency and a peer's own drift


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
