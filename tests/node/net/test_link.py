"""Links over real TCP on 127.0.0.1: success, and the attacks handshake and frames must stop."""

from __future__ import annotations

import os

import anyio
import pytest

from crypto.handshake import MAGIC, MSG1_SIZE, MSG2_SIZE, MSG3_SIZE
from crypto.primitives import dh_keypair
from node.net.link import (
    FaultCounter,
    Link,
    LinkClosed,
    LinkConfig,
    LinkError,
    LinkHandshakeFailed,
    LinkProtocolError,
    LinkTimeout,
    connect,
    default_backoff,
)
from node.wire.errors import LocalProtocolError, RemoteProtocolError
from node.wire.framing import MAX_FRAME_BODY
from tests.node.net.helpers import (
    ALICE,
    BOB,
    CODEC,
    FAST,
    HOST,
    MALLORY,
    flip_at,
    read_all,
    relay,
    server,
)
from tests.node.wire.messages import Block, Ping

pytestmark = pytest.mark.anyio


class Recorder:
    """A server handler that echoes messages and remembers who came and how they left."""

    def __init__(self) -> None:
        self.peers: list[bytes] = []
        self.errors: list[LinkError] = []

    async def __call__(self, link: Link) -> None:
        self.peers.append(link.peer_identity)
        try:
            while True:
                await link.send(await link.receive())
        except LinkError as exc:
            self.errors.append(exc)
            raise


async def wait_for(condition: object, timeout: float = 2.0) -> None:
    with anyio.fail_after(timeout):
        while not callable(condition) or not condition():
            await anyio.sleep(0.01)


async def test_handshake_and_messages_between_two_real_endpoints() -> None:
    echo = Recorder()
    async with (
        server(echo) as port,
        connect(HOST, port, ALICE, BOB.public_key, CODEC, FAST) as link,
    ):
        assert link.peer_identity == BOB.public_key
        await link.send(Ping(nonce=42))
        assert await link.receive() == Ping(nonce=42)
        block = Block(uid=1, kind=1, routing_key=os.urandom(32), data=os.urandom(32_788))
        for _ in range(3):
            await link.send(block)
        for _ in range(3):
            assert await link.receive() == block
    assert echo.peers == [ALICE.public_key]


async def test_wrong_expected_identity_fails() -> None:
    faults = FaultCounter()
    echo = Recorder()
    async with server(echo) as port:
        with pytest.raises(LinkHandshakeFailed, match="not the node its reference names"):
            async with connect(HOST, port, ALICE, MALLORY.public_key, CODEC, FAST, faults=faults):
                pass
    assert faults.count(MALLORY.public_key, "handshake") == 1
    assert echo.peers == []


async def test_impersonating_listener_fails() -> None:
    """Mallory's node answers where Alice expects Bob (a MITM that terminates TCP)."""
    async with server(Recorder(), identity=MALLORY) as port:
        with pytest.raises(LinkHandshakeFailed):
            async with connect(HOST, port, ALICE, BOB.public_key, CODEC, FAST):
                pass


async def test_relay_swapping_the_ephemeral_key_fails() -> None:
    _secret, swapped = dh_keypair()

    def swap(direction: str, offset: int, chunk: bytes) -> bytes:
        if direction == "c2s" and offset == 0 and len(chunk) >= MSG1_SIZE:
            return MAGIC + swapped + chunk[MSG1_SIZE:]
        return chunk

    echo = Recorder()
    async with server(echo) as port, relay(port, swap) as mitm:
        with pytest.raises(LinkHandshakeFailed):
            async with connect(HOST, mitm, ALICE, BOB.public_key, CODEC, FAST):
                pass
    assert echo.peers == []


@pytest.mark.parametrize(
    ("direction", "position"),
    [("s2c", 5), ("s2c", 100), ("s2c", MSG2_SIZE - 1), ("c2s", 2), ("c2s", MSG1_SIZE + 20)],
)
async def test_a_tampered_handshake_byte_fails(direction: str, position: int) -> None:
    faults = FaultCounter()
    echo = Recorder()
    async with (
        server(echo, faults=faults) as port,
        relay(port, flip_at(direction, position)) as mitm,
    ):
        with pytest.raises(LinkError):
            async with connect(HOST, mitm, ALICE, BOB.public_key, CODEC, FAST) as link:
                await link.send(Ping(nonce=1))
                await link.receive()  # the server refused message 3 and hung up
        assert echo.peers == []
        if direction == "c2s":
            await wait_for(lambda: faults.count(HOST) == 1)


