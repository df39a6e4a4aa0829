"""A raw FCP connection for conformance tests, and a running server with the FakeBackend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import anyio.abc

from node.fcp.protocol import FCPMessage, FCPParser, encode_message
from node.fcp.server import FCPServer, ServerConfig
from node.fcp.session import SessionConfig
from tests.node.fcp.fake_backend import FakeBackend

TIMEOUT = 5.0


class Raw:
    """Bytes out, parsed messages in, over one TCP connection."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.parser = FCPParser()
        self.hello: FCPMessage | None = None

    async def send(
        self, name: str, fields: Mapping[str, object] | None = None, data: bytes | None = None
    ) -> None:
        await self.stream.send(encode_message(name, fields or {}, data))

    async def send_raw(self, raw: bytes) -> None:
        await self.stream.send(raw)

    async def receive(self) -> FCPMessage:
        with anyio.fail_after(TIMEOUT):
            while True:
                msg = self.parser.next_message()
                if msg is not None:
                    return msg
                self.parser.receive_data(await self.stream.receive())

    async def until(self, name: str) -> list[FCPMessage]:
        """Messages up to and including the first called ``name``."""
        out = []
        while True:
            msg = await self.receive()
            out.append(msg)
            if msg.name == name:
                return out

    async def closed(self) -> bool:
        """True if the server closes the connection (after any queued messages)."""
        with anyio.fail_after(TIMEOUT):
            try:
                while True:
                    await self.stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return True

    async def say_hello(self, name: str = "tester") -> FCPMessage:
        await self.send("ClientHello", {"Name": name, "ExpectedVersion": "2.0"})
        self.hello = await self.receive()
        assert self.hello.name == "NodeHello"
        return self.hello


@dataclass
class Node:
    port: int
    backend: FakeBackend

    @asynccontextmanager
    async def raw(self, hello: str | None = "tester") -> AsyncIterator[Raw]:
        async with await anyio.connect_tcp("127.0.0.1", self.port) as stream:
            conn = Raw(stream)
            if hello is not None:
                await conn.say_hello(hello)
            yield conn


@asynccontextmanager
async def running_node(session: SessionConfig | None = None) -> AsyncIterator[Node]:
    async with FakeBackend.running() as backend, anyio.create_task_group() as tg:
        config = ServerConfig(port=0, session=session or SessionConfig())
        port = await tg.start(FCPServer(backend, config).serve)
        yield Node(port, backend)
        tg.cancel_scope.cancel()
