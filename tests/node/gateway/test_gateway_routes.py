"""The gateway's own routes over ASGI: headers, Host check, CSRF, pages and forms."""

from __future__ import annotations

import re

import anyio
import pytest

from crypto.keys import generate_ssk
from crypto.uri import USKURI
from node.client.manifest import SiteFile
from node.client.requests import RequestState
from node.gateway.security import CSP_PAGES

from .gateway_env import csrf_token, download_link, memory_gateway

pytestmark = pytest.mark.anyio


async def test_security_headers_on_every_kind_of_response() -> None:
    async with memory_gateway() as env:
        home = await env.http.get("/")
        cookie = home.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        uri = await env.client.put(b"<p>x</p>", mime="text/html")
        for path in [
            "/",
            "/queue",
            "/status",
            "/static/gateway.css",
            f"/{uri}",
            "/CHK@bad",
            "/no-such-page",
            "/KSK@missing-here",
        ]:
            r = await env.http.get(path, headers={"origin": "http://evil.example"})
            assert r.headers["x-content-type-options"] == "nosniff", path
            assert r.headers["referrer-policy"] == "no-referrer", path
            csp = r.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "script-src 'none'" in csp, path
            assert "form-action 'self'" in csp, path
            assert not any(h.startswith("access-control-") for h in r.headers), path
        assert home.headers["content-security-policy"] == CSP_PAGES
        assert home.headers["cache-control"] == "no-store"


async def test_host_check_refuses_other_names_and_preflights() -> None:
    async with memory_gateway() as env:
        for host in ["127.0.0.1:8888", "localhost:8888", "LOCALHOST:8888", "[::1]:8888"]:
            assert (await env.http.get("/", headers={"host": host})).status_code == 200, host
        for host in ["evil.example", "evil.example:8888", "127.0.0.1:9999", "127.0.0.1", ""]:
            r = await env.http.get("/", headers={"host": host})
            assert r.status_code == 421, host
            assert r.headers["x-content-type-options"] == "nosniff"
        r = await env.http.options("/", headers={"origin": "http://evil.example"})
        assert r.status_code == 405 and "access-control-allow-origin" not in r.headers


