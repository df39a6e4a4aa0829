"""Link hot-path figures: frame sealing/opening MB/s, codec messages/s, loopback link MB/s.

Prints figures; never passes or fails on time. Run: ``.venv/bin/python -m bench.link_bench``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import anyio

from crypto.frames import FrameOpener, FrameSealer
from crypto.handshake import Initiator, LocalKeys, Responder
from node.net.identity import NodeIdentity
from node.net.link import Link, LinkConfig, connect, serve
from node.wire.codec import Codec, registry_of

BLOCK_DATA = 32_788


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockMessage:
    TYPE: ClassVar[str] = "bench_block"
    uid: int = field(metadata={"min": 0, "max": 2**64 - 1})
    kind: int = field(metadata={"min": 1, "max": 2})
    routing_key: bytes = field(metadata={"min": 32, "max": 32})
    data: bytes = field(metadata={"max": BLOCK_DATA})


def rate(label: str, unit: str, count: int, fn: Callable[[], None], scale: float = 1.0) -> None:
    start = time.perf_counter()
    for _ in range(count):
        fn()
    elapsed = time.perf_counter() - start
    print(f"{label:<44} {count * scale / elapsed:>12,.1f} {unit}")


def pure_figures() -> None:
    key = os.urandom(32)
    sealer, opener = FrameSealer(key), FrameOpener(key)
    payload = os.urandom(32 * 1024)
    sealed = [sealer.seal(payload) for _ in range(3000)]
    sealer2 = FrameSealer(key)
    rate("seal 32 KiB frames", "MB/s", 3000, lambda: sealer2.seal(payload), 32 * 1024 / 1e6)
    it = iter(sealed)
    rate("open 32 KiB frames", "MB/s", 3000, lambda: opener.open(next(it)), 32 * 1024 / 1e6)

    codec = Codec(registry_of([BlockMessage]))
    message = BlockMessage(
        uid=2**63, kind=1, routing_key=os.urandom(32), data=os.urandom(BLOCK_DATA)
    )
    encoded = codec.encode(message)
    rate("codec encode (32 KiB block message)", "msgs/s", 20_000, lambda: codec.encode(message))
    rate("codec decode (32 KiB block message)", "msgs/s", 20_000, lambda: codec.decode(encoded))
    rate(
        "codec encode+decode (32 KiB block message)",
        "msgs/s",
        20_000,
        lambda: codec.decode(codec.encode(message)),
    )

    a, b = LocalKeys.from_seed(os.urandom(32)), LocalKeys.from_seed(os.urandom(32))

    def handshake() -> None:
        i, r = Initiator(a, b.identity_public), Responder(b)
        r.read_message3(i.read_message2(r.read_message1(i.start())))

    rate("handshakes (both sides, in process)", "per s", 500, handshake)


async def link_figures(count: int = 3000) -> None:
    codec = Codec(registry_of([BlockMessage]))
    alice, bob = NodeIdentity.generate(), NodeIdentity.generate()
    message = BlockMessage(uid=1, kind=1, routing_key=os.urandom(32), data=os.urandom(BLOCK_DATA))
    done = anyio.Event()

    async def sink(link: Link) -> None:
        for _ in range(count):
            await link.receive()
        await link.send(message)
        await done.wait()

    async with anyio.create_task_group() as tg:
        port = await tg.start(serve, "127.0.0.1", 0, sink, bob, codec, LinkConfig())
        async with connect("127.0.0.1", port, alice, bob.public_key, codec) as link:
            start = time.perf_counter()
            for _ in range(count):
                await link.send(message)
            await link.receive()
            elapsed = time.perf_counter() - start
            done.set()
        tg.cancel_scope.cancel()
    mb = count * BLOCK_DATA / 1e6
    print(f"{'loopback link, one direction, 32 KiB blocks':<44} {mb / elapsed:>12,.1f} MB/s")
    print(f"{'':<44} {count / elapsed:>12,.1f} blocks/s")


def main() -> None:
    pure_figures()
    anyio.run(link_figures)


if __name__ == "__main__":
    main()
