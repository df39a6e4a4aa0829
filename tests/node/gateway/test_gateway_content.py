"""Serving keys over ASGI: sites, types, filtering, errors, progress, Range, USK editions."""

from __future__ import annotations

import re
import struct
import zlib

import anyio
import pytest

from crypto.keys import generate_ssk
from crypto.uri import USKURI
from node.client.manifest import SiteFile
from node.gateway.content import Unsatisfiable, parse_range

from .gateway_env import csrf_token, memory_gateway

pytestmark = pytest.mark.anyio

PAGE = (
    b"<html><head><title>T</title><link rel=stylesheet href='style.css'>"
    b"<script>alert(1)</script></head><body onload='x()'><h1>Hello</h1>"
    b"<img src='http://tracker.example/p.gif'><img src='pic.png'>"
    b"<a href='https://example.com/'>out</a><a href='sub/'>in</a></body></html>"
)


def _png(width: int = 8, height: int = 8) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes([200, 30, 30]) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", b"Author\x00someone")
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = _png()
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 400


def site_files() -> dict[str, SiteFile]:
    return {
        "index.html": SiteFile(data=PAGE, mime="text/html"),
        "style.css": SiteFile(
            data=b"body{background:url(//evil/x.png);color:#333}", mime="text/css"
        ),
        "pic.png": SiteFile(data=PNG, mime="image/png"),
        "movie.mp4": SiteFile(data=MP4, mime="video/mp4"),
        "fake.mp4": SiteFile(data=b"<html><script>x</script>" * 10, mime="video/mp4"),
        "archive.zip": SiteFile(data=b"PK\x03\x04" + bytes(5000), mime="application/zip"),
        "notes.txt": SiteFile(data="plain «text»".encode(), mime="text/plain; charset=utf-8"),
    }


async def test_site_default_document_types_and_filtering() -> None:
    async with memory_gateway() as env:
        site = await env.client.put_site(site_files())
        for root in (f"/{site}", f"/{site}/", f"/freenet:{site}/"):
            r = await env.http.get(root, follow_redirects=True)
            assert r.status_code == 200, root
            assert r.headers["content-type"] == "text/html; charset=utf-8"
            assert "<h1>Hello</h1>" in r.text
            assert "<script" not in r.text and "onload" not in r.text
            assert "tracker.example" not in r.text
            assert '/external-link?url=https%3A%2F%2Fexample.com%2F"' in r.text
            assert f'src="/{site}/pic.png"' in r.text
            assert "'unsafe-inline'" in r.headers["content-security-policy"]
        assert (await env.http.get(f"/freenet:{site}/")).headers["location"] == f"/{site}/"
        css = await env.http.get(f"/{site}/style.css")
        assert css.headers["content-type"] == "text/css; charset=utf-8"
        assert "evil" not in css.text and "color" in css.text
        png = await env.http.get(f"/{site}/pic.png")
        assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
        assert b"someone" not in png.content  # metadata stripped
        txt = await env.http.get(f"/{site}/notes.txt")
        assert txt.headers["content-type"] == "text/plain; charset=utf-8"
        assert txt.text == "plain «text»"


async def test_media_stream_inline_and_disguised_media_is_a_download() -> None:
    async with memory_gateway() as env:
        site = await env.client.put_site(site_files())
        r = await env.http.get(f"/{site}/movie.mp4", headers={"sec-fetch-dest": "video"})
        assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
        assert r.content == MP4 and r.headers["accept-ranges"] == "bytes"
        assert "content-disposition" not in r.headers
        fake = await env.http.get(f"/{site}/fake.mp4")
        assert "Download warning" in fake.text and "does not start the way" in fake.text


