"""``Link.deliver``, the push form of ``receive``: messages handed over as they arrive.

The server side of each test serves its link with ``deliver`` (as the runtime
does) and echoes; the client side uses the awaited API. Tampering, garbage,
a handler that closes the link and a handler with a bug must each end that
link as ``receive`` would, and nothing may be handed over after the end.
"""

from __future__ import annotations

import os

import anyio
import pytest

from crypto.handshake import MSG1_SIZE, MSG3_SIZE
from node.net.bandwidth import BandwidthLimiter
from node.net.link import FaultCounter, Link, LinkClosed, LinkError, LinkProtocolError, connect
from tests.node.net.helpers import ALICE, BOB, CODEC, FAST, HOST, flip_at, relay, server
from tests.node.wire.messages import Block, Ping

pytestmark = pytest.mark.anyio


class Pusher:
    """A server handler that echoes through ``deliver``: replies are written once per read.

    ``close_on`` makes the handler close the link when that message comes;
    ``fail_on`` makes it raise (a bug). What ``deliver`` raised is kept in ``errors``.
    """

    def __init__(self, *, close_on: object = None, fail_on: object = None, wait: float = 0.0):
        self.close_on = close_on
        self.fail_on = fail_on
        self.wait = wait
        self.handled: list[object] = []
        self.batches: list[int] = []  # messages handled between two calls of ``after``
        self.errors: list[BaseException] = []

    async def __call__(self, link: Link) -> None:
        pending = 0

        def handle(message: object) -> None:
            nonlocal pending
            self.handled.append(message)
            if message == self.close_on:
                link.close()
                return
            if message == self.fail_on:
                raise RuntimeError("a bug in the handler")
            link.send_now(message)
            pending += 1

        def after() -> None:
            nonlocal pending
            self.batches.append(pending)
            pending = 0
            link.flush()

        await anyio.sleep(self.wait)  # frames that arrive meanwhile wait in the connection
        try:
            await link.deliver(handle, after)
        except Exception as exc:  # LinkError, or the handler's bug
            self.errors.append(exc)


async def wait_for(condition: object, timeout: float = 2.0) -> None:
    with anyio.fail_after(timeout):
        while not callable(condition) or not condition():
            await anyio.sleep(0.01)


async def test_messages_are_handed_over_in_order_and_replies_go_once_per_read() -> None:
    echo = Pusher()
    pings = [Ping(nonce=n) for n in range(20)]
    block = Block(uid=1, kind=1, routing_key=os.urandom(32), data=os.urandom(32_788))
    async with (
        server(echo) as port,
        connect(HOST, port, ALICE, BOB.public_key, CODEC, FAST) as link,
    ):
        await link.send_many([*pings, block])
        await link.send_keepalive()  # skipped: never handed over
        await link.send(Ping(nonce=99))
        for expected in [*pings, block, Ping(nonce=99)]:
            assert await link.receive() == expected
    assert echo.handled == [*pings, block, Ping(nonce=99)]
    assert sum(echo.batches) == 22
    assert len([n for n in echo.batches if n]) < 22  # a burst is answered in one write


async def test_frames_read_before_deliver_are_handed_over_first() -> None:
    echo = Pusher(wait=0.2)
    async with (
        server(echo) as port,
        connect(HOST, port, ALICE, BOB.public_key, CODEC, FAST) as link,
    ):
        for n in range(3):
            await link.send(Ping(nonce=n))
        await anyio.sleep(0.1)  # all three wait in the server's connection
        await link.send(Ping(nonce=3))
        for n in range(4):
            assert await link.receive() == Ping(nonce=n)


async def test_a_tampered_frame_ends_delivery_with_a_protocol_error_and_is_counted() -> None:
    faults = FaultCounter()
    echo = Pusher()
    position = MSG1_SIZE + MSG3_SIZE + 10  # inside the first sealed frame
    async with server(echo, faults=faults) as port, relay(port, flip_at("c2s", position)) as mitm:
        async with connect(HOST, mitm, ALICE, BOB.public_key, CODEC, FAST) as link:
            await link.send(Ping(nonce=1))
            with pytest.raises(LinkClosed):
                await link.receive()
        await wait_for(lambda: faults.count(ALICE.public_key, "crypto") == 1)
    assert echo.handled == []
    assert isinstance(echo.errors[0], LinkProtocolError)


async def test_garbage_ends_delivery_with_a_protocol_error_and_nothing_after_it() -> None:
    faults = FaultCounter()
    echo = Pusher()
    async with server(echo, faults=faults) as port:
        async with connect(HOST, port, ALICE, BOB.public_key, CODEC, FAST) as link:
            link._write_plains([CODEC.encode(Ping(nonce=1)), b"\xff not cbor"])
            await link.send(Ping(nonce=2))
            with pytest.raises(LinkClosed):  # the reply to 1, not yet written, went with it
                await link.receive()
        await wait_for(lambda: faults.count(ALICE.public_key, "protocol") == 1)
    assert echo.handled == [Ping(nonce=1)]
    assert isinstance(echo.errors[0], LinkProtocolError)


@pytest.mark.parametrize(
    ("handler", "raised"),
    [
        # A handler that closes the link is handed nothing more.
        (dict(close_on=Ping(nonce=2)), LinkClosed),
        # A bug in the handler is raised by deliver, and the link is closed.
        (dict(fail_on=Ping(nonce=2)), RuntimeError),
    ],
    ids=["handler-closes", "handler-bug"],
)
async def test_delivery_stops_at_the_message_whose_handler_closed_or_failed(
    handler: dict[str, Ping], raised: type[Exception]
) -> None:
    echo = Pusher(**handler)
    async with server(echo) as port:
        async with connect(HOST, port, ALICE, BOB.public_key, CODEC, FAST) as link:
            await link.send_many([Ping(nonce=1), Ping(nonce=2), Ping(nonce=3)])
            with pytest.raises(LinkError):
                while True:
                    await link.receive()
        await wait_for(lambda: bool(echo.errors))
    assert echo.handled == [Ping(nonce=1), Ping(nonce=2)]
    assert isinstance(echo.errors[0], raised)


async def test_with_a_download_limit_messages_are_received_one_by_one() -> None:
    download = BandwidthLimiter(10_000_000)
    echo = Pusher()
    async with (
        server(echo, download=download) as port,
        connect(HOST, port, ALICE, BOB.public_key, CODEC, FAST) as link,
    ):
        await link.send_many([Ping(nonce=n) for n in range(5)])
        for n in range(5):
            assert await link.receive() == Ping(nonce=n)
    assert echo.handled == [Ping(nonce=n) for n in range(5)]
