"""Encrypted, authenticated TCP links between nodes (anyio): dial, accept, send, receive.

A link is: TCP connect or accept; the handshake of :mod:`crypto.handshake`
under one cancel scope (``handshake_timeout``); then length-prefixed frames
(:mod:`node.wire.framing`), each one AEAD-sealed message
(:mod:`crypto.frames`) encoded by the strict codec (:mod:`node.wire.codec`).
An empty sealed frame is a keepalive: sent when we have sent nothing for
``keepalive_interval``, skipped on receipt, and it keeps the link from being
declared idle after ``idle_timeout`` without any frame.

Every way a link can end raises a :class:`LinkError` from ``send``/``receive``
and closes only that link: :class:`LinkClosed` (the peer hung up),
:class:`LinkTimeout` (handshake too slow, or the link went idle),
:class:`LinkHandshakeFailed` (wrong identity, tampering, not a Samizdat node)
and :class:`LinkProtocolError` (garbage frames or messages: also a
:class:`RemoteProtocolError`). Handshake, crypto and protocol failures are
counted per peer in a :class:`FaultCounter` the runtime can consult to back off
or ban.

:func:`connect` and :func:`accept` are async context managers that own the
socket: leaving the ``async with`` closes it, on every path. Keepalives are
sent by the task awaiting :meth:`Link.receive` (there is always one per link),
so a link needs no task of its own.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

from crypto.errors import CryptoError, FrameRejected, HandshakeFailed
from crypto.frames import FrameOpener, FrameSealer
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
from node.wire.errors import RemoteProtocolError
from node.wire.framing import HEADER_SIZE, MAX_FRAME_BODY, FrameDecoder, encode_frame

_READ_SIZE = 256 * 1024  # one read may carry several frames; bounds what one read buffers
_STREAM_ERRORS = (
    anyio.EndOfStream,
    anyio.IncompleteRead,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    OSError,
)


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


def _remote_host(stream: anyio.abc.ByteStream) -> str:
    try:
        address = stream.extra(anyio.abc.SocketAttribute.remote_address)
    except anyio.TypedAttributeLookupError:
        return "?"
    return str(address[0]) if isinstance(address, tuple) else str(address)


class Link:
    """One established link. Made by :func:`connect` or :func:`accept`, not directly."""

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        reader: BufferedByteReceiveStream,
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
        self._stream = stream
        self._reader = reader
        self._sealer = FrameSealer(result.send_key)
        self._opener = FrameOpener(result.receive_key)
        self._codec = codec
        self._config = config
        self._upload = upload
        self._download = download
        self._faults = faults
        self._decoder = FrameDecoder(max_body=MAX_FRAME_BODY)
        self._frames: deque[bytes] = deque()  # complete frames already read, not yet opened
        # Fast acquire: an uncontended send (the usual case: one writer task per
        # link) takes the lock without an extra trip through the event loop.
        self._send_lock = anyio.Lock(fast_acquire=True)
        self._last_send = anyio.current_time()
        self._closed = False
        self.bytes_sent = 0  # on the wire, frames and headers included: what the user pays
        self.bytes_received = 0

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def buffered(self) -> int:
        """Frames already read off the socket: that many :meth:`receive` calls need no read."""
        return len(self._frames)

    async def send(self, message: object) -> None:
        """Encode, seal and write ``message``. Raises :class:`LinkError` if the link is gone.

        Raises ``LocalProtocolError`` (and keeps the link) if ``message`` breaks its schema.
        """
        await self._send_plain(self._codec.encode(message))

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
                    await self._fail("protocol")
                    raise LinkProtocolError(str(exc)) from exc

    async def send_keepalive(self) -> None:
        await self._send_plain(b"")

    async def aclose(self) -> None:
        self._closed = True
        with anyio.CancelScope(shield=True):
            await self._stream.aclose()

    async def _send_plain(self, plain: bytes) -> None:
        await self._send_plains((plain,))

    async def _send_plains(self, plains: Sequence[bytes]) -> None:
        if self._closed:
            raise LinkClosed("the link is closed")
        if self._upload is not None:
            for plain in plains:
                await self._upload.acquire(self.peer_identity, HEADER_SIZE + len(plain) + 16)
        async with self._send_lock:
            seal = self._sealer.seal
            if len(plains) == 1:
                data = encode_frame(seal(plains[0]))
            else:
                data = b"".join([encode_frame(seal(plain)) for plain in plains])
            try:
                await self._stream.send(data)
            except _STREAM_ERRORS:
                await self.aclose()
                raise LinkClosed("the peer's connection broke while sending") from None
            except BaseException:
                # Cancelled mid-frame: the byte stream may be out of step for good.
                await self.aclose()
                raise
            self._last_send = anyio.current_time()
            self.bytes_sent += len(data)

    async def _receive_plain(self) -> bytes:
        if self._closed:
            raise LinkClosed("the link is closed")
        if not self._frames:
            deadline = anyio.current_time() + self._config.idle_timeout
            try:
                while not self._frames:
                    self._frames.extend(self._decoder.feed(await self._read_some(deadline)))
            except RemoteProtocolError as exc:
                await self._fail("protocol")
                raise LinkProtocolError(str(exc)) from exc
            except _STREAM_ERRORS:
                await self.aclose()
                raise LinkClosed("the peer closed the connection") from None
        body = self._frames.popleft()
        self.bytes_received += HEADER_SIZE + len(body)
        if self._download is not None:
            await self._download.acquire(self.peer_identity, HEADER_SIZE + len(body))
        try:
            return self._opener.open(body)
        except FrameRejected as exc:
            await self._fail("crypto")
            raise LinkProtocolError(str(exc)) from exc

    async def _read_some(self, deadline: float) -> bytes:
        """Read what has arrived, sending keepalives while waiting; time out at ``deadline``.

        Keepalives ride on the reader because the runtime always has one task
        awaiting :meth:`receive` per link: no extra task per link, nothing to orphan.
        Reading whatever has arrived (up to :data:`_READ_SIZE`) and splitting it
        with the sans-I/O :class:`FrameDecoder` costs one await per burst of
        frames rather than two per frame.
        """
        interval = self._config.keepalive_interval
        while True:
            now = anyio.current_time()
            if now >= deadline:
                await self.aclose()
                raise LinkTimeout(f"nothing received for {self._config.idle_timeout:g} s")
            if now >= self._last_send + interval:
                with anyio.move_on_after(deadline - now):
                    await self.send_keepalive()
                continue
            with anyio.move_on_after(min(deadline, self._last_send + interval) - now):
                return await self._reader.receive(_READ_SIZE)

    async def _fail(self, kind: str) -> None:
        if self._faults is not None:
            self._faults.record(self.peer_identity, kind)
        await self.aclose()


async def _initiator_handshake(
    stream: anyio.abc.ByteStream,
    reader: BufferedByteReceiveStream,
    identity: NodeIdentity,
    expected_peer: bytes,
    prologue: bytes,
) -> HandshakeResult:
    initiator = Initiator(identity.keys, expected_peer, prologue=prologue)
    await stream.send(initiator.start())
    message3 = initiator.read_message2(await reader.receive_exactly(MSG2_SIZE))
    await stream.send(message3)
    return initiator.result


async def _responder_handshake(
    stream: anyio.abc.ByteStream,
    reader: BufferedByteReceiveStream,
    identity: NodeIdentity,
    prologue: bytes,
) -> HandshakeResult:
    responder = Responder(identity.keys, prologue=prologue)
    await stream.send(responder.read_message1(await reader.receive_exactly(MSG1_SIZE)))
    return responder.read_message3(await reader.receive_exactly(MSG3_SIZE))


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
    except _STREAM_ERRORS:
        if faults is not None:
            faults.record(fault_key, "handshake")
        raise LinkHandshakeFailed("the connection closed during the handshake") from None


@asynccontextmanager
async def _run_link(link: Link) -> AsyncIterator[Link]:
    try:
        yield link
    finally:
        await link.aclose()


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
    try:
        with anyio.fail_after(config.handshake_timeout):
            stream: anyio.abc.ByteStream = await anyio.connect_tcp(host, port)
    except TimeoutError:
        raise LinkTimeout(f"connecting took over {config.handshake_timeout:g} s") from None
    async with stream:
        reader = BufferedByteReceiveStream(stream)
        result = await _handshake(
            lambda: _initiator_handshake(stream, reader, identity, expected_peer, config.prologue),
            config,
            options.get("faults"),
            expected_peer,
        )
        async with _run_link(Link(stream, reader, result, codec, config, **options)) as link:
            yield link


@asynccontextmanager
async def accept(
    stream: anyio.abc.ByteStream,
    identity: NodeIdentity,
    codec: Codec,
    config: LinkConfig | None = None,
    **options: Any,
) -> AsyncIterator[Link]:
    """Run the responder's handshake on an accepted ``stream``; the link learns the peer.

    The caller decides whether ``link.peer_identity`` is welcome (darknet: a
    friend; opennet: not banned) and simply leaves the ``async with`` if not.
    """
    config = config or LinkConfig()
    async with stream:
        reader = BufferedByteReceiveStream(stream)
        result = await _handshake(
            lambda: _responder_handshake(stream, reader, identity, config.prologue),
            config,
            options.get("faults"),
            _remote_host(stream),
        )
        async with _run_link(Link(stream, reader, result, codec, config, **options)) as link:
            yield link


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
    only. Cancel the enclosing scope to stop listening.
    """
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    async with listener:
        bound = listener.listeners[0].extra(anyio.abc.SocketAttribute.local_port)
        task_status.started(bound)

        async def handle(stream: anyio.abc.SocketStream) -> None:
            try:
                async with accept(stream, identity, codec, config, **options) as link:
                    await handler(link)
            except LinkError:
                pass  # already counted; this link alone ends

        await listener.serve(handle)


def default_backoff(attempt: int, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Seconds to wait before reconnection attempt ``attempt`` (0, 1, 2, ...): doubling, capped.

    The runtime adds jitter from its own ``random.Random`` so peers do not retry in step.
    """
    return min(cap, base * math.pow(2.0, min(attempt, 30)))
