"""Loopback helpers for link tests: a server in a task group, and a tampering TCP relay."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc

from node.net.identity import NodeIdentity
from node.net.link import Link, LinkConfig, serve
from node.wire.codec import Codec
from tests.node.wire.messages import REGISTRY

HOST = "127.0.0.1"
CODEC = Codec(REGISTRY)
ALICE = NodeIdentity.from_seed(b"A" * 32)
BOB = NodeIdentity.from_seed(b"B" * 32)
MALLORY = NodeIdentity.from_seed(b"M" * 32)
FAST = LinkConfig(handshake_timeout=2.0, keepalive_interval=5.0, idle_timeout=10.0)

# (direction "c2s" or "s2c", offset of this chunk in its direction, chunk) -> chunk to forward
Mutator = Callable[[str, int, bytes], bytes]


@asynccontextmanager
async def server(
    handler: Callable[[Link], Awaitable[None]],
    identity: NodeIdentity = BOB,
    config: LinkConfig = FAST,
    **options: Any,
) -> AsyncIterator[int]:
    """Run :func:`serve` on a free loopback port for the duration of the block."""
    async with anyio.create_task_group() as tg:
        port: int = await tg.start(
            functools.partial(serve, HOST, 0, handler, identity, CODEC, config, **options)
        )
        yield port
        tg.cancel_scope.cancel()


@asynccontextmanager
async def relay(target_port: int, mutate: Mutator | None = None) -> AsyncIterator[int]:
    """A TCP relay to ``target_port`` that may rewrite bytes in flight (a man in the middle)."""

    async def pump(src: anyio.abc.ByteStream, dst: anyio.abc.ByteStream, direction: str) -> None:
        offset = 0
        try:
            while True:
                chunk = await src.receive()
                forwarded = mutate(direction, offset, chunk) if mutate else chunk
                offset += len(chunk)
                await dst.send(forwarded)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        finally:
            await dst.aclose()

    async def handle(client: anyio.abc.SocketStream) -> None:
        async with (
            client,
            await anyio.connect_tcp(HOST, target_port) as upstream,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(pump, client, upstream, "c2s")
            tg.start_soon(pump, upstream, client, "s2c")

    listener = await anyio.create_tcp_listener(local_host=HOST, local_port=0)
    async with listener, anyio.create_task_group() as tg:
        port = listener.listeners[0].extra(anyio.abc.SocketAttribute.local_port)
        tg.start_soon(listener.serve, handle)
        yield port
        tg.cancel_scope.cancel()


def flip_at(direction: str, position: int) -> Mutator:
    """A mutator that flips one byte at ``position`` of one direction's stream."""

    def mutate(d: str, offset: int, chunk: bytes) -> bytes:
        if d == direction and offset <= position < offset + len(chunk):
            b = bytearray(chunk)
            b[position - offset] ^= 0x01
            return bytes(b)
        return chunk

    return mutate


async def read_all(stream: anyio.abc.ByteStream, timeout: float = 2.0) -> bytes:
    """Everything the peer sends until it closes (the test fails if it never does)."""
    out = b""
    with anyio.fail_after(timeout):
        try:
            while True:
                out += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            return out
