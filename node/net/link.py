"""Encrypted, authenticated TCP links between nodes: dial, listen, send, receive.

A link is: TCP connect or accept; the handshake of :mod:`crypto.handshake`
under one cancel scope (``handshake_timeout``); then length-prefixed frames
(:mod:`node.wire.framing`), each one AEAD-sealed message
(:mod:`crypto.frames`) encoded by the strict codec (:mod:`node.wire.codec`).
An empty sealed frame is a keepalive: sent when we have sent nothing for
``keepalive_interval``, skipped on receipt; a link on which nothing arrives for
``idle_timeout`` is closed.

Every way a link can end raises a :class:`LinkError` from ``send``/``receive``
and closes only that link: :class:`LinkClosed` (the peer hung up),
:class:`LinkTimeout` (handshake too slow, or the link went idle),
:class:`LinkHandshakeFailed` (wrong identity, tampering, not a Samizdat node)
and :class:`LinkProtocolError` (garbage frames or messages: also a
:class:`RemoteProtocolError`). Handshake, crypto and protocol failures are
counted per peer in a :class:`FaultCounter` the runtime can consult to back off
or ban.

Theory of operation
-------------------
A link is an asyncio :class:`~asyncio.Protocol` on its TCP transport (the
runtime runs on anyio's asyncio backend). A relay forwards one block per
request, so what a message costs besides its crypto is what decides its
throughput, and a byte-stream abstraction on top of the transport costs a lot
per message: stop and restart reading around every read (two ``epoll_ctl``
calls), a cancel scope per read for the idle timer, an extra trip through the
event loop after every write, and a writer task between whoever decides to
send and the socket. Here instead:

- Reading never stops while the link is healthy: each chunk the transport
  hands over is split into frames at once (:class:`FrameDecoder`, which checks
  the length limit on the header before it buffers a body) and the one task
  awaiting :meth:`Link.receive` is woken. Frames are opened (AEAD) and decoded
  by that task, in order. At most :data:`MAX_BUFFERED` bytes of unread frames
  are held: past that the transport stops reading until the task catches up,
  so TCP flow control pushes back on a peer that sends faster than we read.
- :meth:`Link.deliver` is the push form the node runs on: frames are opened,
  decoded and handed to a callback right there in the transport's callback,
  in order, and a second callback is told once a read's messages are all
  handled (so their replies go out in one write). Nothing is buffered and
  no task is woken per message (a future, a task step, and an extra
  ``epoll_wait`` for the loop turn that runs it). The task in ``deliver``
  only waits for the end, and raises it as ``receive`` would.
  (A link with a download limit, which must be awaited per frame, is served
  through ``receive`` instead.)
- Sending is synchronous: :meth:`Link.send_now` encodes and seals a message
  and keeps the frame; :meth:`Link.flush` hands every frame kept to the
  transport in one write (which sends it or buffers it). The runtime flushes
  once it has carried out what one burst of incoming messages asked for, so
  a burst going to one peer is one write and wakes that peer once. Frames go
  out in the order they were sealed, without any lock. :meth:`Link.send` is
  the awaited form: it waits for the upload limiter first and, after writing,
  for the transport's buffer to drain below its high-water mark.
  :attr:`Link.backlog` says how much is unsent: a peer that stopped reading
  shows there, and the runtime drops its link.
- One timer per link, rescheduled rather than recreated per message, sends a
  keepalive when nothing has been sent for ``keepalive_interval`` and closes
  the link when nothing has arrived for ``idle_timeout``.

:func:`connect` and the handler given to :func:`serve` own the connection:
leaving the ``async with`` (or returning) closes it, on every path.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectSendStream

from crypto.errors import CryptoError, FrameRejected, HandshakeFailed
from crypto.frames import FRAME_OVERHEAD, FrameOpener, FrameSealer
from crypto.handshake import (
    MSG1_SIZE,
    MSG2_SIZE,
    MSG3_SIZE,
    HandshakeResult,
    Initiator,
    Responder,
)
from node.net.bandwidth import BandwidthLimiter
from node.net.identity import NodeIdentity
from node.wire.codec import Codec
from node.wire.errors import FrameTooLarge, RemoteProtocolError
from node.wire.framing import HEADER_SIZE, MAX_FRAME_BODY, FrameDecoder

MAX_BUFFERED = 1024 * 1024
"""Bytes of complete frames read but not yet taken by :meth:`Link.receive` before
the transport stops reading: 16 maximal frames, so a burst of block messages
is one read, yet a peer cannot make us hold more than this per link."""

WRITE_HIGH_WATER = 512 * 1024
"""Buffered outgoing bytes above which :meth:`Link.send` waits for the socket
to drain (the transport's high-water mark; its low-water mark is a quarter)."""

HANDSHAKE_BUFFER = 64 * 1024
"""Bytes held before the handshake has read them (it reads at most 192 at a time,
but the initiator's first frames may follow its last handshake message at once):
past this the transport stops reading until the handshake catches up."""

ACCEPT_QUEUE = 64
"""Accepted connections waiting for their handler task; more are refused."""


class LinkError(Exception):
    """The link is gone; it has been closed. Subclasses say why."""


class LinkClosed(LinkError):
    """The peer closed the connection, it broke, or we closed the link."""


class LinkTimeout(LinkError):
    """The handshake took too long, or nothing arrived for ``idle_timeout``."""


class LinkHandshakeFailed(LinkError):
    """The handshake failed: wrong identity, tampering, replay, or not a Samizdat node."""


class LinkProtocolError(LinkError, RemoteProtocolError):
    """The peer sent a bad frame or message after the handshake."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkConfig:
    """Timings (seconds) and the network label; every one is an input, never a global."""

    handshake_timeout: float = 10.0  # generous for a slow link, short enough to shed scanners
    keepalive_interval: float = 20.0  # below common NAT idle timeouts (30 s and up)
    idle_timeout: float = 75.0  # more than three missed keepalives
    prologue: bytes = b""  # a network label; nodes with different labels cannot link

    def __post_init__(self) -> None:
        if not 0 < self.keepalive_interval < self.idle_timeout:
            raise ValueError("keepalive_interval must be positive and below idle_timeout")


class FaultCounter:
    """Counts link failures per peer (identity when known, else remote host) and kind."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[Hashable, str]] = Counter()

    def record(self, peer: Hashable, kind: str) -> None:
        self._counts[(peer, kind)] += 1

    def count(self, peer: Hashable, kind: str | None = None) -> int:
        if kind is not None:
            return self._counts[(peer, kind)]
        return sum(n for (p, _k), n in self._counts.items() if p == peer)


class _Gone(Exception):
    """The connection ended while the handshake was reading (mapped to a LinkError)."""


class Connection(asyncio.Protocol):
    """One TCP connection: raw bytes during the handshake, then frames for one reader.

    Everything here runs in transport callbacks or in the one task that reads;
    nothing blocks. ``end`` is why no more bytes will come (set once): it is
    raised by the reader after the frames that arrived before it.

    :class:`Link` is built on it; so is the bare relay that
    ``bench.transfer_bench`` measures nodes against, so that both move bytes
    the same way and the comparison shows what the node adds.
    """

    def __init__(self, on_made: Callable[[Connection], None] | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self._on_made = on_made
        self._raw = bytearray()  # handshake bytes not yet read
        self._decoder: FrameDecoder | None = None  # set once the handshake is done
        self.frames: deque[bytes] = deque()
        self._frame_bytes = 0  # bytes in ``frames``
        self._reading_paused = False
        self.end: LinkError | None = None
        self.end_is_fault = False  # ``end`` is the peer's fault (oversize frame)
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._writing_paused = False
        self.last_received = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        # Set while a Link delivers frames as they arrive (:meth:`Link.deliver`):
        # complete frames go to it from data_received, not to ``frames``.
        self.sink: Callable[[list[bytes]], None] | None = None

    # --- transport callbacks ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self._loop = asyncio.get_running_loop()
        self.last_received = self._loop.time()
        if self._on_made is not None:
            self._on_made(self)

    def data_received(self, data: bytes) -> None:
        decoder = self._decoder
        if decoder is None:
            self._raw += data
            if len(self._raw) > HANDSHAKE_BUFFER:
                self._pause_reading()
        else:
            try:
                frames = decoder.feed(data)
            except FrameTooLarge as exc:
                self._finish(LinkProtocolError(str(exc)), fault=True)
                self._pause_reading()  # nothing after it can be read in step
                return
            if frames:
                sink = self.sink
                if sink is not None:
                    assert self._loop is not None
                    self.last_received = self._loop.time()
                    sink(frames)  # handled now: nobody is woken, nothing is held
                    return
                self.frames.extend(frames)
                for frame in frames:
                    self._frame_bytes += len(frame)
                if self._frame_bytes > MAX_BUFFERED:
                    self._pause_reading()
        assert self._loop is not None
        self.last_received = self._loop.time()
        self._wake()

    def eof_received(self) -> bool:
        self._finish(LinkClosed("the peer closed the connection"))
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(LinkClosed("the peer's connection broke" if exc else "the connection closed"))
        self._writing_paused = False
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    # --- for the link ---

    def _finish(self, why: LinkError, *, fault: bool = False) -> None:
        if self.end is None:
            self.end = why
            self.end_is_fault = fault
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until more bytes (or the end) arrive. Cancellable; loses nothing if cancelled."""
        assert self._loop is not None
        waiter = self._waiter = self._loop.create_future()
        try:
            await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None

    async def read_exactly(self, n: int) -> bytes:
        """Handshake bytes: exactly ``n`` of them, or :class:`_Gone`."""
        while len(self._raw) < n:
            if self.end is not None:
                raise _Gone(str(self.end))
            await self.wait()
        data = bytes(self._raw[:n])
        del self._raw[:n]
        if len(self._raw) <= HANDSHAKE_BUFFER:
            self._resume_reading()
        return data

    def start_frames(self, decoder: FrameDecoder) -> None:
        """The handshake is done: what follows (and what already came) is frames."""
        self._decoder = decoder
        raw, self._raw = bytes(self._raw), bytearray()
        if raw:
            self.data_received(raw)
        if self._frame_bytes <= MAX_BUFFERED // 2:
            self._resume_reading()

    def take_frames(self) -> list[bytes]:
        """Every frame read and not yet taken, oldest first."""
        frames = list(self.frames)
        self.frames.clear()
        self._frame_bytes = 0
        self._resume_reading()
        return frames

    def pop_frame(self) -> bytes:
        frame = self.frames.popleft()
        self._frame_bytes -= len(frame)
        if self._reading_paused and self._frame_bytes <= MAX_BUFFERED // 2:
            self._resume_reading()
        return frame

    def _pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and self.end is None and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()

    @property
    def writing_paused(self) -> bool:
        return self._writing_paused

    async def drained(self) -> None:
        """Until the transport's buffer is below its low-water mark (or it closed)."""
        while self._writing_paused:
            if self._drained is None or self._drained.done():
                self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing() or self.end is not None:
            raise LinkClosed("the link is closed")
        transport.write(data)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        self._finish(LinkClosed("the link is closed"))


class Link:
    """One established link. Made by :func:`connect` or :func:`serve`, not directly."""

    def __init__(
        self,
        connection: Connection,
        result: HandshakeResult,
        codec: Codec,
        config: LinkConfig,
        *,
        upload: BandwidthLimiter | None = None,
        download: BandwidthLimiter | None = None,
        faults: FaultCounter | None = None,
    ) -> None:
        self.peer_identity = result.peer_identity
        self.handshake_hash = result.handshake_hash
        self._conn = connection
        self._sealer = FrameSealer(result.send_key)
        self._opener = FrameOpener(result.receive_key)
        self._codec = codec
        self._config = config
        self._upload = upload if upload is not None and upload.limited else None
        self._download = download if download is not None and download.limited else None
        self._faults = faults
        self._loop = asyncio.get_running_loop()
        self._last_send = self._loop.time()
        self._closed = False
        self.bytes_sent = 0  # on the wire, frames and headers included: what the user pays
        self.bytes_received = 0
        self._corked: list[bytes] = []  # sealed frames of this loop turn, not yet written
        self._corked_bytes = 0
        # While :meth:`deliver` runs: where messages go, and why delivery stopped.
        self._handle: Callable[[object], None] | None = None
        self._after: Callable[[], None] | None = None
        self._error: Exception | None = None
        connection.start_frames(FrameDecoder(max_body=MAX_FRAME_BODY))
        self._timer: asyncio.TimerHandle | None = None
        self._schedule_timer()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def buffered(self) -> int:
        """Frames already read off the socket: that many :meth:`receive` calls need no read."""
        return len(self._conn.frames)

    @property
    def backlog(self) -> int:
        """Bytes handed to the socket that it has not sent yet (a peer not reading grows it)."""
        transport = self._conn.transport
        unsent = self._corked_bytes
        return unsent if transport is None else unsent + transport.get_write_buffer_size()

    @property
    def can_send_now(self) -> bool:
        """True if :meth:`send_now` may be used: no upload limit to wait for."""
        return self._upload is None

    def send_now(self, message: object) -> None:
        """Encode and seal ``message`` now, and keep the frame for :meth:`flush`.

        The caller flushes once it has nothing more to send for now, so a burst
        of messages is one write (and one wake-up of the peer). Only for links
        without an upload limit (:attr:`can_send_now`); the caller watches
        :attr:`backlog`. Raises :class:`LinkClosed` if the link is gone,
        ``LocalProtocolError`` (and keeps the link) if ``message`` breaks its schema.
        """
        plain = self._codec.encode(message)
        if self._closed:
            raise LinkClosed("the link is closed")
        frame = self._frame(plain)
        self._corked.append(frame)
        self._corked_bytes += len(frame)

    def flush(self) -> None:
        """Hand the frames :meth:`send_now` kept to the socket, in one write, without
        waiting. A link found broken is closed; its reader reports it."""
        with suppress(LinkClosed):
            self._flush()

    async def send(self, message: object) -> None:
        """Encode, seal and write ``message``. Raises :class:`LinkError` if the link is gone.

        Raises ``LocalProtocolError`` (and keeps the link) if ``message`` breaks its schema.
        """
        await self._send_plains((self._codec.encode(message),))

    async def send_many(self, messages: Sequence[object]) -> None:
        """Send ``messages`` in order, their frames joined into one socket write.

        The bytes on the wire are exactly those of one :meth:`send` per message;
        a writer with a backlog just pays one write (and one wake-up of the peer)
        for all of them. If any message breaks its schema, ``LocalProtocolError``
        is raised and none of them is sent.
        """
        await self._send_plains([self._codec.encode(m) for m in messages])

    async def receive(self) -> object:
        """The next message from the peer, keepalives skipped; :class:`LinkError` at the end."""
        while True:
            plain = await self._receive_plain()
            if plain:
                try:
                    return self._codec.decode(plain)
                except RemoteProtocolError as exc:
                    self._fail("protocol")
                    raise LinkProtocolError(str(exc)) from exc

    async def deliver(self, handle: Callable[[object], None], after: Callable[[], None]) -> None:
        """Hand every message from the peer to ``handle`` until the link ends.

        The push form of :meth:`receive`: each message is opened, decoded and
        handed over in the transport's callback as its bytes arrive, without
        waking this task (which only waits for the end), and ``after`` is
        called once the messages of one read have all been handled, so that
        what they caused can go out in one write. Keepalives are skipped.
        ``handle`` may close the link; no message is handed over after that.
        On a link with a download limit, which must be awaited per frame,
        messages are received one by one instead, with ``after`` called
        whenever none is left to read.

        Raises:
            LinkError: the link ended (as :meth:`receive` raises it).
            Exception: whatever ``handle`` or ``after`` raised (the link is closed).
        """
        if self._download is not None:
            while True:
                handle(await self.receive())
                if not self._conn.frames:
                    after()
        conn = self._conn
        self._handle = handle
        self._after = after
        conn.sink = self._on_frames
        try:
            if conn.frames:
                self._on_frames(conn.take_frames())
            while True:
                if self._error is not None:
                    raise self._error
                self._raise_if_ended()
                await conn.wait()
        finally:
            conn.sink = None
            self._handle = self._after = None

    def _on_frames(self, frames: list[bytes]) -> None:
        """Frames that just arrived, in :meth:`deliver` mode: open, decode, hand over."""
        handle = self._handle
        assert handle is not None and self._after is not None
        opener = self._opener
        decode = self._codec.decode
        try:
            for body in frames:
                if self._closed:
                    return
                self.bytes_received += HEADER_SIZE + len(body)
                try:
                    plain = opener.open(body)
                except FrameRejected as exc:
                    self._error = LinkProtocolError(str(exc))
                    self._fail("crypto")
                    return
                if not plain:
                    continue  # a keepalive
                try:
                    message = decode(plain)
                except RemoteProtocolError as exc:
                    self._error = LinkProtocolError(str(exc))
                    self._fail("protocol")
                    return
                handle(message)
            if not self._closed:
                self._after()
        except Exception as exc:  # a bug in the handler: the task that delivers raises it
            self._error = exc
            self.close()

    async def send_keepalive(self) -> None:
        await self._send_plains((b"",))

    async def aclose(self) -> None:
        self.close()
        await anyio.lowlevel.checkpoint()

    def close(self) -> None:
        """Close the link now (unsent bytes are dropped); idempotent."""
        if self._closed:
            return
        self._closed = True
        self._corked.clear()
        self._corked_bytes = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._conn.abort()

    def write_raw(self, data: bytes) -> None:
        """Test doubles only (:mod:`node.net.misbehave`, tests): bytes as they are, unsealed."""
        self._conn.write(data)

    async def _send_plains(self, plains: Sequence[bytes]) -> None:
        if self._closed:
            raise LinkClosed("the link is closed")
        if self._upload is not None:
            for plain in plains:
                await self._upload.acquire(
                    self.peer_identity, HEADER_SIZE + len(plain) + FRAME_OVERHEAD
                )
        self._write_plains(plains)
        if self._conn.writing_paused:
            await self._conn.drained()
            if self._conn.end is not None:
                raise LinkClosed("the peer's connection broke while sending")

    def _frame(self, plain: bytes) -> bytes:
        """Seal ``plain`` and prefix the length: the next frame of this direction."""
        sealed = self._sealer.seal(plain)
        self.bytes_sent += HEADER_SIZE + len(sealed)
        return len(sealed).to_bytes(HEADER_SIZE, "big") + sealed

    def _write_plains(self, plains: Sequence[bytes]) -> None:
        """Seal and write, with no await in between: frames leave in sealing order,
        after any frames :meth:`send_now` sealed before."""
        if self._closed:
            raise LinkClosed("the link is closed")
        self._corked.extend([self._frame(plain) for plain in plains])
        self._flush()

    def _flush(self) -> None:
        """Write the sealed frames waiting in :attr:`_corked`, in one write."""
        corked = self._corked
        if not corked or self._closed:
            return
        data = corked[0] if len(corked) == 1 else b"".join(corked)
        corked.clear()
        self._corked_bytes = 0
        try:
            self._conn.write(data)
        except LinkClosed:
            self.close()
            raise
        self._last_send = self._loop.time()

    def _raise_if_ended(self) -> None:
        """Raise why the link ended (closing it, failed if the peer broke the
        protocol), or :class:`LinkClosed` if we closed it; else return."""
        conn = self._conn
        end = conn.end
        if end is not None:
            if conn.end_is_fault and not self._closed:
                self._fail("protocol")
            else:
                self.close()
            raise type(end)(str(end))
        if self._closed:
            raise LinkClosed("the link is closed")

    async def _receive_plain(self) -> bytes:
        conn = self._conn
        while not conn.frames:
            self._raise_if_ended()
            await conn.wait()
        if self._closed:
            raise LinkClosed("the link is closed")
        body = conn.pop_frame()
        self.bytes_received += HEADER_SIZE + len(body)
        if self._download is not None:
            await self._download.acquire(self.peer_identity, HEADER_SIZE + len(body))
        try:
            return self._opener.open(body)
        except FrameRejected as exc:
            self._fail("crypto")
            raise LinkProtocolError(str(exc)) from exc

    def _schedule_timer(self) -> None:
        config = self._config
        at = min(
            self._conn.last_received + config.idle_timeout,
            self._last_send + config.keepalive_interval,
        )
        self._timer = self._loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        """Keepalive and idle checks: one timer per link, whatever the traffic."""
        self._timer = None
        if self._closed:
            return
        now = self._loop.time()
        conn = self._conn
        if now >= conn.last_received + self._config.idle_timeout:
            conn._finish(LinkTimeout(f"nothing received for {self._config.idle_timeout:g} s"))
            self._closed = True
            conn.abort()
            return
        if now >= self._last_send + self._config.keepalive_interval:
            with suppress(LinkClosed):
                self._write_plains((b"",))  # a keepalive is too small to wait for a limiter
        if not self._closed:
            self._schedule_timer()

    def _fail(self, kind: str) -> None:
        if self._faults is not None:
            self._faults.record(self.peer_identity, kind)
        self.close()


async def _initiator_handshake(
    conn: Connection, identity: NodeIdentity, expected_peer: bytes, prologue: bytes
) -> HandshakeResult:
    initiator = Initiator(identity.keys, expected_peer, prologue=prologue)
    conn.write(initiator.start())
    message3 = initiator.read_message2(await conn.read_exactly(MSG2_SIZE))
    conn.write(message3)
    return initiator.result


async def _responder_handshake(
    conn: Connection, identity: NodeIdentity, prologue: bytes
) -> HandshakeResult:
    responder = Responder(identity.keys, prologue=prologue)
    conn.write(responder.read_message1(await conn.read_exactly(MSG1_SIZE)))
    return responder.read_message3(await conn.read_exactly(MSG3_SIZE))


async def _handshake(
    run: Callable[[], Awaitable[HandshakeResult]],
    config: LinkConfig,
    faults: FaultCounter | None,
    fault_key: Hashable,
) -> HandshakeResult:
    try:
        with anyio.fail_after(config.handshake_timeout):
            return await run()
    except TimeoutError:
        raise LinkTimeout(f"the handshake took over {config.handshake_timeout:g} s") from None
    except (HandshakeFailed, CryptoError) as exc:
        if faults is not None:
            faults.record(fault_key, "handshake")
        raise LinkHandshakeFailed(str(exc)) from None
    except (_Gone, LinkClosed):
        if faults is not None:
            faults.record(fault_key, "handshake")
        raise LinkHandshakeFailed("the connection closed during the handshake") from None


@asynccontextmanager
async def connect(
    host: str,
    port: int,
    identity: NodeIdentity,
    expected_peer: bytes,
    codec: Codec,
    config: LinkConfig | None = None,
    **options: Any,
) -> AsyncIterator[Link]:
    """Dial ``host:port`` and authenticate it as ``expected_peer`` (from its node reference).

    ``options`` are passed to :class:`Link` (``upload``, ``download``, ``faults``).
    Raises :class:`LinkError` (or ``OSError`` if the TCP connection is refused).
    """
    config = config or LinkConfig()
    conn = Connection()
    loop = asyncio.get_running_loop()
    try:
        with anyio.fail_after(config.handshake_timeout):
            await loop.create_connection(lambda: conn, host, port)
    except TimeoutError:
        conn.abort()
        raise LinkTimeout(f"connecting took over {config.handshake_timeout:g} s") from None
    try:
        result = await _handshake(
            lambda: _initiator_handshake(conn, identity, expected_peer, config.prologue),
            config,
            options.get("faults"),
            expected_peer,
        )
        link = Link(conn, result, codec, config, **options)
        try:
            yield link
        finally:
            link.close()
    finally:
        conn.abort()


def _remote_host(conn: Connection) -> str:
    peer = conn.transport.get_extra_info("peername") if conn.transport is not None else None
    return str(peer[0]) if isinstance(peer, tuple) else str(peer or "?")


async def serve(
    host: str,
    port: int,
    handler: Callable[[Link], Awaitable[None]],
    identity: NodeIdentity,
    codec: Codec,
    config: LinkConfig | None = None,
    *,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
    **options: Any,
) -> None:
    """Listen on ``host:port`` (0 picks a free port, reported through ``task_status``).

    Each accepted connection is handshaken and given to ``handler`` in its own
    task; a link that fails in any :class:`LinkError` way ends that connection
    only, and the connection is closed when ``handler`` returns. Cancel the
    enclosing scope to stop listening. The caller decides whether
    ``link.peer_identity`` is welcome (darknet: a friend; opennet: not banned)
    and simply returns if not.
    """
    config = config or LinkConfig()
    accepted: MemoryObjectSendStream[Connection] | None = None

    def made(conn: Connection) -> None:
        if accepted is None:
            conn.abort()
            return
        try:
            accepted.send_nowait(conn)
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            conn.abort()  # a flood of connections: refuse the overflow

    async def handle(conn: Connection) -> None:
        try:
            result = await _handshake(
                lambda: _responder_handshake(conn, identity, config.prologue),
                config,
                options.get("faults"),
                _remote_host(conn),
            )
            link = Link(conn, result, codec, config, **options)
            try:
                await handler(link)
            finally:
                link.close()
        except LinkError:
            pass  # already counted; this link alone ends
        finally:
            conn.abort()

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(made), host or None, port)
    accepted, pending = anyio.create_memory_object_stream[Connection](ACCEPT_QUEUE)
    try:
        bound = server.sockets[0].getsockname()[1]
        task_status.started(bound)
        async with anyio.create_task_group() as tg:
            async for conn in pending:
                tg.start_soon(handle, conn)
    finally:
        server.close()  # no more connections (and so no more calls to ``made``)
        accepted.close()
        with suppress(anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
            while True:  # accepted, but their handler never started
                pending.receive_nowait().abort()
        pending.close()


def default_backoff(attempt: int, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Seconds to wait before reconnection attempt ``attempt`` (0, 1, 2, ...): doubling, capped.

    The runtime adds jitter from its own ``random.Random`` so peers do not retry in step.
    """
    return min(cap, base * math.pow(2.0, min(attempt, 30)))