async def test_downloads_after_a_warning_page() -> None:
    async with memory_gateway() as env:
        site = await env.client.put_site(site_files())
        warning = await env.http.get(f"/{site}/archive.zip")
        assert warning.status_code == 200 and "Download warning" in warning.text
        assert "application/zip" in warning.text and "cannot vouch" in warning.text
        link = re.search(r'href="([^"]+\?download=1&amp;grant=[^"]+)"', warning.text)
        assert link and link.group(1).startswith(f"/{site}/archive.zip?download=1&amp;grant=")
        got = await env.http.get(link.group(1).replace("&amp;", "&"))
        assert got.headers["content-type"] == "application/octet-stream"
        assert got.headers["content-disposition"] == "attachment; filename*=UTF-8''archive.zip"
        assert got.content == site_files()["archive.zip"].data
        # a page's link or GET form can add ?download=1, but not the session's grant
        for forged in ("?download=1", "?download=1&grant=AAAA", "?download=1&grant="):
            r = await env.http.get(f"/{site}/index.html{forged}")
            assert "Download warning" in r.text and "content-disposition" not in r.headers
        env.http.cookies.clear()  # another browser session: the grant is not valid there
        r = await env.http.get(link.group(1).replace("&amp;", "&"))
        assert "content-disposition" not in r.headers


async def test_ranges() -> None:
    async with memory_gateway() as env:
        site = await env.client.put_site(site_files())
        path = f"/{site}/movie.mp4"
        size = len(MP4)
        full = await env.http.get(path)
        etag = full.headers["etag"]
        r = await env.http.get(path, headers={"range": "bytes=100-199"})
        assert r.status_code == 206 and r.content == MP4[100:200]
        assert r.headers["content-range"] == f"bytes 100-199/{size}"
        assert r.headers["content-length"] == "100"
        r = await env.http.get(path, headers={"range": "bytes=-10"})
        assert r.status_code == 206 and r.content == MP4[-10:]
        r = await env.http.get(path, headers={"range": f"bytes={size - 5}-"})
        assert r.status_code == 206 and r.content == MP4[-5:]
        r = await env.http.get(path, headers={"range": f"bytes={size}-"})
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{size}"
        r = await env.http.get(path, headers={"range": "bytes=0-1,5-6"})
        assert r.status_code == 200 and r.content == MP4  # several ranges: the whole body
        r = await env.http.get(path, headers={"range": "bytes=0-1", "if-range": '"other"'})
        assert r.status_code == 200
        r = await env.http.get(path, headers={"range": "bytes=0-1", "if-range": etag})
        assert r.status_code == 206 and r.content == MP4[:2]
        page = await env.http.get(f"/{site}/", headers={"range": "bytes=0-14"})
        assert page.status_code == 206 and page.text == "<!DOCTYPE html>"


def test_parse_range_edges() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("items=0-1", 10) is None
    assert parse_range("bytes=5-2", 10) is None
    assert parse_range("bytes=x-", 10) is None
    assert parse_range("bytes=0-100", 10) == (0, 9)
    assert parse_range("bytes=-100", 10) == (0, 9)
    for bad in ("bytes=10-", "bytes=-0"):
        with pytest.raises(Unsatisfiable):
            parse_range(bad, 10)


async def test_errors_bad_key_missing_key_missing_path() -> None:
    async with memory_gateway() as env:
        site = await env.client.put_site(site_files())
        _, insert = generate_ssk()
        cases = [
            ("/CHK@", 400, "names no content"),
            ("/CHK@abc,def,ghi", 400, "not a valid key"),
            (f"/{insert.with_docname('x')}", 400, "insert key"),
            ("/SSK@" + str(insert.public())[4:], 400, "document name"),
            ("/KSK@nobody-inserted-this", 404, "not"),
            (f"/{site}/missing.html", 404, "missing.html"),
            (f"/{site}/notes.txt/deeper", 400, "remove"),
        ]
        for path, status, words in cases:
            r = await env.http.get(path)
            assert r.status_code == status, (path, r.status_code)
            assert r.headers["content-type"].startswith("text/html")
            assert words in r.text, (path, words)
        again = await env.http.get("/KSK@nobody-inserted-this")
        assert again.status_code == 404 and "?retry=1" in again.text
        await env.client.put(b"late", "KSK@nobody-inserted-this", mime="text/plain")
        assert (await env.http.get("/KSK@nobody-inserted-this?retry=1")).text == "late"


