"""Test-only misbehaving node modes: a hook the runtime consults on what it sends.

A node started with ``samizdat node run --misbehave MODE`` (accepted only when
the environment has ``SAMIZDAT_TESTING=1``, and hidden from ``--help``) runs the
honest core, but its runtime passes every outgoing message through a
:class:`Misbehaviour`, and runs :meth:`Misbehaviour.run` beside its other tasks.
The resilience tests (``tests/e2e/test_hostile.py``,
``bench/resilience/scenarios.py``) use it to put hostile peers into a real test
network. An honest node has ``runtime.misbehaviour is None``: one attribute test
per send, nothing else.

Modes (:data:`MODES`):

=========  ==================================================================
corrupt    blocks it sends (``DataFound``, ``InsertData``) have one byte flipped
drop       requests and their replies are silently dropped (a black hole)
slow       replies to requests leave :data:`SLOW_DELAY` seconds late
flood      sends :data:`FLOOD_RATE` requests for random keys per second per peer
liar       claims false locations: in its node reference, and every few
           seconds in a ``LocationUpdate``
oversize   every few seconds, sends each peer a frame header announcing a
           frame larger than the limit
=========  ==================================================================
"""

from __future__ import annotations

import dataclasses
import os
import random
from typing import Any

import anyio

from node.core.config import MAX_HTL
from node.core.messages import (
    DataFound,
    DataNotFound,
    DataRequest,
    Insert,
    InsertAccepted,
    InsertCollision,
    InsertData,
    InsertReply,
    LocationUpdate,
    Message,
    RejectedLoop,
    RejectedOverload,
    RouteNotFound,
)
from node.wire.framing import HEADER_SIZE, MAX_FRAME_BODY

ENV_SWITCH = "SAMIZDAT_TESTING"
"""``--misbehave`` is refused unless this environment variable is ``1``."""

MODES = ("corrupt", "drop", "slow", "flood", "liar", "oversize")

SLOW_DELAY = 4.0
"""Seconds a slow node holds each reply: longer than a hop's patience, so the
requester's timeout and back-off are what get exercised."""

FLOOD_RATE = 100.0
"""Requests per second a flooding node sends each peer: several times what the
core's per-peer in-flight limit admits."""

LIE_INTERVAL = 3.0
"""Seconds between a liar's false LocationUpdates."""

OVERSIZE_INTERVAL = 2.0
"""Seconds between oversize frames (each one costs the sender its link)."""

GRACE = 10.0
"""Seconds the active modes (flood, liar, oversize) behave before starting: the
test network forms first, as a hostile node that turns later would let it."""

_REQUEST_TRAFFIC = (
    DataRequest,
    DataFound,
    DataNotFound,
    RouteNotFound,
    RejectedLoop,
    RejectedOverload,
    Insert,
    InsertAccepted,
    InsertData,
    InsertReply,
    InsertCollision,
)
_REPLIES = (DataFound, DataNotFound, RouteNotFound, InsertReply, InsertCollision)


def testing_enabled() -> bool:
    return os.environ.get(ENV_SWITCH) == "1"


class Misbehaviour:
    """One misbehaving mode: rewrites, drops or delays what the runtime sends."""

    def __init__(self, mode: str, rng: random.Random | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown misbehaviour {mode!r}; one of {', '.join(MODES)}")
        self.mode = mode
        self.rng = rng if rng is not None else random.Random()
        self.sent_bad = 0  # messages altered, dropped, delayed or injected

    def claimed_location(self, location: float) -> float:
        """The location to put in our node reference."""
        return self.rng.random() if self.mode == "liar" else location

    def outgoing(self, message: Message) -> tuple[Message | None, float]:
        """What to send instead of ``message`` (None: nothing) and after how many seconds."""
        mode = self.mode
        if mode == "corrupt" and isinstance(message, DataFound | InsertData):
            data = bytearray(message.data)
            data[self.rng.randrange(len(data))] ^= 0xFF
            self.sent_bad += 1
            return dataclasses.replace(message, data=bytes(data)), 0.0
        if mode == "drop" and isinstance(message, _REQUEST_TRAFFIC):
            self.sent_bad += 1
            return None, 0.0
        if mode == "slow" and isinstance(message, _REPLIES):
            self.sent_bad += 1
            return message, SLOW_DELAY
        if mode == "liar" and isinstance(message, LocationUpdate):
            self.sent_bad += 1
            return LocationUpdate(location=self.rng.random()), 0.0
        return message, 0.0

    async def run(self, runtime: Any) -> None:
        """The active part of a mode (flood, liar, oversize), beside the runtime's tasks.

        ``runtime`` is the :class:`~node.net.runtime.NodeRuntime`; this reaches
        into its links on purpose: it is a test double for a hostile node.
        """
        await anyio.sleep(GRACE)
        if self.mode == "flood":
            while True:
                await anyio.sleep(1.0 / FLOOD_RATE)
                for conn in list(runtime._conns.values()):
                    request = DataRequest(
                        uid=self.rng.getrandbits(64),
                        kind=1,
                        routing_key=self.rng.randbytes(32),
                        htl=MAX_HTL,
                    )
                    try:
                        conn.outbox.send_nowait(request)
                        self.sent_bad += 1
                    except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
                        pass
        elif self.mode == "liar":
            while True:
                await anyio.sleep(LIE_INTERVAL)
                for conn in list(runtime._conns.values()):
                    update = LocationUpdate(location=self.rng.random())
                    try:
                        conn.outbox.send_nowait(update)
                        self.sent_bad += 1
                    except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
                        pass
        elif self.mode == "oversize":
            header = (MAX_FRAME_BODY + 1).to_bytes(HEADER_SIZE, "big")
            while True:
                await anyio.sleep(OVERSIZE_INTERVAL)
                for conn in list(runtime._conns.values()):
                    link = conn.link
                    try:
                        link.write_raw(header + bytes(1024))
                        self.sent_bad += 1
                    except Exception:  # the link is gone: fine
                        pass
