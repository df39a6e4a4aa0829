"""The gateway application: a Starlette app over the node's client layer.

:class:`Gateway` owns what the pages need — the client, the request manager,
the runtime (for peers and status), the fetch cache, sessions and bookmarks —
and builds the ASGI app. Routes (``specs/gateway.md`` §Routes has the table):

* ``/`` home (fetch box, bookmarks), ``/fetch?key=`` (→ the key's page),
  ``/queue`` transfers, ``/insert`` upload form, ``/peers``, ``/status``,
  ``/external-link?url=`` (the filter's warning page), ``/static/…``;
* ``POST /bookmarks``, ``/bookmarks/remove``, ``/queue/remove``, ``/insert``,
  ``/peers/add`` — each checks the session's CSRF token;
* everything else is ``/<KEY>[/<path>]`` (:mod:`node.gateway.content`).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from crypto.errors import CryptoError
from crypto.uri import USKURI, parse_uri
from node.client.client import Client
from node.client.errors import ClientError
from node.client.requests import RequestKind, RequestManager, RequestState
from node.fcp.extensions import MAX_ENTRIES, MAX_NAME
from node.fcp.node_backend import ENTRIES_ID
from node.gateway import pages
from node.gateway.fetches import DEFAULT_CACHE_BYTES, FetchCache
from node.gateway.filter import EXTERNAL_LINK_PATH
from node.gateway.keys import BadKey, gateway_path, parse_key_path
from node.gateway.pages import esc, href
from node.gateway.security import (
    CSRF_FIELD,
    SESSION_COOKIE,
    GuardMiddleware,
    Sessions,
    allowed_hosts,
)
from node.net.noderef import NodeRefError, parse_noderef
from node.net.runtime import NodeRuntime

STATIC_DIR = Path(__file__).with_name("static")


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewaySettings:
    """How the gateway behaves; the node reads them from ``[gateway]`` in config.toml."""

    host: str = "127.0.0.1"
    port: int = 8888
    allow_filter_off: bool = False  # ?filter=off exists only when this is true
    cache_bytes: int = DEFAULT_CACHE_BYTES  # finished fetches kept, sealed, on disk
    first_wait: float = 2.0  # a page shows the progress page after this many seconds
    subresource_wait: float = 120.0  # images, media, styles wait this long instead
    refresh: int = 2  # seconds between progress page reloads
    max_upload: int = 1024 * 1024 * 1024  # bytes in one insert form

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> GatewaySettings:
        section = config.get("gateway", {})
        values: dict[str, Any] = {}
        if isinstance(section, Mapping):
            names = {f.name for f in fields(cls)} - {"host", "port"}
            values = {k.replace("-", "_"): v for k, v in section.items()}
            values = {k: v for k, v in values.items() if k in names}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


class Gateway:
    """The browser gateway of one node; an async context manager owning its fetches.

    Args:
        client: the node's client layer (fetches stream from it).
        manager: the request manager (inserts, the transfer queue, USK subscriptions).
        runtime: the running node, for peers and status (``None`` in unit tests).
        settings: see :class:`GatewaySettings`.
    """

    def __init__(
        self,
        client: Client,
        manager: RequestManager,
        runtime: NodeRuntime | None = None,
        settings: GatewaySettings | None = None,
        *,
        spool_dir: Path | None = None,
    ) -> None:
        self.client = client
        self.manager = manager
        self.runtime = runtime
        self.settings = settings or GatewaySettings()
        self.spool_dir = spool_dir
        self.sessions = Sessions()
        self.started = time.time()
        self._fetches: FetchCache | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._insert_seq = 0
        self.guard: GuardMiddleware
        self.app = self._build_app()

    @property
    def fetches(self) -> FetchCache:
        if self._fetches is None:
            raise RuntimeError("the gateway is not running (use it with async with)")
        return self._fetches

    @property
    def task_group(self) -> anyio.abc.TaskGroup:
        assert self._tg is not None
        return self._tg

    def set_port(self, port: int) -> None:
        """Record the port really bound (the Host check accepts only it)."""
        self.settings = replace(self.settings, port=port)
        self.guard.hosts = allowed_hosts(self.settings.host, port)

    async def __aenter__(self) -> Gateway:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._fetches = FetchCache(
            self.client, self._tg, spool_dir=self.spool_dir, cache_bytes=self.settings.cache_bytes
        )
        self._load_bookmarks()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        tg, self._tg = self._tg, None
        assert tg is not None
        tg.cancel_scope.cancel()
        await tg.__aexit__(None, None, None)
        if self._fetches is not None:
            self._fetches.close()
        return None

    def _build_app(self) -> Starlette:
        from node.gateway.content import serve_key
        from node.gateway.uploads import insert_page, post_insert

        routes = [
            Route("/", self.home),
            Route("/fetch", self.fetch_box),
            Route("/queue", self.queue),
            Route("/queue/remove", self.queue_remove, methods=["POST"]),
            Route("/bookmarks", self.bookmark_add, methods=["POST"]),
            Route("/bookmarks/remove", self.bookmark_remove, methods=["POST"]),
            Route("/insert", insert_page, methods=["GET"]),
            Route("/insert", post_insert, methods=["POST"]),
            Route("/peers", self.peers),
            Route("/peers/add", self.peer_add, methods=["POST"]),
            Route("/unfiltered", self.unfiltered, methods=["POST"]),
            Route("/status", self.status),
            Route(EXTERNAL_LINK_PATH, self.external_link),
            Route("/favicon.ico", self.no_favicon),
            Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
            Route("/{key:path}", serve_key),
        ]
        app = Starlette(routes=routes)
        app.state.gateway = self
        self.guard = GuardMiddleware(
            app, hosts=allowed_hosts(self.settings.host, self.settings.port)
        )
        return app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI entry point: the app behind the Host check and headers."""
        await self.guard(scope, receive, send)

    # --- sessions and rendering ---------------------------------------------------------

    def session(self, request: Request) -> tuple[str, bool]:
        """The request's session id, and whether it is new (a cookie must be set)."""
        current = request.cookies.get(SESSION_COOKIE)
        if current and 16 <= len(current) <= 64:
            return current, False
        fresh: str | None = getattr(request.state, "new_session", None)
        if fresh is None:
            fresh = request.state.new_session = Sessions.new_id()
        return fresh, True

    def render(
        self,
        request: Request,
        build: Any,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """Render ``build(csrf_token)`` (or a ready string), setting the session cookie."""
        session, new = self.session(request)
        text = build(self.sessions.token(session)) if callable(build) else build
        response = HTMLResponse(text, status_code=status_code, headers=dict(headers or {}))
        if new:
            response.headers.append("set-cookie", Sessions.cookie_header(session))
        return response

    async def checked_form(self, request: Request) -> Mapping[str, str] | None:
        """The url-encoded form of a POST, or ``None`` when its CSRF token is wrong."""
        if not same_site(request):
            return None
        body = await request.body()
        if len(body) > 256 * 1024:
            return None
        from urllib.parse import parse_qs

        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if not self.sessions.check(request.cookies.get(SESSION_COOKIE), form.get(CSRF_FIELD)):
            return None
        return form

    def forbidden(self, request: Request) -> HTMLResponse:
        return self.render(
            request,
            pages.error_page(
                "Form expired",
                "The form's security token is missing or does not match this browser "
                "session (a page may have tried to submit it for you). Reload the form "
                "and send it again.",
            ),
            status_code=403,
        )

    # --- pages --------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        def build(token: str) -> str:
            rows = []
            for mark in self.bookmarks:
                link, updated, edition = self._bookmark_state(mark)
                badge = ' <span class="updated">updated</span>' if updated else ""
                shown = f" (edition {edition})" if edition is not None else ""
                rows.append(
                    f'<li><a href="{href(link)}">{esc(mark["title"] or mark["key"][:40])}</a>'
                    f"{esc(shown)}{badge} "
                    '<form class="inline" method="post" action="/bookmarks/remove">'
                    f"{pages.csrf_input(token)}"
                    f'<input type="hidden" name="key" value="{esc(mark["key"])}">'
                    "<button>Remove</button></form></li>"
                )
            marks = f"<ul>{''.join(rows)}</ul>" if rows else '<p class="muted">No bookmarks.</p>'
            add = (
                '<form method="post" action="/bookmarks"><fieldset><legend>Add a bookmark'
                f"</legend>{pages.csrf_input(token)}"
                '<label for="bm-key">Key</label>'
                '<input id="bm-key" name="key" type="text" required>'
                '<label for="bm-title">Title</label>'
                '<input id="bm-title" name="title" type="text">'
                "<button>Add</button></fieldset></form>"
            )
            return pages.layout(
                "Gateway",
                pages.fetch_form() + "<h2>Bookmarks</h2>" + marks + add,
                here="/",
            )

        return self.render(request, build)

    async def fetch_box(self, request: Request) -> Response:
        text = request.query_params.get("key", "").strip()
        if text.lower().startswith(("http://", "https://")):
            text = text.split("/", 3)[3] if text.count("/") >= 3 else ""
        try:
            key = parse_key_path(text.lstrip("/"))
        except BadKey as exc:
            return self.render(
                request, pages.error_page("Not a key", str(exc), key=text), status_code=400
            )
        return RedirectResponse(key.gateway_path, status_code=303)

    async def queue(self, request: Request) -> Response:
        requests = sorted(self.manager.list(), key=lambda s: s.started)
        fetches = self.fetches.fetches()
        running = any(s.state is RequestState.RUNNING for s in requests) or any(
            not (f.done or f.failed) for f in fetches
        )

        def build(token: str) -> str:
            rows = []
            for s in requests:
                if s.kind is RequestKind.SUBSCRIBE_USK:
                    state = "watching"
                    progress = ""
                else:
                    state = s.state.value
                    progress = f"{int(s.progress.fraction * 100)}%"
                if s.failure is not None:
                    state += f": {s.failure.message}"
                result = ""
                if s.result_uri:
                    result = (
                        f'<a href="{href("/" + s.result_uri)}"><code>{esc(s.result_uri)}</code></a>'
                    )
                remove = (
                    '<form class="inline" method="post" action="/queue/remove">'
                    f"{pages.csrf_input(token)}"
                    f'<input type="hidden" name="id" value="{esc(s.identifier)}">'
                    "<button>Remove</button></form>"
                )
                rows.append([esc(s.kind.value), esc(s.identifier), esc(state), progress,
                             result, remove])  # fmt: skip
            requests_html = pages.table(
                ["Kind", "Name", "State", "Progress", "Key", ""], rows, caption="Requests"
            )
            fetch_rows = []
            for f in reversed(fetches):
                state = "failed" if f.failed else "done" if f.done else "fetching"
                size = pages.human_size(f.size) if f.size is not None else "?"
                fetch_rows.append([
                    f'<a href="{href("/" + f.uri)}"><code>{esc(f.uri)}</code></a>', esc(state),
                    f"{int((1.0 if f.done else f.progress.fraction) * 100)}%", esc(size),
                ])  # fmt: skip
            fetches_html = pages.table(
                ["Key", "State", "Progress", "Size"], fetch_rows, caption="Pages and files read"
            )
            return pages.layout(
                "Transfers", requests_html + fetches_html, refresh=5 if running else None,
                here="/queue",
            )  # fmt: skip

        return self.render(request, build)

    async def queue_remove(self, request: Request) -> Response:
        form = await self.checked_form(request)
        if form is None:
            return self.forbidden(request)
        with contextlib.suppress(ClientError):
            await self.manager.remove(form.get("id", ""))
        return RedirectResponse("/queue", status_code=303)

    async def peers(self, request: Request) -> Response:
        runtime = self.runtime
        status = await runtime.status() if runtime is not None else None

        def build(token: str) -> str:
            if runtime is None or status is None:
                return pages.layout("Peers", "<p>This gateway runs without a node.</p>")
            ref = runtime.noderef_text()
            rows = [
                [esc(p.identity), f"{p.location:.4f}", "friend" if p.friend else "opennet",
                 "in" if p.inbound else "out", esc(f"{p.connected_for:.0f} s")]
                for p in status.peers
            ]  # fmt: skip
            body = (
                "<h2>This node's reference</h2>"
                "<p>Give it to a friend so their node can connect to yours (darknet).</p>"
                '<label for="myref">Reference</label>'
                f'<textarea id="myref" readonly rows="8">{esc(ref)}</textarea>'
                + pages.table(
                    ["Peer", "Location", "Kind", "Direction", "Connected"],
                    rows,
                    caption=f"Connected peers ({len(status.peers)})",
                )
                + '<form method="post" action="/peers/add"><fieldset><legend>Add a friend'
                f"</legend>{pages.csrf_input(token)}"
                '<label for="ref">Their reference</label>'
                '<textarea id="ref" name="ref" rows="8" required></textarea>'
                "<button>Add friend</button></fieldset></form>"
            )
            return pages.layout("Peers", body, here="/peers")

        return self.render(request, build)

    async def peer_add(self, request: Request) -> Response:
        form = await self.checked_form(request)
        if form is None:
            return self.forbidden(request)
        if self.runtime is None:
            return self.render(
                request, pages.error_page("No node", "no node runs here"), status_code=503
            )
        try:
            ref = parse_noderef(form.get("ref", ""), now=time.time())
        except NodeRefError as exc:
            return self.render(
                request, pages.error_page("Not a reference", str(exc)), status_code=400
            )
        if ref.identity == self.runtime.peer_id:
            return self.render(
                request,
                pages.error_page("Not a friend", "that is this node's own reference"),
                status_code=400,
            )
        await self.runtime.add_friend(ref)
        return RedirectResponse("/peers", status_code=303)

    async def status(self, request: Request) -> Response:
        runtime = self.runtime
        rows: list[tuple[str, str]] = []
        if runtime is not None:
            s = await runtime.status()
            up = max(s.uptime, 1.0)
            settings = runtime.settings
            rows += [
                ("Identity", s.identity),
                ("Location", f"{s.location:.6f}"),
                ("Mode", "opennet" if s.opennet else "darknet (friends only)"),
                ("Peers", str(len(s.peers))),
                ("Store", f"{pages.human_size(s.store_bytes)} of "
                          f"{pages.human_size(s.store_limit)} ({s.store_blocks} blocks)"),
                ("Cache", f"{pages.human_size(s.cache_bytes)} of "
                          f"{pages.human_size(s.cache_limit)} ({s.cache_blocks} blocks)"),
                ("Messages", f"{s.messages_in} in ({s.messages_in / up:.1f}/s), "
                             f"{s.messages_out} out ({s.messages_out / up:.1f}/s)"),
                ("Bandwidth limits", f"up {_rate(settings.upload_limit)}, "
                                     f"down {_rate(settings.download_limit)}"),
                ("Uptime", f"{s.uptime:.0f} s"),
            ]  # fmt: skip
        fetches = self.fetches.fetches()
        rows += [
            ("Gateway reads cached", f"{sum(1 for f in fetches if f.done)} "
             f"({pages.human_size(sum(f.spool.available for f in fetches))})"),
            ("Requests queued", str(len(self.manager.list()))),
            ("Unfiltered viewing", "allowed" if self.settings.allow_filter_off else "disabled"),
        ]  # fmt: skip
        body = "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows) + "</dl>"
        return self.render(request, pages.layout("Node status", body, here="/status"))

    async def unfiltered(self, request: Request) -> Response:
        """The confirmation of the ?filter=off warning: a link that works for this session."""
        form = await self.checked_form(request)
        if form is None:
            return self.forbidden(request)
        if not self.settings.allow_filter_off:
            return self.render(
                request,
                pages.error_page("Not allowed", "unfiltered viewing is off"),
                status_code=403,
            )
        path = form.get("path", "")
        try:
            key = parse_key_path(path.lstrip("/"))
        except BadKey as exc:
            return self.render(request, pages.error_page("Not a key", str(exc)), status_code=400)
        session, _ = self.session(request)
        grant = self.sessions.grant(session, "unfiltered", key.gateway_path)
        return RedirectResponse(f"{key.gateway_path}?filter=off&grant={grant}", status_code=303)

    async def external_link(self, request: Request) -> Response:
        address = request.query_params.get("url", "")
        return self.render(request, pages.external_link_page(address))

    async def no_favicon(self, request: Request) -> Response:
        return Response(status_code=404)

    # --- bookmarks ----------------------------------------------------------------------
    # Bookmarks are the node's named "Bookmark" entries (node.fcp.extensions), kept
    # sealed in the client database and shared with the TUI: name -> {URI, Edition},
    # where Edition is the newest edition the reader has seen (-1: none yet).

    def _bookmark_entries(self) -> dict[str, dict[str, str]]:
        raw = self.manager.db.get_blob(ENTRIES_ID, "Bookmark")
        entries = json.loads(raw) if raw else {}
        return entries if isinstance(entries, dict) else {}

    def _save_bookmarks(self, entries: dict[str, dict[str, str]]) -> None:
        self.manager.db.put_blob(ENTRIES_ID, "Bookmark", json.dumps(entries).encode())

    @property
    def bookmarks(self) -> list[dict[str, Any]]:
        """The bookmarks as ``{"title", "key", "seen"}``, sorted by title."""
        marks = []
        for name, entry in sorted(self._bookmark_entries().items()):
            try:
                seen = int(entry.get("Edition", "-1"))
            except ValueError:
                seen = -1
            marks.append({"title": name, "key": entry.get("URI", ""), "seen": seen})
        return marks

    def _load_bookmarks(self) -> None:
        for mark in self.bookmarks:
            self._watch(mark["key"])

    def _watch(self, key: str) -> None:
        with contextlib.suppress(CryptoError, ClientError):
            uri = parse_uri(key)
            if isinstance(uri, USKURI):
                self.manager.subscribe_usk(f"gateway-bookmark:{key}", key, client_name="gateway")

    def _bookmark_state(self, mark: Mapping[str, Any]) -> tuple[str, bool, int | None]:
        """Where a bookmark links to, whether it has a newer edition, and which."""
        try:
            uri = parse_uri(mark["key"])
        except CryptoError:
            return "/", False, None
        if not isinstance(uri, USKURI):
            return gateway_path(uri), False, None
        latest = self.client.editions.get(uri)
        seen = int(mark.get("seen", -1))
        edition = max(uri.edition, latest if latest is not None else -1, seen, 0)
        updated = latest is not None and latest > max(seen, uri.edition if seen < 0 else seen)
        return gateway_path(replace(uri, edition=edition, path=())), updated, edition

    def saw_edition(self, usk: USKURI) -> None:
        """A page of ``usk`` was shown: its bookmarks are no longer "updated" up to it."""
        base = str(replace(usk, edition=0, path=()))
        entries = self._bookmark_entries()
        changed = False
        for entry in entries.values():
            with contextlib.suppress(CryptoError, ValueError):
                uri = parse_uri(entry.get("URI", ""))
                same = isinstance(uri, USKURI) and str(replace(uri, edition=0, path=())) == base
                if same and int(entry.get("Edition", "-1")) < usk.edition:
                    entry["Edition"] = str(usk.edition)
                    changed = True
        if changed:
            self._save_bookmarks(entries)

    async def bookmark_add(self, request: Request) -> Response:
        form = await self.checked_form(request)
        if form is None:
            return self.forbidden(request)
        text = form.get("key", "").strip()
        try:
            uri = parse_key_path(text.lstrip("/").removeprefix("freenet:")).uri
        except BadKey as exc:
            return self.render(request, pages.error_page("Not a key", str(exc)), status_code=400)
        key = str(replace(uri, path=())) if isinstance(uri, USKURI) else str(uri)
        title = " ".join(form.get("title", "").split())[:MAX_NAME] or key[:60]
        entries = self._bookmark_entries()
        if all(e.get("URI") != key for e in entries.values()) and len(entries) < MAX_ENTRIES:
            entries[title] = {"URI": key, "Edition": "-1"}
            self._save_bookmarks(entries)
            self._watch(key)
        return RedirectResponse("/", status_code=303)

    async def bookmark_remove(self, request: Request) -> Response:
        form = await self.checked_form(request)
        if form is None:
            return self.forbidden(request)
        key = form.get("key", "")
        entries = self._bookmark_entries()
        self._save_bookmarks({n: e for n, e in entries.items() if e.get("URI") != key})
        with contextlib.suppress(ClientError):
            await self.manager.remove(f"gateway-bookmark:{key}")
        return RedirectResponse("/", status_code=303)


def same_site(request: Request) -> bool:
    """A state-changing request must come from the gateway's own pages."""
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def _rate(limit: float | None) -> str:
    return "unlimited" if limit is None else f"{pages.human_size(limit)}/s"
