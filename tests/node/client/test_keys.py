"""Signed keys: SSK, KSK, USK editions with latest resolution and never-go-back; redirects."""

from __future__ import annotations

import pytest

from crypto.keys import generate_ssk
from crypto.uri import USKURI, parse_uri
from node.client.errors import Collision, DataNotFound, InvalidInsertURI, TooManyRedirects
from node.client.network import MemoryNetwork
from node.client.usk import EditionCache, hint_periods

from .helpers import client_on, payload

pytestmark = pytest.mark.anyio

NOW = 1_760_000_000.0


def usk_pair(site: str = "site", seed: int = 1) -> tuple[str, str]:
    request, insert = generate_ssk(bytes([seed]) * 64)
    pub = f"USK@{str(request)[4:].rstrip('/')}/{site}/0"
    ins = f"USK@{str(insert)[4:].rstrip('/')}/{site}/0"
    return pub, ins


async def test_ssk_and_ksk_small_and_large() -> None:
    request, insert = generate_ssk(bytes(64))
    big = payload(100_000, seed=3)
    async with client_on() as client:
        small_uri = await client.put(b"tiny", insert.with_docname("small"), mime="text/plain")
        assert small_uri == str(request.with_docname("small"))
        result, data = await client.get_bytes(small_uri)
        assert data == b"tiny" and result.mime == "text/plain"
        big_uri = await client.put(big, insert.with_docname("big"))
        assert (await client.get_bytes(big_uri))[1] == big
        ksk = await client.put(b"keyword content", "KSK@hello-world")
        assert ksk == "KSK@hello-world"
        assert (await client.get_bytes("KSK@hello-world"))[1] == b"keyword content"
        with pytest.raises(Collision):
            await client.put(b"other content", "KSK@hello-world")
        with pytest.raises(InvalidInsertURI):
            await client.put(b"x", request.with_docname("nope"))


async def test_signed_content_is_not_recognisable_by_its_chks() -> None:
    _, insert = generate_ssk(bytes(64))
    data = payload(100_000, seed=4)
    net = MemoryNetwork()
    async with client_on(net) as client:
        await client.put(data, insert.with_docname("a"))
        chk_keys_under_ssk = set(net.blocks)
        net2 = MemoryNetwork()
        async with client_on(net2) as other:
            await other.put(data)
    assert not (set(net2.blocks) & chk_keys_under_ssk)


async def test_usk_editions_latest_and_never_back() -> None:
    pub, ins = usk_pair()
    net = MemoryNetwork()
    async with client_on(net, clock=lambda: NOW) as publisher:
        uris = [await publisher.put(b"edition %d" % i, ins, mime="text/plain") for i in range(3)]
    assert [parse_uri(u).edition for u in uris] == [0, 1, 2]  # type: ignore[union-attr]
    cache = EditionCache()
    async with client_on(net, editions=cache, clock=lambda: NOW) as reader:
        result, data = await reader.get_bytes(pub.replace("/0", "/-1"))
        assert data == b"edition 2" and result.uri.endswith("/site/2")
        result, data = await reader.get_bytes(pub)  # /0 finds the newest >= 0
        assert data == b"edition 2"
        # edition 2 disappears: the reader has seen it, so it never goes back to 1
        two = parse_uri(uris[2])
        assert isinstance(two, USKURI)
        net.drop(two.to_ssk().routing_key)
        with pytest.raises(DataNotFound):
            await reader.get_bytes(pub.replace("/0", "/-1"))
    fresh = EditionCache()
    async with client_on(net, editions=fresh, clock=lambda: NOW) as newcomer:
        _, data = await newcomer.get_bytes(pub)
        assert data == b"edition 1"  # someone who never saw 2 gets the newest they can


async def test_usk_insert_at_used_edition_takes_the_next_and_hints_help() -> None:
    pub, ins = usk_pair(seed=2)
    net = MemoryNetwork()
    async with client_on(net, clock=lambda: NOW) as a:
        first = await a.put(b"a", ins)
    async with client_on(net, clock=lambda: NOW, editions=EditionCache()) as b:
        second = await b.put(b"b", ins)  # a fresh cache still finds 0 taken
    assert first.endswith("/site/0") and second.endswith("/site/1")
    assert len(hint_periods(NOW)) == 3
    # publish 12 more editions, beyond one probe window, then a fresh reader
    async with client_on(net, clock=lambda: NOW) as a:
        for i in range(12):
            await a.put(b"e%d" % i, ins)
    async with client_on(net, clock=lambda: NOW, editions=EditionCache()) as reader:
        result, data = await reader.get_bytes(pub.replace("/0", "/-1"))
    assert data == b"e11" and result.uri.endswith("/site/13")


async def test_usk_site_path_inside() -> None:
    from node.client.manifest import SiteFile

    pub, ins = usk_pair(seed=3)
    async with client_on(clock=lambda: NOW) as client:
        uri = await client.put_site(
            {"index.html": SiteFile(data=b"home"), "a/b.txt": SiteFile(data=b"deep")}, ins
        )
        assert uri.endswith("/site/0")
        assert (await client.get_bytes(pub + "/a/b.txt"))[1] == b"deep"
        assert (await client.get_bytes(pub))[1] == b"home"


async def test_redirects_are_followed_and_loops_stopped() -> None:
    async with client_on() as client:
        target = await client.put(b"final", mime="text/plain")
        one = await client.put_redirect(target, "KSK@r1")
        two = await client.put_redirect(one, "KSK@r2", mime="text/x-two")
        result, data = await client.get_bytes(two)
        assert data == b"final" and result.mime == "text/x-two"
        await client.put_redirect("KSK@loop-b", "KSK@loop-a")
        await client.put_redirect("KSK@loop-a", "KSK@loop-b")
        with pytest.raises(TooManyRedirects):
            await client.get_bytes("KSK@loop-a")