async def test_filter_off_is_refused_unless_the_node_allows_it() -> None:
    async with memory_gateway() as env:
        site = await env.client.put_site(site_files())
        r = await env.http.get(f"/{site}/?filter=off")
        assert r.status_code == 403 and "allow_filter_off" in r.text
    async with memory_gateway(allow_filter_off=True) as env:
        site = await env.client.put_site(site_files())
        warn = await env.http.get(f"/{site}/?filter=off")
        assert warn.status_code == 200 and "IP address" in warn.text
        assert "<script" not in warn.text and 'action="/unfiltered"' in warn.text
        forged = await env.http.get(f"/{site}/?filter=off&grant=AAAA&risk=accepted")
        assert "IP address" in forged.text  # a page's GET form cannot confirm for the reader
        token = await csrf_token(env.http)
        assert (await env.http.post("/unfiltered", data={"path": f"/{site}/"})).status_code == 403
        r = await env.http.post("/unfiltered", data={"path": f"/{site}/", "csrf": token})
        assert r.status_code == 303 and "filter=off&grant=" in r.headers["location"]
        raw = await env.http.get(r.headers["location"])
        assert raw.content == PAGE and raw.headers["content-type"].startswith("text/html")
        assert "script-src 'none'" in raw.headers["content-security-policy"]


async def test_progress_page_until_the_data_is_here() -> None:
    async with memory_gateway(delay=0.05, first_wait=0.02, refresh=1) as env:
        uri = await env.client.put(bytes(range(256)) * 2000, mime="text/plain")
        r = await env.http.get(f"/{uri}")
        assert r.status_code == 200 and "Fetching" in r.text
        assert '<meta http-equiv="refresh" content="1">' in r.text and "<script" not in r.text
        with anyio.fail_after(10):
            while "Fetching" in (r := await env.http.get(f"/{uri}")).text:
                await anyio.sleep(0.05)
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        queue = await env.http.get("/queue")
        assert uri in queue.text and "done" in queue.text
        # an image or a video a page loads waits for its data instead of getting a page
        other = await env.client.put(_png(9, 9), mime="image/png")
        r = await env.http.get(f"/{other}", headers={"sec-fetch-dest": "image"})
        assert r.status_code == 200 and r.headers["content-type"] != "text/html"


async def test_usk_redirects_editions_and_notes_newer_ones() -> None:
    async with memory_gateway() as env:
        _, insert = generate_ssk()
        usk = USKURI(
            key=insert.key, crypto_key=insert.crypto_key, extra=insert.extra, site="blog", edition=0
        )
        page = {
            "index.html": SiteFile(data=b"<body><p>v0</p></body>"),
            "about.html": SiteFile(data=b"<body><p>about v0</p></body>"),
        }
        e0 = await env.client.put_site(page, usk)
        r = await env.http.get(f"/{e0.replace('/blog/0', '/blog/-1')}")
        assert r.status_code == 302 and r.headers["location"] == f"/{e0}"
        r = await env.http.get(f"/{e0}/about.html")
        assert "about v0" in r.text and "newer edition" not in r.text
        # a newer edition appears (inserted elsewhere: this gateway does not know it yet)
        from node.client.client import Client

        async with Client(env.net) as publisher:
            page = {"index.html": SiteFile(data=b"<body><p>v1</p></body>")}
            e1 = await publisher.put_site(page, usk)
        assert e1.endswith("/blog/1")
        search = env.gateway.fetches.check_usk(USKURI.public(usk), force=True)
        await search.finished.wait()
        r = await env.http.get(f"/{e0}")
        assert r.status_code == 302 and r.headers["location"] == f"/{e1}"
        inner = await env.http.get(f"/{e0}/about.html")
        assert inner.status_code == 200 and "about v0" in inner.text
        assert "A newer edition (1)" in inner.text and f'href="/{e1}"' in inner.text
        r = await env.http.get(f"/{e1}/")
        assert "v1" in r.text and "newer edition" not in r.text
        none = str(
            USKURI(
                key=usk.public().key,
                crypto_key=usk.crypto_key,
                extra=usk.public().extra,
                site="nothing",
                edition=-1,
            )
        )
        r = await env.http.get(f"/{none}")
        assert r.status_code == 404 and "no edition" in r.text.lower()
