"""Fuzz targets that need a running thing: the HTTP gateway and the datastore file.

The gateway target drives the real Starlette app (over the client layer and an
in-memory network, as ``tests/node/gateway`` builds it) through httpx's ASGI
transport, on an event loop in a blocking portal so that a plain function can
send one request. An input is a serialized request (:func:`encode_request`):
method, path, query, Host, headers and body separated by NUL bytes, so that
byte mutations reach every part; ``@CSRF@`` in it becomes the session's real
token, so form posts get past the CSRF check. Only 5xx statuses the gateway
documents (502 fetch failed, 503 no node, 504 still fetching) are clean; a 500,
an exception out of the app, or a response without the security headers is a
bug.

The store target writes mutated copies of a real datastore's two files (the
database and its slot file, ``specs/store.md`` §The slot file) and opens
them: it must refuse with a :class:`StoreError` saying what is wrong, or open
and never hand back wrong bytes for a key. An input is the database's bytes
followed by the slot file's (:func:`store_files`): the database is as long
as its header says (page size times page count), the rest is the slot file,
and an input with nothing after the database has no slot file at all. So
mutations land in either file (or move the split), and a seed is just the two
files end to end.
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx
from anyio.from_thread import start_blocking_portal

from crypto.blocks import Block
from crypto.keys import insert_chk
from store import Area, BlockStore, StoreConfig, StoreError
from store.slots import slot_path
from tests.fuzz.targets import TARGETS, Check, Target

# --- the gateway ----------------------------------------------------------------------

SEP = b"\x00"
CSRF = b"@CSRF@"
HOSTS = ("127.0.0.1:8888", "localhost:8888", "127.0.0.1", "[::1]:8888", "evil.example")
DOCUMENTED_5XX = frozenset({502, 503, 504})
REQUEST_TIMEOUT = 30.0  # a request that hangs this long is a bug too


def encode_request(
    method: str, path: str, query: bytes, host: str, headers: bytes, body: bytes
) -> bytes:
    """The byte form the gateway target parses (headers: ``name: value`` lines)."""
    return SEP.join([method.encode(), path.encode(), query, host.encode(), headers, body])


def decode_request(data: bytes) -> tuple[str, str, bytes, str, list[tuple[str, str]], bytes]:
    parts = data.split(SEP, 5) + [b""] * 6
    method = parts[0].decode("latin-1").upper() or "GET"
    path = parts[1].decode("utf-8", "replace")
    host = parts[3].decode("latin-1")
    headers = []
    for line in parts[4].split(b"\n"):
        name, sep, value = line.partition(b":")
        if sep:
            headers.append((name.decode("latin-1").strip(), value.decode("latin-1").strip()))
    return method, path if path.startswith("/") else "/" + path, parts[2], host, headers, parts[5]


def multipart(fields: list[tuple[str, str | None, bytes]], boundary: str = "fuzzBOUNDARY") -> bytes:
    """A multipart/form-data body: ``(name, filename or None, value)`` per part."""
    out = b""
    for name, filename, value in fields:
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else ""
        )
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


MULTIPART = "Content-Type: multipart/form-data; boundary=fuzzBOUNDARY"
FORM = "Content-Type: application/x-www-form-urlencoded"


async def _insert_content(env: object) -> tuple[str, str]:
    from node.client.manifest import SiteFile

    client = env.client  # type: ignore[attr-defined]
    site = await client.put_site(
        {
            "index.html": SiteFile(data=b'<p><a href="b.html">b</a><img src="i.png"></p>'),
            "s.css": SiteFile(data=b"a{color:red;background:url(i.png)}"),
            "d/b.html": SiteFile(data=b"<b>x</b>"),
        }
    )
    text = await client.put(b"plain text", mime="text/plain")
    return site, text


def gateway_seeds() -> list[bytes]:
    site = "USK-SITE"  # placeholders swapped for the inserted keys in the session
    text = "TEXT-KEY"
    token = CSRF.decode()
    up = multipart([("csrf", None, CSRF), ("key", None, b"CHK@"), ("file", "a.html", b"<p>")])
    return [
        encode_request("GET", "/", b"", HOSTS[0], b"", b""),
        encode_request("GET", f"/{site}/", b"", HOSTS[0], b"", b""),
        encode_request(
            "GET", f"/{site}/d/b.html", b"max-size=10&type=text/html", HOSTS[0], b"", b""
        ),
        encode_request("GET", f"/{site}/s.css", b"forcedownload=1", HOSTS[1], b"", b""),
        encode_request("GET", f"/{text}", b"filter=off", HOSTS[0], b"Range: bytes=0-3", b""),
        encode_request("GET", "/fetch", b"key=KSK@x", HOSTS[0], b"", b""),
        encode_request("GET", "/external-link", b"url=http://x/", HOSTS[0], b"", b""),
        encode_request("GET", "/queue", b"", HOSTS[0], b"Accept: text/html", b""),
        encode_request("GET", "/status", b"", HOSTS[0], b"", b""),
        encode_request("GET", "/peers", b"", HOSTS[0], b"", b""),
        encode_request("GET", "/static/gateway.css", b"", HOSTS[0], b"", b""),
        encode_request(
            "POST",
            "/bookmarks",
            b"",
            HOSTS[0],
            FORM.encode(),
            f"csrf={token}&key=/{site}/&name=x".encode(),
        ),
        encode_request(
            "POST", "/queue/remove", b"", HOSTS[0], FORM.encode(), f"csrf={token}&id=x".encode()
        ),
        encode_request(
            "POST",
            "/peers/add",
            b"",
            HOSTS[0],
            FORM.encode(),
            f"csrf={token}&ref=SAMIZDAT-NODEREF-1:AAAA".encode(),
        ),
        encode_request("POST", "/insert", b"", HOSTS[0], MULTIPART.encode(), up),
        encode_request(
            "POST",
            "/unfiltered",
            b"",
            HOSTS[0],
            FORM.encode(),
            f"csrf={token}&path=/{text}".encode(),
        ),
        encode_request("OPTIONS", "/", b"", HOSTS[0], b"Origin: http://evil", b""),
        encode_request("GET", "/", b"", HOSTS[4], b"", b""),
    ]


@contextmanager
def gateway_session() -> Iterator[Check]:
    from tests.node.gateway.gateway_env import csrf_token, memory_gateway

    with start_blocking_portal(backend="asyncio") as portal:
        cm = memory_gateway(first_wait=0.0, subresource_wait=0.0, max_upload=1 << 20)
        with portal.wrap_async_context_manager(cm) as env:
            site, text = portal.call(_insert_content, env)
            token = portal.call(csrf_token, env.http).encode()
            swaps = [(b"USK-SITE", site.encode()), (b"TEXT-KEY", text.encode()), (CSRF, token)]

            async def send(data: bytes) -> str:
                for old, new in swaps:
                    data = data.replace(old, new)
                method, path, query, host, headers, body = decode_request(data)
                try:
                    url = httpx.URL(
                        scheme="http", host="127.0.0.1", port=8888, path=path, query=query
                    )
                    request = env.http.build_request(
                        method, url, headers=[("Host", host), *headers], content=body
                    )
                except (httpx.InvalidURL, httpx.LocalProtocolError, ValueError, TypeError):
                    return "unsendable"  # httpx refuses to build it: no browser sends it
                with anyio.fail_after(REQUEST_TIMEOUT):
                    response = await env.http.send(request)
                status = response.status_code
                assert status < 500 or status in DOCUMENTED_5XX, f"HTTP {status} for {data!r}"
                assert "content-security-policy" in response.headers, "no CSP on a response"
                assert response.headers.get("x-content-type-options") == "nosniff"
                return f"{status // 100}xx"

            yield lambda data: portal.call(send, data)


# --- the datastore file ---------------------------------------------------------------

# A lone put keeps its record inline, a put_many of the three blocks uses slots.
STORE_CONFIG = StoreConfig(size_bytes=8 * 33 * 1024, inline_below=2)
SQLITE_HEADER = 100  # bytes; the page size is at offset 16, the page count at 28


def store_files(data: bytes) -> tuple[bytes, bytes | None]:
    """The database and the slot file an input holds (None: no slot file)."""
    if len(data) < SQLITE_HEADER:
        return data, None
    page_size = int.from_bytes(data[16:18], "big")
    length = (65536 if page_size == 1 else page_size) * int.from_bytes(data[28:32], "big")
    if not 0 < length < len(data):
        return data, None
    return data[:length], data[length:]


@functools.cache
def store_blocks() -> list[Block]:
    return [insert_chk(b"block %d " % i * 100)[0] for i in range(3)]


@contextmanager
def store_session() -> Iterator[Check]:
    blocks = store_blocks()
    with tempfile.TemporaryDirectory(prefix="fuzz-store-") as tmp:
        path = Path(tmp) / "datastore.sqlite"
        slots = slot_path(path)

        def check(data: bytes) -> str:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            slots.unlink(missing_ok=True)
            database, slot_bytes = store_files(data)
            path.write_bytes(database)
            if slot_bytes is not None:
                slots.write_bytes(slot_bytes)
            try:
                store = BlockStore.open(path, STORE_CONFIG, location=0.5)
            except StoreError as exc:
                return type(exc).__name__
            try:
                for block in blocks:
                    got = store.get(block.routing_key)
                    assert got is None or got == block, "the store returned wrong bytes"
                store.stats()
                store.put(blocks[0], Area.CACHE)
                assert store.get(blocks[0].routing_key) == blocks[0]
                store.put_many(blocks, Area.STORE)  # with slots (and their reuse) too
                assert store.get_many([b.routing_key for b in blocks]) == blocks
            except StoreError as exc:
                outcome = f"{type(exc).__name__}(use)"
            else:
                outcome = "ok"
            try:
                store.close()  # writes pending LRU marks: the damage may show only now
            except StoreError as exc:
                return f"{type(exc).__name__}(close)"
            return outcome

        yield check


@functools.cache
def store_seeds() -> list[bytes]:
    """Datastores as the two files end to end: records in slots, inline, both, none."""
    blocks = store_blocks()
    in_slots = dataclasses.replace(STORE_CONFIG, inline_below=0)
    seeds = []
    with tempfile.TemporaryDirectory(prefix="fuzz-store-seed-") as tmp:
        for name, steps in (
            ("slots", [(in_slots, blocks[:1], Area.STORE), (in_slots, blocks[1:2], Area.CACHE)]),
            ("mixed", [(in_slots, blocks[:2], Area.STORE), (STORE_CONFIG, blocks[2:], Area.CACHE)]),
            ("inline", [(STORE_CONFIG, blocks[:1], Area.STORE)]),
            ("empty", []),
        ):
            path = Path(tmp) / f"{name}.sqlite"
            BlockStore.open(path, STORE_CONFIG).close()
            for config, batch, area in steps:
                with BlockStore.open(path, config, location=0.5) as store:
                    store.put_many(batch, area)
            seeds.append(path.read_bytes() + slot_path(path).read_bytes())
    return seeds


ALL_TARGETS: dict[str, Target] = {
    **TARGETS,
    "gateway": Target("gateway", gateway_seeds, gateway_session, cheap=False),
    "store": Target("store", store_seeds, store_session, cheap=False),
}
