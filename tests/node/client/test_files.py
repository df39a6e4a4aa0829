"""Putting and getting files through a memory network: sizes, determinism, loss, healing."""

from __future__ import annotations

import random

import pytest

from crypto.blocks import Block, KeyKind
from crypto.uri import CHKURI, parse_uri
from node.client.errors import AllDataNotFound, BlockDecodeError, InvalidRequestURI, TooBig
from node.client.network import MemoryNetwork
from node.client.progress import Progress

from .helpers import client_on, payload

pytestmark = pytest.mark.anyio

SIZES = [0, 1, 32 * 1024 - 1, 32 * 1024, 32 * 1024 + 1, 3 * 1024 * 1024 + 17]


@pytest.mark.parametrize("size", SIZES)
async def test_round_trip(size: int) -> None:
    data = payload(size, seed=size)
    async with client_on() as client:
        uri = await client.put(data)
        result, back = await client.get_bytes(uri)
    assert back == data
    assert result.size == size and result.mime == "application/octet-stream"
    assert isinstance(parse_uri(uri), CHKURI)


async def test_identical_content_gives_identical_chk_and_chk_only_agrees() -> None:
    data = payload(200_000, seed=7)
    net = MemoryNetwork()
    async with client_on(net) as client:
        predicted = await client.put(data, get_chk_only=True)
        assert not net.blocks
        first = await client.put(data)
        second = await client.put(data)
    assert predicted == first == second


async def test_compressible_content_is_compressed_and_mime_kept() -> None:
    text = b"<p>hello, censorship-resistant world</p>\n" * 20_000
    net = MemoryNetwork()
    async with client_on(net) as client:
        uri = await client.put(text, mime="text/html")
        result, back = await client.get_bytes(uri)
    assert back == text and result.mime == "text/html"
    assert len(net.blocks) == 1  # 800 kB of repetitive HTML fits one block compressed


async def test_fetch_survives_loss_and_heals() -> None:
    data = payload(2 * 1024 * 1024, seed=1)
    net = MemoryNetwork()
    async with client_on(net) as client:
        uri = await client.put(data)
        meta_keys = {rk for (_, rk), b in net.blocks.items()}
        rng = random.Random(5)
        victims = [rk for rk in sorted(meta_keys) if rng.random() < 0.3]
        top = parse_uri(uri)
        assert isinstance(top, CHKURI)
        victims = [rk for rk in victims if rk != top.routing_key]
        for rk in victims:
            net.drop(rk)
        _, back = await client.get_bytes(uri)
        assert back == data
    # leaving the client waited for the healer: blocks that were tried and missing are back
    assert client.healer is not None and client.healer.stats.inserted > 0
    healed = [rk for rk in victims if net.has(rk)]
    assert len(healed) == client.healer.stats.inserted


async def test_too_much_loss_is_all_data_not_found() -> None:
    data = payload(300_000, seed=2)
    net = MemoryNetwork()
    async with client_on(net, heal=False) as client:
        uri = await client.put(data)
        top = parse_uri(uri)
        assert isinstance(top, CHKURI)
        for _, rk in list(net.blocks):
            if rk != top.routing_key:
                net.drop(rk)
        with pytest.raises(AllDataNotFound):
            await client.get_bytes(uri)


async def test_random_loss_within_redundancy_is_recovered() -> None:
    data = payload(1024 * 1024, seed=3)
    net = MemoryNetwork(loss=0.2, rng=random.Random(11))
    async with client_on(net, heal=False) as client:
        uri = await client.put(data)
        top = parse_uri(uri)
        assert isinstance(top, CHKURI)
        net.lost.discard(top.routing_key)
        _, back = await client.get_bytes(uri)
    assert back == data
    assert net.lost


async def test_one_time_failures_are_retried() -> None:
    data = payload(100_000, seed=4)
    net = MemoryNetwork()
    async with client_on(net, heal=False) as client:
        uri = await client.put(data)
        net.fail_once.update(rk for _, rk in net.blocks)
        _, back = await client.get_bytes(uri)
    assert back == data


