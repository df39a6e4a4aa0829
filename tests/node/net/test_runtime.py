"""The node runtime over real TCP on 127.0.0.1: several nodes in one process.

These drive real ``NodeRuntime`` instances (real links, real SQLite stores,
real timers) and check what a user of the network sees: blocks inserted at one
node are found at another, through more than one hop; restarts keep identity,
location, peers and store; hostile peers are dropped while honest traffic goes on.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from crypto.blocks import KeyKind
from crypto.encoding import b64encode
from crypto.keys import generate_ssk, insert_chk, insert_ssk
from node.core import Config, Outcome
from node.core.messages import DataFound, DataRequest
from node.net import runtime as runtime_module
from node.net.datadir import DataDir
from node.net.identity import NodeIdentity
from node.net.link import LinkConfig, LinkError, connect
from node.net.noderef import make_noderef
from node.net.runtime import LinkHello, NodeRuntime
from node.net.settings import NodeSettings
from store import Area as StoreArea
from store import BlockStore, StoreConfig, async_store

pytestmark = pytest.mark.anyio

FAST_CORE = Config(min_peers=3, announce_interval=1.0, base_timeout=2.0, hop_timeout=0.5)


def settings(path: Path, **kw: object) -> NodeSettings:
    base = NodeSettings(
        data_dir=path,
        store_size=16 << 20,
        store_synchronous_full=False,
        maintenance_interval=0.2,
        swap_interval=0.2,
        core=FAST_CORE,
        link=LinkConfig(handshake_timeout=5.0),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


@asynccontextmanager
async def running(*runtimes: NodeRuntime) -> AsyncIterator[None]:
    async with anyio.create_task_group() as tg:
        for rt in runtimes:
            await tg.start(rt.run)
        yield
        tg.cancel_scope.cancel()


async def wait_until(condition: object, timeout: float = 15.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():  # type: ignore[operator]
            await anyio.sleep(0.05)


def befriend(a: Path, b: Path) -> None:
    """Exchange darknet references offline, as two friends would."""
    from node.daemon import offline_noderef

    da, db = DataDir.open(a), DataDir.open(b)
    ra, rb = offline_noderef(da, opennet=False), offline_noderef(db, opennet=False)
    da.add_peer(rb)
    db.add_peer(ra)


async def test_opennet_nodes_join_through_a_seed_and_serve_each_other(tmp_path: Path) -> None:
    seed = NodeRuntime(settings(tmp_path / "seed"), rng=random.Random(1))
    async with running(seed):
        seeds = tmp_path / "seednodes"
        seeds.write_text(seed.noderef_text().replace("\n", "") + "\n")
        others = [
            NodeRuntime(settings(tmp_path / f"n{i}", seednodes=seeds), rng=random.Random(10 + i))
            for i in range(4)
        ]
        async with running(*others):
            nodes = [seed, *others]
            await wait_until(lambda: all(n.connected_peers >= 2 for n in nodes))
            blocks = [insert_chk(f"block {i}".encode())[0] for i in range(8)]
            for block in blocks:
                result = await others[0].insert(block)
                assert result.outcome in (Outcome.INSERTED, Outcome.ROUTE_NOT_FOUND)
            for block in blocks:
                got = await others[3].fetch(KeyKind.CHK, block.routing_key)
                assert got.outcome is Outcome.FOUND
                assert got.block == block
            missing = insert_chk(b"never inserted")[0]
            got = await others[2].fetch(KeyKind.CHK, missing.routing_key)
            assert got.outcome in (Outcome.DATA_NOT_FOUND, Outcome.ROUTE_NOT_FOUND)
            status = await others[3].status()
            assert len(status.peers) == others[3].connected_peers
            assert status.store_blocks + status.cache_blocks >= 0


async def test_darknet_chain_fetches_through_a_middle_node(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    befriend(a, b)
    befriend(b, c)
    # Every hop caches, so the test does not depend on the HTL coin flips that
    # keep the first hops of a path from caching (those are tested in node.core).
    everywhere = replace(FAST_CORE, cache_max_htl=FAST_CORE.max_htl)
    nodes = [
        NodeRuntime(settings(p, opennet=False, core=everywhere), rng=random.Random(i))
        for i, p in enumerate((a, b, c))
    ]
    async with running(*nodes):
        await wait_until(lambda: [n.connected_peers for n in nodes] == [1, 2, 1])
        _, insert_uri = generate_ssk(bytes(64))
        ssk = insert_ssk(insert_uri.with_docname("doc"), b"signed words")
        chk = insert_chk(b"content")[0]
        for block in (ssk, chk):
            result = await nodes[0].insert(block)
            assert result.outcome in (Outcome.INSERTED, Outcome.ROUTE_NOT_FOUND)
        for block in (ssk, chk):
            got = await nodes[2].fetch(block.kind, block.routing_key)
            assert got.outcome is Outcome.FOUND and got.block == block
        status = await nodes[2].status()
        assert status.bytes_in > len(chk.data) + len(ssk.data)  # both blocks came over a link
        assert 0 < status.bytes_out < status.bytes_in
        assert abs(status.clock_skew) < 5  # all three share this machine's clock
        # A different block under the same SSK is a collision that returns the original.
        clash = insert_ssk(insert_uri.with_docname("doc"), b"other words")
        result = await nodes[2].insert(clash)
        assert result.outcome is Outcome.COLLISION
        assert result.existing == ssk


async def test_a_node_with_one_peer_fetches_more_blocks_at_once_than_the_peer_takes(
    tmp_path: Path,
) -> None:
    # A client window wider than the one peer's send limit: the surplus waits
    # for room at the node instead of failing RouteNotFound.
    a, b = tmp_path / "a", tmp_path / "b"
    befriend(a, b)
    core = replace(FAST_CORE, peer_in_flight_limit=4)
    nodes = [
        NodeRuntime(settings(p, opennet=False, core=core), rng=random.Random(i))
        for i, p in enumerate((a, b))
    ]
    async with running(*nodes):
        await wait_until(lambda: [n.connected_peers for n in nodes] == [1, 1])
        blocks = [insert_chk(b"block %d" % i)[0] for i in range(24)]
        for block in blocks:
            assert (await nodes[0].insert(block)).outcome is Outcome.INSERTED
        outcomes: list[Outcome] = []

        async def fetch(routing_key: bytes) -> None:
            outcomes.append((await nodes[0].fetch(KeyKind.CHK, routing_key)).outcome)

        async with anyio.create_task_group() as tg:
            for block in blocks:
                tg.start_soon(fetch, block.routing_key)
        assert outcomes == [Outcome.FOUND] * len(blocks)


async def test_a_datastore_far_behind_stops_caching_and_refuses_inserts_until_it_catches_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A disk slower than the links must not fill the memory: with the writer stuck,
    the relay b keeps at most MAX_UNWRITTEN blocks waiting, serves every fetch all the
    same without caching the rest, and refuses inserts; once the writer catches up it
    caches again and takes inserts."""
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    befriend(a, b)
    befriend(b, c)
    blocks = [insert_chk(b"held at c %d" % i)[0] for i in range(8)]
    datadir = DataDir.open(c)
    datadir.store_path.mkdir(mode=0o700, exist_ok=True)
    config = StoreConfig(size_bytes=16 << 20)
    with BlockStore.open(datadir.store_path / "datastore.sqlite", config) as held:
        held.put_many(blocks, StoreArea.STORE)
    monkeypatch.setattr(runtime_module, "MAX_UNWRITTEN", 3)
    stuck = threading.Event()
    commit = async_store._Writer._commit

    def slow_commit(self: async_store._Writer, group: list[async_store._Request]) -> None:
        stuck.wait(30)  # a disk that does not keep up
        commit(self, group)

    monkeypatch.setattr(async_store._Writer, "_commit", slow_commit)
    everywhere = replace(FAST_CORE, cache_max_htl=FAST_CORE.max_htl)
    nodes = [
        NodeRuntime(settings(p, opennet=False, core=everywhere), rng=random.Random(i))
        for i, p in enumerate((a, b, c))
    ]
    relay = nodes[1]
    try:
        async with running(*nodes):
            await wait_until(lambda: [n.connected_peers for n in nodes] == [1, 2, 1])
            for block in blocks[:6]:
                got = await nodes[0].fetch(KeyKind.CHK, block.routing_key)
                assert got.outcome is Outcome.FOUND and got.block == block
            assert len(relay._writing) == 3  # the first three wait for the writer
            assert relay.cache_skipped == 3
            assert "not caching" in caplog.text
            refused = insert_chk(b"an insert while b is behind")[0]
            assert (await nodes[0].insert(refused)).outcome is not Outcome.INSERTED
            assert nodes[2].store is not None
            assert not nodes[2].store.might_contain(refused.routing_key)
            stuck.set()
            await wait_until(lambda: not relay._writing)
            for block in blocks[6:]:
                assert (await nodes[0].fetch(KeyKind.CHK, block.routing_key)).block == block
            assert relay.cache_skipped == 3  # cached again
            await wait_until(lambda: not relay._writing)
            assert relay.store is not None
            cached = [relay.store.might_contain(block.routing_key) for block in blocks]
            assert cached == [True] * 3 + [False] * 3 + [True] * 2
    finally:
        stuck.set()