async def test_a_tampered_frame_closes_that_link_and_is_counted() -> None:
    faults = FaultCounter()
    echo = Recorder()
    position = MSG1_SIZE + MSG3_SIZE + 10  # inside the first sealed frame
    async with server(echo, faults=faults) as port, relay(port, flip_at("c2s", position)) as mitm:
        async with connect(HOST, mitm, ALICE, BOB.public_key, CODEC, FAST) as link:
            await link.send(Ping(nonce=1))
            with pytest.raises(LinkClosed):
                await link.receive()
        await wait_for(lambda: faults.count(ALICE.public_key, "crypto") == 1)
        assert isinstance(echo.errors[0], LinkProtocolError)
        # The node keeps serving others.
        async with connect(HOST, port, ALICE, BOB.public_key, CODEC, FAST) as link:
            await link.send(Ping(nonce=2))
            assert await link.receive() == Ping(nonce=2)


async def test_replayed_handshake_fails() -> None:
    recorded = bytearray()

    def record(direction: str, offset: int, chunk: bytes) -> bytes:
        if direction == "c2s":
            recorded.extend(chunk)
        return chunk

    faults = FaultCounter()
    echo = Recorder()
    async with server(echo, faults=faults) as port:
        async with (
            relay(port, record) as tap,
            connect(HOST, tap, ALICE, BOB.public_key, CODEC, FAST) as link,
        ):
            await link.send(Ping(nonce=7))
            assert await link.receive() == Ping(nonce=7)
        assert len(recorded) > MSG1_SIZE + MSG3_SIZE
        async with await anyio.connect_tcp(HOST, port) as raw:
            await raw.send(bytes(recorded))  # the whole session, replayed verbatim
            reply = await read_all(raw)
        assert len(reply) == MSG2_SIZE  # a fresh message 2, then the server hangs up
        await wait_for(lambda: faults.count(HOST, "handshake") == 1)
    assert echo.peers == [ALICE.public_key]


@pytest.mark.parametrize("sent", [b"", MAGIC, MAGIC + b"\x01" * 10])
async def test_truncated_handshake_fails(sent: bytes) -> None:
    faults = FaultCounter()
    async with server(Recorder(), faults=faults) as port:
        async with await anyio.connect_tcp(HOST, port) as raw:
            await raw.send(sent) if sent else None
            await raw.send_eof()
            assert await read_all(raw) == b""
        await wait_for(lambda: faults.count(HOST, "handshake") == 1)


async def test_stalled_handshake_times_out() -> None:
    config = LinkConfig(handshake_timeout=0.2, keepalive_interval=1, idle_timeout=2)
    async with (
        server(Recorder(), config=config) as port,
        await anyio.connect_tcp(HOST, port) as raw,
    ):
        await raw.send(MAGIC)
        assert await read_all(raw) == b""  # closed after the timeout


async def test_random_bytes_to_the_listener_fail() -> None:
    faults = FaultCounter()
    async with server(Recorder(), faults=faults) as port:
        for payload in (os.urandom(MSG1_SIZE), b"GET / HTTP/1.1\r\n\r\n" + bytes(18)):
            async with await anyio.connect_tcp(HOST, port) as raw:
                await raw.send(payload)
                assert await read_all(raw) == b""
        await wait_for(lambda: faults.count(HOST, "handshake") == 2)


async def test_random_bytes_from_the_listener_fail() -> None:
    async def noise(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()
            await stream.send(os.urandom(MSG2_SIZE))
            await anyio.sleep(1)

    listener = await anyio.create_tcp_listener(local_host=HOST, local_port=0)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, noise)
        port = listener.listeners[0].extra(anyio.abc.SocketAttribute.local_port)
        with pytest.raises(LinkHandshakeFailed):
            async with connect(HOST, port, ALICE, BOB.public_key, CODEC, FAST):
                pass
        tg.cancel_scope.cancel()


async def test_garbage_message_and_oversize_frame_close_the_link() -> None:
    faults = FaultCounter()
    echo = Recorder()
    async with server(echo, faults=faults) as port:
        async with connect(HOST, port, ALICE, BOB.public_key, CODEC, FAST) as link:
            link._write_plains([b"\xff not cbor"])
            with pytest.raises(LinkClosed):
                await link.receive()
        async with connect(HOST, port, ALICE, BOB.public_key, CODEC, FAST) as link:
            link.write_raw((MAX_FRAME_BODY + 1).to_bytes(4, "big"))
            with pytest.raises(LinkClosed):
                await link.receive()
        await wait_for(lambda: faults.count(ALICE.public_key, "protocol") == 2)
    assert all(isinstance(e, RemoteProtocolError) for e in echo.errors)