async def test_max_size_fails_before_fetching_blocks() -> None:
    data = payload(500_000, seed=5)
    net = MemoryNetwork()
    async with client_on(net) as client:
        uri = await client.put(data, mime="video/webm")
        before = net.stats.fetches
        with pytest.raises(TooBig) as info:
            await client.get_bytes(uri, max_size=1000)
    assert info.value.expected_size == 500_000 and info.value.mime == "video/webm"
    assert net.stats.fetches == before + 1  # only the metadata block


async def test_progress_events_count_blocks() -> None:
    data = payload(400_000, seed=6)
    seen: list[Progress] = []
    async with client_on() as client:
        uri = await client.put(data, progress=seen.append)
        put_last = seen[-1]
        seen.clear()
        await client.get_bytes(uri, progress=seen.append)
    assert put_last.succeeded == put_last.total == put_last.required
    final = seen[-1]
    assert final.finalized and final.succeeded >= final.required
    assert final.required == 13 + 1  # 13 data blocks and the metadata block
    assert [p.succeeded for p in seen] == sorted(p.succeeded for p in seen)


async def test_tampered_block_is_not_accepted() -> None:
    data = payload(50_000, seed=8)
    net = MemoryNetwork(verify=False)
    async with client_on(net, heal=False) as client:
        uri = await client.put(data)
        for slot, block in list(net.blocks.items()):
            net.blocks[slot] = Block(block.kind, block.routing_key, block.data[:-1] + b"\x00")
        with pytest.raises((BlockDecodeError, AllDataNotFound)):
            await client.get_bytes(uri)


async def test_bad_uris_are_refused_clearly() -> None:
    async with client_on() as client:
        with pytest.raises(InvalidRequestURI):
            await client.get_bytes("CHK@")
        with pytest.raises(InvalidRequestURI):
            await client.get_bytes("nonsense")


async def test_raw_data_block_can_be_fetched() -> None:
    from crypto.keys import insert_chk

    net = MemoryNetwork()
    block, uri = insert_chk(b"raw bytes")
    net.blocks[(KeyKind.CHK, block.routing_key)] = block
    async with client_on(net) as client:
        result, back = await client.get_bytes(str(uri))
    assert back == b"raw bytes" and result.mime == "application/octet-stream"


async def test_process_pool_gives_the_same_key() -> None:
    data = payload(70_000, seed=9)
    async with client_on() as threads:
        a = await threads.put(data, get_chk_only=True)
    async with client_on(processes=True, workers=1) as procs:
        b = await procs.put(data, get_chk_only=True)
    assert a == b


@pytest.mark.soak
async def test_64_mib_round_trip() -> None:
    data = payload(64 * 1024 * 1024, seed=64)
    async with client_on(processes=True) as client:
        uri = await client.put(data)
        _, back = await client.get_bytes(uri)
    assert back == data


async def test_an_insert_the_network_refuses_for_a_while_is_retried_after_a_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every block is refused twice (every peer at its in-flight limit, say)
    # before it is taken: the insert still completes, pausing before each retry.
    from node.client import splitfile
    from node.client.errors import Overloaded

    pauses: list[float] = []
    real_sleep = splitfile.anyio.sleep

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(splitfile.anyio, "sleep", sleep)

    class Busy(MemoryNetwork):
        def __init__(self) -> None:
            super().__init__()
            self.refused: dict[bytes, int] = {}

        async def insert(self, block: Block) -> None:
            n = self.refused.get(block.routing_key, 0)
            if n < 2:
                self.refused[block.routing_key] = n + 1
                raise Overloaded("every peer is busy")
            await super().insert(block)

    net = Busy()
    data = payload(200_000)
    async with client_on(net) as client:
        # One copy of the top block: extra copies would share its refusals.
        uri = await client.put(data, extra_header=0)
        _result, back = await client.get_bytes(uri)
    assert back == data
    blocks = len(net.refused)
    assert blocks > 1 and all(n == 2 for n in net.refused.values())
    assert len(pauses) == 2 * blocks
    first, second = splitfile.INSERT_RETRY_DELAY, 2 * splitfile.INSERT_RETRY_DELAY
    assert sum(first / 2 <= p <= first for p in pauses) == blocks
    assert sum(second / 2 <= p <= second for p in pauses) == blocks
