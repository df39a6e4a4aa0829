"""Bandwidth limiting: a token bucket shared fairly between peers; pure logic, anyio shell.

:class:`TokenBucket` is the classic bucket (``rate`` bytes per second, at most
``burst`` saved up). :class:`FairLimiter` queues requests per peer and grants
them by deficit round robin (Shreedhar & Varghese, 1995): each turn a peer may
send up to ``quantum`` bytes more, so over time every busy peer gets an equal
share of the bytes whatever its frame sizes, and an idle peer's share goes to
the others. The bucket may go into debt by one grant, so a request larger than
the burst is not starved; the debt is paid back before anyone else is served.

Both take ``now`` as an argument (seconds, any monotonic clock) and never sleep;
:class:`BandwidthLimiter` is the small anyio wrapper a link awaits.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass

import anyio

DEFAULT_QUANTUM = 16 * 1024  # about half a block: fine-grained enough to interleave peers
_WAKE_SLACK = 1e-6  # seconds added to computed wake-ups so rounding never wakes us early


class TokenBucket:
    """``rate`` bytes/second, holding at most ``burst`` bytes of credit."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("a token bucket needs a positive rate and burst")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def try_consume(self, nbytes: int, now: float) -> bool:
        """Take ``nbytes`` if there is any credit (possibly going into debt); else False."""
        self.refill(now)
        if self.tokens < 0:
            return False
        self.tokens -= nbytes
        return True

    def ready_at(self, now: float) -> float:
        """The earliest time :meth:`try_consume` can succeed."""
        self.refill(now)
        if self.tokens >= 0:
            return now
        return now + (-self.tokens) / self.rate + _WAKE_SLACK


@dataclass(frozen=True, slots=True)
class _Request:
    ticket: int
    nbytes: int


class FairLimiter:
    """Per-peer queues over one :class:`TokenBucket`, served by deficit round robin.

    Use: ``t = enqueue(peer, n)``; call ``poll(now)`` (it returns the granted
    tickets) whenever ``next_wakeup(now)`` says; ``cancel(t)`` if a waiter goes away.
    """

    def __init__(
        self, rate: float, *, burst: float | None = None, quantum: int = DEFAULT_QUANTUM, now: float
    ) -> None:
        self._bucket = TokenBucket(rate, burst if burst is not None else max(rate / 4, 65536), now)
        self._quantum = quantum
        self._queues: dict[Hashable, deque[_Request]] = {}
        self._active: deque[Hashable] = deque()  # peers with queued requests, in turn order
        self._deficit: dict[Hashable, int] = {}
        self._turn_open = False  # whether the peer at the head already got this turn's quantum
        self._tickets = itertools.count()
        self._owner: dict[int, Hashable] = {}

    @property
    def waiting(self) -> int:
        return len(self._owner)

    def enqueue(self, peer: Hashable, nbytes: int) -> int:
        if nbytes < 0:
            raise ValueError("cannot send a negative number of bytes")
        ticket = next(self._tickets)
        queue = self._queues.get(peer)
        if queue is None:
            queue = self._queues[peer] = deque()
            self._active.append(peer)
            self._deficit[peer] = 0
        queue.append(_Request(ticket, nbytes))
        self._owner[ticket] = peer
        return ticket

    def cancel(self, ticket: int) -> None:
        peer = self._owner.pop(ticket, None)
        if peer is None:
            return
        queue = self._queues[peer]
        for request in queue:
            if request.ticket == ticket:
                queue.remove(request)
                break
        if not queue:
            self._retire(peer)

    def poll(self, now: float) -> list[int]:
        """Grant what the bucket allows, fairly; return the granted tickets in order."""
        granted: list[int] = []
        bucket = self._bucket
        bucket.refill(now)
        while self._active and bucket.tokens >= 0:
            peer = self._active[0]
            queue = self._queues[peer]
            if not self._turn_open:
                self._deficit[peer] += self._quantum
                self._turn_open = True
            while queue and queue[0].nbytes <= self._deficit[peer] and bucket.tokens >= 0:
                request = queue.popleft()
                self._deficit[peer] -= request.nbytes
                bucket.tokens -= request.nbytes
                del self._owner[request.ticket]
                granted.append(request.ticket)
            if not queue:
                self._retire(peer)
            elif queue[0].nbytes > self._deficit[peer]:
                self._active.rotate(-1)  # turn over; the leftover deficit carries to the next
                self._turn_open = False
            # else the bucket ran dry mid-turn: resume this same turn next poll
        return granted

    def next_wakeup(self, now: float) -> float | None:
        """When ``poll`` may next grant something; ``None`` if nothing is waiting."""
        if not self._owner:
            return None
        return self._bucket.ready_at(now)

    def _retire(self, peer: Hashable) -> None:
        if self._active and self._active[0] == peer:
            self._turn_open = False
        self._active.remove(peer)
        del self._queues[peer]
        del self._deficit[peer]


class BandwidthLimiter:
    """Awaitable fair limiting for links; ``rate=None`` means unlimited (no overhead)."""

    def __init__(
        self, rate: float | None, *, burst: float | None = None, quantum: int = DEFAULT_QUANTUM
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._quantum = quantum
        self._core: FairLimiter | None = None  # made lazily: anyio's clock needs a running loop
        self._events: dict[int, anyio.Event] = {}

    @property
    def limited(self) -> bool:
        """False for an unlimited limiter: :meth:`acquire` would never wait, so skip it."""
        return self._rate is not None

    async def acquire(self, peer: Hashable, nbytes: int) -> None:
        """Wait until ``peer`` may move ``nbytes`` more bytes."""
        if self._rate is None:
            return
        now = anyio.current_time()
        if self._core is None:
            self._core = FairLimiter(self._rate, burst=self._burst, quantum=self._quantum, now=now)
        core = self._core
        ticket = core.enqueue(peer, nbytes)
        event = self._events[ticket] = anyio.Event()
        try:
            while True:
                for granted in core.poll(now):
                    self._events.pop(granted).set()
                if event.is_set():
                    return
                wake = core.next_wakeup(now)
                delay = 0.0 if wake is None else max(0.0, wake - now)
                with anyio.move_on_after(delay):
                    await event.wait()
                if event.is_set():
                    return
                now = anyio.current_time()
        finally:
            if not event.is_set():
                self._events.pop(ticket, None)
                core.cancel(ticket)