async def test_local_schema_errors_keep_the_link() -> None:
    async with (
        server(Recorder()) as port,
        connect(HOST, port, ALICE, BOB.public_key, CODEC, FAST) as link,
    ):
        with pytest.raises(LocalProtocolError):
            await link.send(Ping(nonce=-1))
        await link.send(Ping(nonce=3))
        assert await link.receive() == Ping(nonce=3)


async def test_keepalives_hold_an_idle_link_open() -> None:
    config = LinkConfig(handshake_timeout=2, keepalive_interval=0.05, idle_timeout=0.25)
    echo = Recorder()
    async with (
        server(echo, config=config) as port,
        connect(HOST, port, ALICE, BOB.public_key, CODEC, config) as link,
    ):
        with anyio.move_on_after(0.8):
            await link.receive()  # only keepalives arrive; no idle timeout fires
        await link.send(Ping(nonce=9))
        assert await link.receive() == Ping(nonce=9)
    assert echo.errors == [] or isinstance(echo.errors[0], LinkClosed)


async def test_a_silent_peer_is_detected_as_idle() -> None:
    silent = LinkConfig(handshake_timeout=2, keepalive_interval=30, idle_timeout=60)
    watchful = LinkConfig(handshake_timeout=2, keepalive_interval=0.1, idle_timeout=0.3)
    echo = Recorder()
    async with (
        server(echo, config=watchful) as port,
        connect(HOST, port, ALICE, BOB.public_key, CODEC, silent) as link,
    ):
        with pytest.raises(LinkClosed):
            await link.receive()  # the server gave up on us and closed
    assert isinstance(echo.errors[0], LinkTimeout)


async def test_closed_link_refuses_use() -> None:
    async with server(Recorder()) as port:
        async with connect(HOST, port, ALICE, BOB.public_key, CODEC, FAST) as link:
            pass
        assert link.closed
        with pytest.raises(LinkClosed):
            await link.send(Ping(nonce=1))
        with pytest.raises(LinkClosed):
            await link.receive()


async def test_refused_connection_is_an_os_error() -> None:
    listener = await anyio.create_tcp_listener(local_host=HOST, local_port=0)
    port = listener.listeners[0].extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    with pytest.raises(OSError):
        async with connect(HOST, port, ALICE, BOB.public_key, CODEC, FAST):
            pass


def test_backoff_doubles_and_caps() -> None:
    assert [default_backoff(n) for n in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert default_backoff(100) == 300.0


async def test_upload_limit_is_honoured() -> None:
    from node.net.bandwidth import BandwidthLimiter

    upload = BandwidthLimiter(200_000, burst=20_000)
    block = Block(uid=1, kind=1, routing_key=bytes(32), data=bytes(32_788))
    async with (
        server(Recorder()) as port,
        connect(HOST, port, ALICE, BOB.public_key, CODEC, FAST, upload=upload) as link,
    ):
        start = anyio.current_time()
        for _ in range(3):
            await link.send(block)
        elapsed = anyio.current_time() - start
        for _ in range(3):
            assert await link.receive() == block
    assert elapsed >= (3 * 32_900 - 20_000 - 32_900) / 200_000


async def test_a_peer_that_does_not_read_is_held_back_by_tcp_and_shows_in_the_backlog() -> None:
    from node.net.link import MAX_BUFFERED

    links: list[Link] = []
    done = anyio.Event()

    async def idle(link: Link) -> None:  # never reads
        links.append(link)
        await done.wait()

    block = Block(uid=1, kind=1, routing_key=bytes(32), data=os.urandom(32_788))
    async with (
        server(idle) as port,
        connect(HOST, port, ALICE, BOB.public_key, CODEC, FAST) as link,
    ):
        for _ in range(600):  # 20 MB: more than the reader buffers and both sockets hold
            link.send_now(block)
        link.flush()
        await wait_for(lambda: bool(links))
        await anyio.sleep(0.3)
        held = links[0]._conn._frame_bytes
        assert held <= MAX_BUFFERED + 256 * 1024  # reading paused past the limit
        assert link.backlog > 0  # the rest waits on our side
        for _ in range(600):  # once the peer reads, everything arrives in order
            assert await links[0].receive() == block
        done.set()
