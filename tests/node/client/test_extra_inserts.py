"""Single blocks (no FEC around them) are inserted 1 + N times, each an independent insert.

A file's top metadata block, the data block of a one-block segment, a signed
key's block and USK date hints are each
inserted 1 + ``extra_single`` (a block that holds its whole content) or
1 + ``extra_header`` (a metadata block that points at other blocks) times;
splitfile blocks once. A failing extra copy does not fail the put; all copies
failing does; a collision is still reported, and the USK edition bump still
works. Persistent requests keep the settings across a restart.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import anyio
import pytest

from crypto.blocks import Block
from crypto.keys import generate_ssk
from crypto.uri import CHKURI, SSKURI, USKURI, parse_uri
from node.client.client import Client
from node.client.clientdb import ClientDatabase
from node.client.errors import Collision, InsertFailed, NetworkError, Overloaded
from node.client.manifest import SiteFile
from node.client.network import MemoryNetwork
from node.client.progress import Progress
from node.client.requests import Persistence, RequestManager, RequestState
from node.client.splitfile import EXTRA_COPY_RETRIES, INSERT_RETRIES
from node.client.usk import hint_periods, hint_ssk

from .helpers import client_on, payload

pytestmark = pytest.mark.anyio

NOW = 1_760_000_000.0


def chk_key(uri: str) -> bytes:
    parsed = parse_uri(uri)
    assert isinstance(parsed, CHKURI) and parsed.routing_key is not None
    return parsed.routing_key


def others(net: MemoryNetwork, *skip: bytes) -> Counter[bytes]:
    """Insert counts of every key but ``skip``."""
    return Counter({k: n for k, n in net.stats.inserted_keys.items() if k not in skip})


async def test_an_inline_file_is_inserted_three_times_by_default_once_with_no_extra() -> None:
    net = MemoryNetwork()
    async with client_on(net) as client:
        uri = await client.put(b"a small file", mime="text/plain")
        assert net.stats.inserted_keys == Counter({chk_key(uri): 3})
        # extra_header does not apply: the block holds the whole file
        other = await client.put(b"another small file", extra_single=0, extra_header=5)
        assert net.stats.inserted_keys[chk_key(other)] == 1
        again = await client.put(b"a third one", extra_single=4, extra_header=0)
        assert net.stats.inserted_keys[chk_key(again)] == 5
        assert (await client.get_bytes(uri))[1] == b"a small file"


async def test_a_splitfile_header_gets_extra_header_copies_its_blocks_one_each() -> None:
    net = MemoryNetwork()
    data = payload(100_000, seed=7)
    async with client_on(net) as client:
        uri = await client.put(data, extra_single=0, extra_header=4)
        top = chk_key(uri)
        assert net.stats.inserted_keys[top] == 5
        assert set(others(net, top).values()) == {1}  # data and check blocks: FEC, once
        assert len(others(net, top)) == 12  # 4 data + 8 check blocks
        assert (await client.get_bytes(uri))[1] == data
        net2 = MemoryNetwork()
        async with client_on(net2) as plain:
            assert await plain.put(data, extra_header=0) == uri  # copies change no key
        assert net2.stats.inserted_keys[top] == 1


async def test_the_data_block_of_a_one_block_segment_gets_extra_single_copies() -> None:
    # 32 KiB of random bytes: too big to sit inline in its metadata block, one
    # data block, and a one-block segment has no check blocks (no FEC).
    net = MemoryNetwork()
    data = payload(32768, seed=3)
    async with client_on(net) as client:
        uri = await client.put(data, extra_single=3, extra_header=1)
        top = chk_key(uri)
        assert net.stats.inserted_keys[top] == 2
        assert list(others(net, top).values()) == [4]  # the one data block: 1 + 3
        assert (await client.get_bytes(uri))[1] == data
        net2 = MemoryNetwork()
        async with client_on(net2) as plain:
            assert await plain.put(data, extra_single=0, extra_header=0) == uri
        assert set(net2.stats.inserted_keys.values()) == {1}


async def test_a_one_file_site_and_a_redirect_are_header_blocks() -> None:
    net = MemoryNetwork()
    async with client_on(net) as client:
        named = await client.put(b"hello", "CHK@/hello.txt", extra_single=1, extra_header=3)
        # the one-file manifest (header) holds the small file inline
        assert net.stats.inserted_keys == Counter({chk_key(named): 4})
        redirect = await client.put_redirect(named, "CHK@", extra_single=0, extra_header=2)
        assert net.stats.inserted_keys[chk_key(redirect)] == 3
        site = await client.put_site(
            {"index.html": SiteFile(data=b"<p>hi</p>")}, extra_single=0, extra_header=1
        )
        assert net.stats.inserted_keys[chk_key(site)] == 2


async def test_signed_blocks_get_extra_single_copies() -> None:
    _, insert = generate_ssk(bytes([9]) * 64)
    net = MemoryNetwork()
    async with client_on(net) as client:
        uri = await client.put(b"signed", insert.with_docname("doc"), extra_single=3)
        public = parse_uri(uri)
        assert isinstance(public, SSKURI)
        assert net.stats.inserted_keys == Counter({public.routing_key: 4})
        await client.put(b"by keyword", "KSK@extra-copies", extra_single=0, extra_header=6)
        assert sum(net.stats.inserted_keys.values()) == 4 + 1
        assert (await client.get_bytes(uri))[1] == b"signed"


async def test_usk_edition_and_each_date_hint_get_extra_single_copies() -> None:
    _, insert = generate_ssk(bytes([10]) * 64)
    ins = f"USK@{str(insert)[4:].rstrip('/')}/site/0"
    net = MemoryNetwork()
    async with client_on(net, clock=lambda: NOW) as client:
        uri = await client.put(b"edition zero", ins, extra_single=2)
        usk = parse_uri(uri)
        assert isinstance(usk, USKURI) and usk.edition == 0
        assert net.stats.inserted_keys[usk.to_ssk(0).routing_key] == 3
        periods = hint_periods(NOW)
        assert len(periods) == 3
        private = parse_uri(ins)
        assert isinstance(private, USKURI)
        for period in periods:
            assert net.stats.inserted_keys[hint_ssk(private, period).routing_key] == 3


class Flaky(MemoryNetwork):
    """Fails every insert of the keys in ``refuse`` after the first ``allow`` calls."""

    def __init__(self, refuse: set[bytes], allow: int) -> None:
        super().__init__()
        self.refuse, self.allow = refuse, allow
        self.calls: Counter[bytes] = Counter()

    async def insert(self, block: Block) -> None:
        self.calls[block.routing_key] += 1
        if block.routing_key in self.refuse and self.calls[block.routing_key] > self.allow:
            self.stats.inserts += 1
            raise InsertFailed(f"refused (call {self.calls[block.routing_key]})")
        await super().insert(block)


async def test_failing_extra_copies_do_not_fail_the_put(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("node.client.splitfile.INSERT_RETRY_DELAY", 0.0)
    data = b"only one copy lands"
    async with client_on() as probe:
        top = chk_key(await probe.put(data, get_chk_only=True))
    net = Flaky({top}, allow=1)
    seen: list[Progress] = []
    async with client_on(net) as client:
        uri = await client.put(data, progress=seen.append)
        assert chk_key(uri) == top and net.has(top)
    # one landed; two extra copies tried 1 + EXTRA_COPY_RETRIES times each and failed
    assert net.calls[top] == 1 + 2 * (1 + EXTRA_COPY_RETRIES)
    last = seen[-1]
    assert last.succeeded == last.total == last.required == 1 and last.fatally_failed == 0


async def test_all_copies_failing_fails_the_put_with_the_first_copys_error() -> None:
    class Fatal(NetworkError):
        fatal = True  # not retried

    class Down(MemoryNetwork):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        async def insert(self, block: Block) -> None:
            self.calls += 1
            if self.calls == 1:  # the first copy's only attempt
                raise Fatal("the first copy's error")
            raise Overloaded("an extra copy's error")

    net = Down()
    seen: list[Progress] = []
    async with client_on(net) as client:
        with pytest.raises(Fatal, match="first copy"):
            await client.put(b"nowhere to go", progress=seen.append)
    assert net.calls == 1 + 2 * (1 + EXTRA_COPY_RETRIES)
    assert seen[-1].fatally_failed == 1 and seen[-1].succeeded == 0


async def test_the_first_copy_keeps_its_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("node.client.splitfile.INSERT_RETRY_DELAY", 0.0)
    async with client_on() as probe:
        top = chk_key(await probe.put(b"down", get_chk_only=True))
    net = Flaky({top}, allow=0)
    async with client_on(net) as client:
        with pytest.raises(InsertFailed):
            await client.put(b"down")
    assert net.calls[top] == (1 + INSERT_RETRIES) + 2 * (1 + EXTRA_COPY_RETRIES)


async def test_a_collision_is_still_reported_and_the_usk_edition_bump_works() -> None:
    _, insert = generate_ssk(bytes([11]) * 64)
    net = MemoryNetwork()
    async with client_on(net, clock=lambda: NOW) as client:
        await client.put(b"first", insert.with_docname("taken"))
        with pytest.raises(Collision) as caught:
            await client.put(b"second", insert.with_docname("taken"))
        assert caught.value.insert_code == 9
        ins = f"USK@{str(insert)[4:].rstrip('/')}/site/0"
        first = parse_uri(await client.put(b"edition zero", ins))
        assert isinstance(first, USKURI) and first.edition == 0
    # Hide edition 0 from fetches (it stays stored): a new publisher's search
    # finds nothing, its insert at 0 collides, and it takes edition 1.
    zero = first.to_ssk(0).routing_key
    net.drop(zero)
    before = net.stats.inserted_keys[zero]
    async with client_on(net, clock=lambda: NOW) as other:
        second = parse_uri(await other.put(b"another zero", ins))
    assert isinstance(second, USKURI) and second.edition == 1
    assert net.stats.inserted_keys[zero] > before  # it did try edition 0
    assert net.stats.inserted_keys[second.to_ssk(1).routing_key] == 3


async def test_a_collision_in_any_copy_cancels_the_others() -> None:
    _, insert = generate_ssk(bytes([12]) * 64)
    net = MemoryNetwork(delay=0.01)
    async with client_on(net) as client:
        await client.put(b"one", insert.with_docname("d"), extra_single=0)
        with pytest.raises(Collision):
            await client.put(b"two", insert.with_docname("d"), extra_single=5)
        assert (await client.get_bytes(str(insert.with_docname("d").public())))[1] == b"one"


async def test_out_of_range_counts_are_refused() -> None:
    async with client_on() as client:
        for bad in ({"extra_single": -1}, {"extra_header": 11}):
            with pytest.raises(ValueError, match="0 to 10"):
                await client.put(b"x", **bad)
        async with RequestManager(client, ClientDatabase(None, bytes(32))) as rm:
            with pytest.raises(ValueError, match="0 to 10"):
                rm.start_put("bad", b"x", extra_single=11)


# --- the request manager ---------------------------------------------------------------


async def test_persistent_puts_send_every_copy() -> None:
    # The persistent view skips blocks an earlier run inserted; not the copies of this run.
    net = MemoryNetwork()
    async with (
        Client(net, window=1) as client,  # one insert at a time: copies follow each other
        RequestManager(client, ClientDatabase(None, bytes(32))) as rm,
    ):
        rm.start_put("up", b"small and kept", persistence=Persistence.FOREVER)
        status = await rm.wait("up")
    assert status.state is RequestState.SUCCEEDED and status.result_uri is not None
    assert net.stats.inserted_keys == Counter({chk_key(status.result_uri): 3})


class Stalled(MemoryNetwork):
    """Inserts never finish: a request on it stays running until cancelled."""

    async def insert(self, block: Block) -> None:
        await anyio.sleep_forever()


async def _resume(db_path: Path, key: bytes, *identifiers: str, forget: bool) -> MemoryNetwork:
    """Start a FOREVER put on a stalled network, stop; optionally strip the extra-insert
    params (a row saved by older code); resume on a fresh network until done."""
    if forget:
        db = ClientDatabase(db_path, key)
        for record in list(db.load_requests()):
            params = record["params"]
            assert isinstance(params, dict)
            params.pop("extra_single")
            params.pop("extra_header")
            db.save_request(str(record["identifier"]), 99, record)
        db.close()
    net = MemoryNetwork()
    async with Client(net) as client:
        db = ClientDatabase(db_path, key)
        async with RequestManager(client, db) as rm:
            for identifier in identifiers:
                status = await rm.wait(identifier)
                assert status.state is RequestState.SUCCEEDED
        db.close()
    return net


@pytest.mark.parametrize("old_row", [False, True])
async def test_a_resumed_put_keeps_its_extra_insert_settings(tmp_path: Path, old_row: bool) -> None:
    key = bytes(range(32))
    db_path = tmp_path / "client.db"
    data = payload(100_000, seed=8)
    async with Client(Stalled()) as client:
        rm = RequestManager(client, ClientDatabase(db_path, key))
        async with rm:
            rm.start_put(
                "up", data, persistence=Persistence.FOREVER, extra_single=0, extra_header=5
            )
            rm.start_put(
                "small", b"inline", persistence=Persistence.FOREVER, extra_single=0,
                extra_header=5,
            )  # fmt: skip
            await anyio.sleep(0.05)
            assert rm.status("up").state is RequestState.RUNNING
        rm.db.close()
    net = await _resume(db_path, key, "up", "small", forget=old_row)
    async with client_on() as probe:
        top = chk_key(await probe.put(data, get_chk_only=True))
        small = chk_key(await probe.put(b"inline", get_chk_only=True))
    # kept: 1 + 5 header copies, 1 + 0 single; an old row: the defaults, 1 + 2 each
    assert net.stats.inserted_keys[top] == (3 if old_row else 6)
    assert net.stats.inserted_keys[small] == (3 if old_row else 1)