async def test_pages_render_without_a_node() -> None:
    async with memory_gateway() as env:
        for path, marker in [
            ("/", "Bookmarks"),
            ("/queue", "Requests"),
            ("/insert", "Insert"),
            ("/peers", "without a node"),
            ("/status", "Unfiltered viewing"),
        ]:
            r = await env.http.get(path)
            assert r.status_code == 200 and marker in r.text, path
            assert r.headers["content-type"].startswith("text/html")
            assert "<script" not in r.text and 'href="/static/gateway.css"' in r.text
        css = await env.http.get("/static/gateway.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert "url(" not in css.text  # the stylesheet loads nothing
        assert (await env.http.get("/favicon.ico")).status_code == 404


async def test_fetch_box_redirects_to_the_key_or_refuses() -> None:
    async with memory_gateway() as env:
        uri = await env.client.put(b"data")
        r = await env.http.get("/fetch", params={"key": f" freenet:{uri}\n"})
        assert r.status_code == 303 and r.headers["location"] == f"/{uri}"
        r = await env.http.get("/fetch", params={"key": f"http://127.0.0.1:8888/{uri}"})
        assert r.status_code == 303 and r.headers["location"] == f"/{uri}"
        r = await env.http.get("/fetch", params={"key": "not a key"})
        assert r.status_code == 400 and "not a valid key" in r.text


async def test_external_link_page_shows_the_address_as_text() -> None:
    async with memory_gateway() as env:
        address = 'http://tracker.example/"><script>alert(1)</script>'
        r = await env.http.get("/external-link", params={"url": address})
        assert r.status_code == 200
        assert "<script>" not in r.text and "&lt;script&gt;" in r.text
        assert 'href="http' not in r.text  # shown to copy, never a link


async def test_forms_need_the_session_token() -> None:
    async with memory_gateway() as env:
        token = await csrf_token(env.http)
        data = {"key": "KSK@bookmarked", "title": "Mine"}
        assert (await env.http.post("/bookmarks", data=data)).status_code == 403
        wrong = {**data, "csrf": "A" * 43}
        assert (await env.http.post("/bookmarks", data=wrong)).status_code == 403
        cross = await env.http.post(
            "/bookmarks", data={**data, "csrf": token}, headers={"sec-fetch-site": "cross-site"}
        )
        assert cross.status_code == 403
        ok = await env.http.post("/bookmarks", data={**data, "csrf": token})
        assert ok.status_code == 303
        # another browser (another session) cannot use this session's token
        env.http.cookies.clear()
        assert (
            await env.http.post("/bookmarks/remove", data={"key": data["key"], "csrf": token})
        ).status_code == 403
        for path in ["/queue/remove", "/peers/add", "/insert"]:
            assert (await env.http.post(path, data={"csrf": "x"})).status_code in (400, 403), path
        assert (await env.http.get("/bookmarks")).status_code == 400  # not a route: a bad key


async def test_bookmarks_add_remove_and_updated_mark() -> None:
    async with memory_gateway() as env:
        _, insert = generate_ssk()
        usk_insert = USKURI(
            key=insert.key, crypto_key=insert.crypto_key, extra=insert.extra, site="blog", edition=0
        )
        first = await env.client.put_site({"index.html": SiteFile(data=b"<p>one</p>")}, usk_insert)
        token = await csrf_token(env.http)
        r = await env.http.post("/bookmarks", data={"key": first, "title": "Blog", "csrf": token})
        assert r.status_code == 303
        home = await env.http.get("/")
        assert "Blog" in home.text and "updated" not in home.text.split("Bookmarks")[1]
        page = await env.http.get(f"/{first}/")  # the reader sees edition 0
        assert page.status_code == 200 and "one" in page.text
        await env.client.put_site({"index.html": SiteFile(data=b"<p>two</p>")}, usk_insert)
        home = await env.http.get("/")
        assert re.search(r'class="updated"', home.text), "a newer edition is marked"
        assert "/blog/1" in home.text
        await env.http.get(f"/{str(first).replace('/blog/0', '/blog/1')}/")
        home = await env.http.get("/")
        assert 'class="updated"' not in home.text
        r = await env.http.post("/bookmarks/remove", data={"key": first, "csrf": token})
        assert r.status_code == 303 and "Blog" not in (await env.http.get("/")).text


async def test_queue_lists_and_removes_requests() -> None:
    async with memory_gateway() as env:
        env.manager.start_put("up-1", b"x" * 100_000, global_queue=True)
        done = await env.manager.wait("up-1")
        assert done.state is RequestState.SUCCEEDED and done.result_uri
        await env.http.get(f"/{done.result_uri}")
        queue = await env.http.get("/queue")
        assert "up-1" in queue.text and done.result_uri in queue.text
        assert "Pages and files read" in queue.text
        token = await csrf_token(env.http, "/queue")
        r = await env.http.post("/queue/remove", data={"id": "up-1", "csrf": token})
        assert r.status_code == 303
        assert "up-1" not in (await env.http.get("/queue")).text


async def test_insert_form_single_file_and_directory() -> None:
    async with memory_gateway() as env:
        token = await csrf_token(env.http, "/insert")
        body = b"%PDF-1.4 not really" * 1000
        r = await env.http.post(
            "/insert",
            data={"csrf": token, "kind": "chk", "name": "site"},
            files={"file": ("report.pdf", body, "application/pdf")},
        )
        assert r.status_code == 303 and r.headers["location"] == "/queue"
        (status,) = [s for s in env.manager.list() if s.identifier.endswith("report.pdf")]
        done = await env.manager.wait(status.identifier)
        assert done.result_uri and done.result_uri.endswith("/report.pdf")
        page = await env.http.get(f"/{done.result_uri}")
        assert "Download warning" in page.text  # a PDF is not shown inline
        got = await env.http.get(await download_link(env.http, f"/{done.result_uri}"))
        assert got.content == body

        files = [
            (
                "site",
                ("mysite/index.html", b"<h1>Home</h1><a href='sub/p.html'>p</a>", "text/html"),
            ),
            ("site", ("mysite/sub/p.html", b"<p>inner</p>", "text/html")),
        ]
        r = await env.http.post(
            "/insert", data={"csrf": token, "kind": "ssk", "name": "mysite"}, files=files
        )
        assert r.status_code == 200 and "Insert key (secret)" in r.text
        assert re.search(r"SSK@[^<]+/mysite", r.text)
        (status,) = [s for s in env.manager.list() if s.kind.value == "putdir"]
        done = await env.manager.wait(status.identifier)
        assert done.state is RequestState.SUCCEEDED, done.failure
        assert "inner" in (await env.http.get(f"/{done.result_uri}/sub/p.html")).text
        home = await env.http.get(f"/{done.result_uri}/")
        assert "Home" in home.text and f"/{done.result_uri}/sub/p.html" in home.text


async def test_insert_form_usk_next_edition_and_refusals() -> None:
    async with memory_gateway(max_upload=200_000) as env:
        token = await csrf_token(env.http, "/insert")
        _, insert = generate_ssk()
        usk = USKURI(
            key=insert.key, crypto_key=insert.crypto_key, extra=insert.extra, site="news", edition=0
        )
        results = []
        for text in (b"<p>first</p>", b"<p>second</p>"):
            r = await env.http.post(
                "/insert",
                data={"csrf": token, "kind": "usk", "key": str(usk)},
                files={"site": ("news/index.html", text, "text/html")},
            )
            assert r.status_code == 303
            for s in env.manager.list():
                if s.kind.value == "putdir" and s.state is RequestState.RUNNING:
                    results.append((await env.manager.wait(s.identifier)).result_uri)
        assert results[0].endswith("/news/0") and results[1].endswith("/news/1")
        bad = [
            ({"kind": "usk", "key": "CHK@"}, {"file": ("a.txt", b"a")}, 400),
            ({"kind": "ssk", "key": results[0]}, {"file": ("a.txt", b"a")}, 400),
            ({"kind": "chk"}, {}, 400),
            ({"kind": "chk"}, {"file": ("big.bin", b"x" * 300_000)}, 413),
        ]
        for fields, files, status in bad:
            r = await env.http.post("/insert", data={"csrf": token, **fields}, files=files or None)
            assert r.status_code == status, (fields, r.text[-300:])
        r = await env.http.post("/insert", content=b"plain", headers={"content-type": "text/plain"})
        assert r.status_code == 400
        with anyio.fail_after(5):
            while any(s.state is RequestState.RUNNING for s in env.manager.list()):
                await anyio.sleep(0.01)