async def test_a_darknet_node_refuses_strangers(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    befriend(a, b)
    friends = [NodeRuntime(settings(p, opennet=False)) for p in (a, b)]
    stranger = NodeRuntime(settings(tmp_path / "s", opennet=False))
    DataDir.open(tmp_path / "s").add_peer(
        make_noderef(
            DataDir.open(a).identity(),
            addresses=(f"127.0.0.1:{DataDir.open(a).read_state()['listen_port']}",),
            location=0.5,
            opennet=False,
            issued=1,
        )
    )
    async with running(*friends, stranger):
        await wait_until(lambda: friends[0].connected_peers == 1)
        await anyio.sleep(1.0)
        assert friends[0].connected_peers == 1
        assert stranger.connected_peers == 0


async def test_restart_keeps_identity_location_peers_store_and_annealing(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    befriend(a, b)
    block = insert_chk(b"kept across restarts")[0]
    first = NodeRuntime(settings(a, opennet=False))
    other = NodeRuntime(settings(b, opennet=False))
    async with running(first, other):
        await wait_until(lambda: first.connected_peers == 1)
        assert first.store is not None
        await first.store.put(block, StoreArea.STORE)
        await wait_until(lambda: first.core is not None and first.core.swap_walks >= 2)
        identity, location, port = first.peer_id, first.location, first.listen_port
    assert first.core is not None
    walks = first.core.swap_walks  # the count at shutdown, as saved
    assert DataDir.open(a).read_state()["swap_walks"] == walks
    again = NodeRuntime(settings(a, opennet=False))
    other_again = NodeRuntime(settings(b, opennet=False))
    async with running(again, other_again):
        assert (again.peer_id, again.listen_port) == (identity, port)
        assert again.core is not None and again.core.swap_walks >= walks  # still cooling on
        assert again.location == pytest.approx(location, abs=0.5)  # swaps may move it
        await wait_until(lambda: again.connected_peers == 1)
        assert again.store is not None
        assert await again.store.get(block.routing_key) == block
        got = await other_again.fetch(KeyKind.CHK, block.routing_key)
        assert got.outcome is Outcome.FOUND and got.block == block


async def test_a_peer_sending_invalid_blocks_is_dropped_and_others_still_served(
    tmp_path: Path,
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    befriend(a, b)
    honest = [NodeRuntime(settings(p, opennet=False)) for p in (a, b)]
    liar_identity = NodeIdentity.from_seed(bytes(range(32)))
    victim_dir = DataDir.open(a)
    port = victim_dir.read_state()["listen_port"]
    liar_ref = make_noderef(
        liar_identity,
        addresses=("127.0.0.1:1",),
        location=0.999,
        opennet=False,
        issued=int(__import__("time").time()),
    )
    victim_dir.add_peer(liar_ref)
    good = insert_chk(b"honest data")[0]
    async with running(*honest):
        await wait_until(lambda: honest[0].connected_peers == 1)
        assert honest[1].store is not None
        await honest[1].store.put(good, StoreArea.STORE)
        codec = honest[0].codec
        async with connect(
            "127.0.0.1", port, liar_identity, honest[0].peer_id, codec, LinkConfig()
        ) as link:
            await link.send(LinkHello(ref=liar_ref.to_bytes()))
            assert isinstance(await link.receive(), LinkHello)
            await wait_until(lambda: honest[0].connected_peers == 2)

            async def lie() -> None:
                while True:
                    msg = await link.receive()
                    if isinstance(msg, DataRequest):
                        forged = insert_chk(b"forged")[0]
                        await link.send(
                            DataFound(
                                uid=msg.uid,
                                kind=msg.kind,
                                routing_key=msg.routing_key,
                                data=forged.data,
                            )
                        )

            async with anyio.create_task_group() as tg:
                tg.start_soon(_ignore_link_errors, lie)
                # Ask for a key the liar is closest to, repeatedly: every forged answer
                # must be refused, and the honest data must still be found.
                for _ in range(3):
                    missing = insert_chk(b"absent " + bytes([_]))[0]
                    got = await honest[0].fetch(KeyKind.CHK, missing.routing_key)
                    assert got.outcome is not Outcome.FOUND
                got = await honest[0].fetch(KeyKind.CHK, good.routing_key)
                assert got.outcome is Outcome.FOUND and got.block == good
                tg.cancel_scope.cancel()
        await wait_until(lambda: honest[0].connected_peers == 1)


async def _ignore_link_errors(fn: object) -> None:
    with contextlib.suppress(LinkError):
        await fn()  # type: ignore[operator]


async def test_garbage_bytes_on_the_peer_port_do_not_hurt_the_node(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    befriend(a, b)
    nodes = [NodeRuntime(settings(p, opennet=False)) for p in (a, b)]
    block = insert_chk(b"still here")[0]
    async with running(*nodes):
        await wait_until(lambda: nodes[0].connected_peers == 1)
        rng = random.Random(7)
        for size in (0, 1, 35, 36, 200, 5000):
            stream = await anyio.connect_tcp("127.0.0.1", nodes[0].listen_port)
            async with stream:
                await stream.send(bytes(rng.getrandbits(8) for _ in range(size)) or b"\x00")
                await anyio.sleep(0.05)
        assert nodes[1].store is not None
        await nodes[1].store.put(block, StoreArea.CACHE)
        got = await nodes[0].fetch(KeyKind.CHK, block.routing_key)
        assert got.outcome is Outcome.FOUND
        assert nodes[0].connected_peers == 1


async def test_default_log_level_shows_no_keys_addresses_or_ids(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    befriend(a, b)
    befriend(b, c)
    nodes = [NodeRuntime(settings(p, opennet=False)) for p in (a, b, c)]
    block = insert_chk(b"private matters")[0]
    async with running(*nodes):
        await wait_until(lambda: nodes[1].connected_peers == 2)
        await nodes[0].insert(block)
        await nodes[2].fetch(KeyKind.CHK, block.routing_key)
        await nodes[2].fetch(KeyKind.CHK, insert_chk(b"absent")[0].routing_key)
        ports = [str(n.listen_port) for n in nodes]
        identities = [b64encode(n.peer_id) for n in nodes]
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "node running" in text  # the check below looks at real log output
    for secret in [*ports, *(i[:8] for i in identities), b64encode(block.routing_key)[:8]]:
        assert secret not in text
    assert block.routing_key.hex()[:16] not in text


async def test_a_taken_saved_port_makes_the_node_choose_another(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        DataDir.open(tmp_path / "n").write_state({"listen_port": port, "location": 0.25})
        node = NodeRuntime(settings(tmp_path / "n"))
        async with running(node):
            assert node.listen_port not in (0, port)
        assert DataDir.open(tmp_path / "n").read_state()["listen_port"] == node.listen_port
    assert "is unavailable; choosing another" in caplog.text
