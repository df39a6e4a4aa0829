"""The request manager: events, listing, removal, and persistent requests across restarts."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from node.client.client import Client
from node.client.clientdb import ClientDatabase, load_or_create_key
from node.client.errors import DataNotFound
from node.client.manifest import SiteFile
from node.client.network import MemoryNetwork
from node.client.requests import (
    IdentifierCollision,
    Persistence,
    RequestEvent,
    RequestManager,
    RequestState,
    ReturnType,
    UnknownRequest,
)

from .helpers import payload

pytestmark = pytest.mark.anyio


async def test_get_and_put_with_events() -> None:
    net = MemoryNetwork()
    events: list[RequestEvent] = []
    async with Client(net) as client, RequestManager(client, ClientDatabase(None, bytes(32))) as rm:
        rm.subscribe(events.append)
        rm.start_put("up", payload(100_000), mime="image/png")
        put = await rm.wait("up")
        assert put.state is RequestState.SUCCEEDED and put.result_uri
        rm.start_get("down", put.result_uri)
        got = await rm.wait("down")
        assert got.state is RequestState.SUCCEEDED and got.mime == "image/png"
        assert rm.result("down") == payload(100_000)
        rm.start_get("down", put.result_uri)  # a finished connection request's name is reusable
        await rm.wait("down")
        rm.start_get("kept", put.result_uri, persistence=Persistence.REBOOT)
        await rm.wait("kept")
        with pytest.raises(IdentifierCollision):
            rm.start_get("kept", put.result_uri)
        await rm.remove("kept")
        rm.start_get("missing", "KSK@nothing-here")
        failed = await rm.wait("missing")
        assert failed.state is RequestState.FAILED and failed.failure is not None
        assert failed.failure.code == DataNotFound.fetch_code
        assert {s.identifier for s in rm.list()} == {"up", "down", "missing"}
        await rm.remove("missing")
        with pytest.raises(UnknownRequest):
            rm.status("missing")
    kinds = [e.what for e in events]
    assert "progress" in kinds and "uri" in kinds and "succeeded" in kinds and "failed" in kinds
    assert kinds[-1] == "removed"


async def test_disk_get_and_put_dir(tmp_path: Path) -> None:
    net = MemoryNetwork()
    async with Client(net) as client, RequestManager(client, ClientDatabase(None, bytes(32))) as rm:
        rm.start_put_dir(
            "site", {"index.html": SiteFile(data=b"<p>hi</p>"), "a/b.bin": SiteFile(data=b"b")}
        )
        site = await rm.wait("site")
        assert site.result_uri is not None
        out = tmp_path / "b.bin"
        rm.start_get("b", site.result_uri + "/a/b.bin", return_type=ReturnType.DISK,
                     filename=str(out))  # fmt: skip
        assert (await rm.wait("b")).state is RequestState.SUCCEEDED
        assert out.read_bytes() == b"b"


async def test_persistent_get_resumes_after_restart(tmp_path: Path) -> None:
    data = payload(1_500_000, seed=1)
    net = MemoryNetwork()
    async with Client(net) as client:
        uri = await client.put(data)
    key = load_or_create_key(tmp_path / "client.key")
    assert load_or_create_key(tmp_path / "client.key") == key
    db_path = tmp_path / "client.db"

    slow = MemoryNetwork(delay=0.002)
    slow.blocks = net.blocks
    async with Client(slow, heal=False, window=4) as client:
        rm = RequestManager(client, ClientDatabase(db_path, key))
        async with rm:
            rm.start_get("big", uri, persistence=Persistence.FOREVER)
            while rm.status("big").progress.succeeded < 20:
                await anyio.sleep(0.01)
        rm.db.close()  # the node stops mid-download
    first_run = slow.stats.fetches
    assert first_run < 50

    again = MemoryNetwork()
    again.blocks = net.blocks
    async with Client(again) as client:
        db = ClientDatabase(db_path, key)
        async with RequestManager(client, db) as rm:
            status = await rm.wait("big")
            assert status.state is RequestState.SUCCEEDED
            assert rm.result("big") == data
        db.close()
    assert (
        again.stats.fetches <= 1 + 46 + 2 - 20 + 4
    )  # the blocks fetched before were not asked again
    # nothing of the download stays readable without the key
    raw = (
        db_path.read_bytes() + (tmp_path / "client.db-wal").read_bytes()
        if (tmp_path / "client.db-wal").exists()
        else db_path.read_bytes()
    )
    assert data[:64] not in raw and uri.encode() not in raw


async def test_persistent_put_resumes_and_reboot_requests_end(tmp_path: Path) -> None:
    key = bytes(range(32))
    db_path = tmp_path / "client.db"
    data = payload(1_000_000, seed=2)
    slow = MemoryNetwork(delay=0.002)
    async with Client(slow, window=4) as client:
        rm = RequestManager(client, ClientDatabase(db_path, key))
        async with rm:
            rm.start_put("up", data, persistence=Persistence.FOREVER)
            rm.start_put("short", b"x", persistence=Persistence.REBOOT)
            while rm.status("up").progress.succeeded < 30:
                await anyio.sleep(0.01)
        rm.db.close()
    inserted_first = slow.stats.inserts
    fast = MemoryNetwork()
    fast.blocks = dict(slow.blocks)
    async with Client(fast) as client:
        db = ClientDatabase(db_path, key)
        async with RequestManager(client, db) as rm:
            status = await rm.wait("up")
            assert status.state is RequestState.SUCCEEDED
            assert [s.identifier for s in rm.list()] == ["up"]
            expected = await client.put(data, get_chk_only=True)
            assert status.result_uri == expected
        db.close()
    assert fast.stats.inserts < 64 + 1 + 5 and inserted_first >= 30


async def test_usk_subscription_reports_new_editions() -> None:
    from crypto.keys import generate_ssk

    request, insert = generate_ssk(bytes(64))
    ins = f"USK@{str(insert)[4:].rstrip('/')}/feed/0"
    pub = f"USK@{str(request)[4:].rstrip('/')}/feed/0"
    net = MemoryNetwork()
    seen: list[str] = []
    async with Client(net) as client:
        await client.put(b"0", ins)
        db = ClientDatabase(None, bytes(32))
        async with RequestManager(client, db, usk_poll_interval=0.01) as rm:
            rm.subscribe(
                lambda e: seen.append(e.status.result_uri or "") if e.what == "edition" else None
            )
            rm.subscribe_usk("watch", pub)
            while not seen:
                await anyio.sleep(0.005)
            await client.put(b"1", ins)
            while len(seen) < 2:
                await anyio.sleep(0.005)
            await rm.remove("watch")
    assert seen[0].endswith("/feed/0") and seen[1].endswith("/feed/1")


async def test_resumed_requests_wait_for_resume_after(tmp_path: Path) -> None:
    net = MemoryNetwork()
    async with Client(net) as client:
        uri = await client.put(payload(100_000, seed=3))
    key, db_path = load_or_create_key(tmp_path / "client.key"), tmp_path / "client.db"
    stalled = MemoryNetwork(delay=60)  # never answers within the test
    async with Client(stalled) as client:
        rm = RequestManager(client, ClientDatabase(db_path, key))
        async with rm:
            rm.start_get("later", uri, persistence=Persistence.FOREVER)
            await anyio.sleep(0.01)
            rm._scopes["later"].cancel()  # the node stops before any block came
        rm.db.close()
    gate = anyio.Event()

    async def first_peer() -> None:
        await gate.wait()

    again = MemoryNetwork()
    again.blocks = net.blocks
    async with Client(again) as client:
        db = ClientDatabase(db_path, key)
        async with RequestManager(client, db, resume_after=first_peer) as rm:
            await anyio.sleep(0.05)
            assert again.stats.fetches == 0 and rm.status("later").state is RequestState.RUNNING
            rm.start_get("new", uri)  # a new request does not wait
            assert (await rm.wait("new")).state is RequestState.SUCCEEDED
            gate.set()
            assert (await rm.wait("later")).state is RequestState.SUCCEEDED
        db.close()
