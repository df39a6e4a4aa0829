"""``GET /<KEY>[/<path>]``: fetch, filter and serve what a key holds.

The order of decisions for one request (``specs/gateway.md`` §Serving content):

1. parse the key (400 on a bad one; ``freenet:`` is redirected away);
2. USK: a negative edition is searched for and redirected to the edition
   found; an edition older than the newest known is redirected to the newest;
   otherwise a background search looks for newer ones (the page then notes them);
3. look up or start the :class:`~node.gateway.fetches.Fetch`, and wait a little
   (``first_wait`` for pages, far longer for images, media and styles a page
   loads) for what this response needs;
4. not ready → the self-refreshing progress page; failed → 404 (not found) or
   another error page with the reason;
5. by type (:func:`node.gateway.filter.plan`): pages, styles, text and images
   are filtered whole and served from a small cache of filtered results; audio
   and video stream from the spool as they arrive, after a check of their
   first bytes; everything else gets the download warning page, and
   ``?download=1`` then serves it as ``application/octet-stream`` attachment.

Every body is served with ``Accept-Ranges: bytes`` and honours one ``Range``.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import quote

import anyio
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from crypto.uri import USKURI
from node.client.errors import (
    ClientError,
    DataNotFound,
    InvalidRequestURI,
    NotEnoughPathComponents,
    PathNotFound,
    RouteNotFound,
    TooManyPathComponents,
)
from node.gateway import pages
from node.gateway.app import Gateway
from node.gateway.fetches import Fetch
from node.gateway.filter import (
    SNIFF_BYTES,
    Disposition,
    FilterResult,
    Handling,
    check_stream_head,
    filter_content,
    plan,
)
from node.gateway.keys import BadKey, KeyPath, gateway_path, parse_key_path
from node.gateway.security import CSP_CONTENT
from node.gateway.spool import SpoolClosed

# Types filtered whole are read into memory: above this they go out as downloads.
MAX_FILTER_BYTES = 32 * 1024 * 1024
# Filtered results kept in memory for rereads (bytes of output).
FILTERED_CACHE_BYTES = 32 * 1024 * 1024
STREAM_CHUNK = 256 * 1024  # bytes per body message of a streamed response
NAVIGATION = frozenset({"document", "iframe", "frame", "embed", "object"})


class FilteredCache:
    """Filtered documents by (key, base path, mode), LRU, bounded by bytes."""

    def __init__(self, limit: int = FILTERED_CACHE_BYTES) -> None:
        self.limit = limit
        self._items: OrderedDict[tuple[str, str], FilterResult] = OrderedDict()
        self._size = 0

    def get(self, key: tuple[str, str]) -> FilterResult | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: tuple[str, str], item: FilterResult) -> None:
        if len(item.data) > self.limit // 4:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._size -= len(old.data)
        self._items[key] = item
        self._size += len(item.data)
        while self._size > self.limit:
            _, dropped = self._items.popitem(last=False)
            self._size -= len(dropped.data)


def _filtered_cache(gw: Gateway) -> FilteredCache:
    cache = getattr(gw, "_filtered", None)
    if cache is None:
        cache = FilteredCache()
        gw._filtered = cache  # type: ignore[attr-defined]
    return cache


async def serve_key(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    text = request.path_params["key"]
    if text[:8].lower() == "freenet:":
        return _redirect("/" + quote(text[8:], safe="/@,~-._!$&'()*+;=:"), request)
    try:
        key = parse_key_path(text)
    except BadKey as exc:
        return gw.render(
            request, pages.error_page("Not a key", str(exc), key=text), status_code=400
        )
    query = request.query_params
    filter_off = query.get("filter") == "off"
    if filter_off and not gw.settings.allow_filter_off:
        return gw.render(
            request,
            pages.error_page(
                "Unfiltered viewing is disabled",
                "This node does not allow ?filter=off: pages are always shown through the "
                "content filter. The node's owner can allow it with allow_filter_off = true "
                "in the [gateway] section of config.toml.",
                key=str(key.uri),
            ),
            status_code=403,
        )
    if isinstance(key.uri, USKURI):
        answer = await _usk(gw, request, key.uri)
        if answer is not None:
            return answer
    fetch = gw.fetches.get(key.fetch_uri, retry=query.get("retry") == "1")
    navigation = request.headers.get("sec-fetch-dest", "document") in NAVIGATION
    wait = gw.settings.first_wait if navigation else gw.settings.subresource_wait
    download = query.get("download") == "1"

    def ready(f: Fetch) -> bool:
        if f.done:
            return True
        if not f.metadata_known:
            return False
        assert f.mime is not None
        how = plan(f.mime)
        if download or filter_off or how is Handling.DOWNLOAD:
            return True
        if how is Handling.STREAM:
            return f.spool.available >= min(SNIFF_BYTES, f.size or 0)
        return (f.size or 0) > MAX_FILTER_BYTES

    fetch.readers += 1
    try:
        with anyio.move_on_after(wait):
            await fetch.wait_until(ready)
        if fetch.failed:
            return _failure(gw, request, key, fetch)
        if not ready(fetch):
            if not navigation:
                return Response("still fetching\n", status_code=504, media_type="text/plain")
            return _progress(gw, request, key, fetch)
        return await _serve(gw, request, key, fetch, download=download, filter_off=filter_off)
    finally:
        fetch.readers -= 1


def _redirect(path: str, request: Request) -> RedirectResponse:
    if request.url.query:
        path += "?" + request.url.query
    return RedirectResponse(path, status_code=302)


async def _usk(gw: Gateway, request: Request, usk: USKURI) -> Response | None:
    known = gw.client.editions.get(usk)
    if usk.edition < 0:
        search = gw.fetches.check_usk(usk, force=known is None)
        with anyio.move_on_after(gw.settings.first_wait):
            await search.finished.wait()
        latest = gw.client.editions.get(usk)
        if latest is not None:
            return _redirect(gateway_path(replace(usk, edition=latest)), request)
        if search.done:
            reason = str(search.error) if search.error else "no edition of this site was found"
            return gw.render(
                request, pages.error_page("Not found", reason, key=str(usk)), status_code=404
            )
        return gw.render(
            request,
            pages.progress_page(
                str(usk),
                fraction=0.0,
                known=False,
                detail="Looking for the newest edition of this site.",
                refresh=gw.settings.refresh,
            ),
        )
    if known is not None and known > usk.edition and not any(usk.path):
        # the site's front page moves to the newest edition; pages inside an
        # edition stay in it (a page may not exist in the next) and note it
        return _redirect(gateway_path(replace(usk, edition=known)), request)
    gw.fetches.check_usk(usk)
    return None


def _failure(gw: Gateway, request: Request, key: KeyPath, fetch: Fetch) -> Response:
    error = fetch.error
    assert error is not None
    retry = key.gateway_path + "?retry=1"
    if isinstance(error, DataNotFound | RouteNotFound | PathNotFound | NotEnoughPathComponents):
        title, status = "Not found", 404
    elif isinstance(error, InvalidRequestURI | TooManyPathComponents):
        title, status = "Bad key", 400
    else:
        title, status = "Could not fetch", 502
    return gw.render(
        request,
        pages.error_page(title, _reason(error), key=str(key.uri), retry=retry),
        status_code=status,
    )


def _reason(error: ClientError) -> str:
    text = str(error) or type(error).__name__
    return text[0].upper() + text[1:]


def _progress(gw: Gateway, request: Request, key: KeyPath, fetch: Fetch) -> Response:
    p = fetch.progress
    if fetch.metadata_known:
        size = pages.human_size(fetch.size or 0)
        detail = f"{p.succeeded} of {p.required or '?'} blocks ({size}, {fetch.mime})."
    else:
        detail = "Looking up the key and its metadata."
    body = pages.progress_page(
        str(key.uri), fraction=p.fraction, known=fetch.metadata_known, detail=detail,
        refresh=gw.settings.refresh,
    )  # fmt: skip
    return gw.render(request, body)


async def _serve(
    gw: Gateway, request: Request, key: KeyPath, fetch: Fetch, *, download: bool, filter_off: bool
) -> Response:
    assert fetch.mime is not None and fetch.size is not None
    session, _ = gw.session(request)
    grant = request.query_params.get("grant")
    if download:
        if gw.sessions.check_grant(session, "download", key.gateway_path, grant):
            return _body(request, key, fetch, mime="application/octet-stream", attachment=True)
        # a page's own link or GET form cannot skip the warning: no valid grant
        return _warning(
            gw,
            request,
            key,
            fetch.mime,
            fetch.size,
            "the link to save it did not come from this gateway's warning page",
        )
    if filter_off:
        if gw.sessions.check_grant(session, "unfiltered", key.gateway_path, grant):
            return _body(request, key, fetch, mime=fetch.mime, attachment=False)
        return gw.render(
            request,
            lambda token: pages.filter_off_warning(
                key=str(key.uri), path=key.gateway_path, back=key.gateway_path, token=token
            ),
        )
    how = plan(fetch.mime)
    if how is Handling.FILTER and fetch.size <= MAX_FILTER_BYTES:
        result = await _filtered(gw, key, fetch)
        if result.disposition is Disposition.INLINE:
            data = result.data
            if result.mime_type.startswith("text/html") and isinstance(key.uri, USKURI):
                gw.saw_edition(key.uri)
                data = _edition_notice(gw, key.uri, data)
            return _bytes_response(request, key, data, result.mime_type)
        return _warning(gw, request, key, result.claimed_type, fetch.size, result.reason)
    if how is Handling.STREAM:
        head = fetch.spool.read(0, SNIFF_BYTES)
        verdict = check_stream_head(head, fetch.mime)
        if verdict.disposition is Disposition.INLINE:
            return _body(request, key, fetch, mime=verdict.mime_type, attachment=False)
        return _warning(gw, request, key, fetch.mime, fetch.size, verdict.reason)
    if how is Handling.FILTER:
        reason = f"it is larger than the {pages.human_size(MAX_FILTER_BYTES)} the filter reads"
    else:
        reason = f"the filter cannot vouch for {fetch.mime.split(';')[0]} content"
    return _warning(gw, request, key, fetch.mime, fetch.size, reason)


async def _filtered(gw: Gateway, key: KeyPath, fetch: Fetch) -> FilterResult:
    cache = _filtered_cache(gw)
    cache_key = (fetch.uri, key.gateway_path)
    result = cache.get(cache_key)
    if result is None:
        assert fetch.mime is not None and fetch.size is not None
        data = fetch.spool.read(0, fetch.size)
        mime, base = fetch.mime, key.gateway_path
        if fetch.size > 256 * 1024:
            result = await anyio.to_thread.run_sync(
                lambda: filter_content(data, mime, base_path=base)
            )
        else:
            result = filter_content(data, mime, base_path=base)
        cache.put(cache_key, result)
    return result


def _edition_notice(gw: Gateway, usk: USKURI, page: bytes) -> bytes:
    latest = gw.client.editions.get(usk)
    if latest is None or latest <= usk.edition:
        return page
    link = pages.href(gateway_path(replace(usk, edition=latest, path=())))
    notice = (
        '<div role="status" style="background:#fff4c2;color:#000;padding:.5em 1em;'
        'border-bottom:2px solid #c9a800;font:16px sans-serif">'
        f'A newer edition ({latest}) of this site is available: <a href="{link}">'
        f"go to edition {latest}</a>. You are reading edition {usk.edition}.</div>"
    ).encode()
    at = page.find(b"<body")
    end = page.find(b">", at) if at >= 0 else -1
    if end < 0:
        return notice + page
    return page[: end + 1] + notice + page[end + 1 :]


def _warning(
    gw: Gateway, request: Request, key: KeyPath, claimed: str, size: int | None, reason: str
) -> Response:
    session, _ = gw.session(request)
    grant = gw.sessions.grant(session, "download", key.gateway_path)
    return gw.render(
        request,
        pages.download_warning(
            key=str(key.uri),
            claimed=claimed.split(";")[0],
            size=size,
            reason=reason,
            download=f"{key.gateway_path}?download=1&grant={grant}",
        ),
    )


# --- bodies and ranges -------------------------------------------------------------------


class Unsatisfiable(Exception):
    """The range starts past the end (416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One byte range of ``size`` bytes as (first, last) inclusive.

    ``None``: no usable Range (serve everything: absent, malformed or several
    ranges, which RFC 9110 lets a server ignore).

    Raises:
        Unsatisfiable: a range that selects nothing of ``size`` bytes (416).
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if not first_text:
            suffix = int(last_text)
            if suffix <= 0:
                raise Unsatisfiable(header)
            return max(0, size - suffix), size - 1
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:
        return None
    if first >= size:
        raise Unsatisfiable(header)
    if first < 0 or last < first:
        return None
    return first, min(last, size - 1)


def _etag(key: KeyPath, variant: str) -> str:
    digest = hashlib.blake2s(f"{key.fetch_uri}\x00{variant}".encode()).hexdigest()[:24]
    return f'"{digest}"'


def _range_for(
    request: Request, size: int, etag: str
) -> tuple[int, int, int, dict[str, str]] | Response:
    """(status, first, last, headers) for a body, or a 416 response."""
    headers = {"accept-ranges": "bytes", "etag": etag, "content-security-policy": CSP_CONTENT}
    if_range = request.headers.get("if-range")
    try:
        wanted = parse_range(request.headers.get("range"), size)
    except Unsatisfiable:
        headers["content-range"] = f"bytes */{size}"
        return Response(status_code=416, headers=headers)
    if if_range is not None and if_range != etag:
        wanted = None
    if wanted is None:
        return 200, 0, size - 1, headers
    first, last = wanted
    headers["content-range"] = f"bytes {first}-{last}/{size}"
    return 206, first, last, headers


def _bytes_response(request: Request, key: KeyPath, data: bytes, mime: str) -> Response:
    chosen = _range_for(request, len(data), _etag(key, mime))
    if isinstance(chosen, Response):
        return chosen
    status, first, last, headers = chosen
    return Response(data[first : last + 1], status_code=status, headers=headers, media_type=mime)


def _body(request: Request, key: KeyPath, fetch: Fetch, *, mime: str, attachment: bool) -> Response:
    assert fetch.size is not None
    size = fetch.size
    chosen = _range_for(request, size, _etag(key, mime + str(attachment)))
    if isinstance(chosen, Response):
        return chosen
    status, first, last, headers = chosen
    if attachment:
        name = quote(key.filename, safe="")
        headers["content-disposition"] = f"attachment; filename*=UTF-8''{name}"
    headers["content-length"] = str(last - first + 1 if size else 0)
    return StreamingResponse(
        _stream(fetch, first, last + 1),
        status_code=status,
        headers=headers,
        media_type=mime,
    )


async def _stream(fetch: Fetch, start: int, end: int) -> AsyncIterator[bytes]:
    """Bytes ``start``–``end`` of a fetch's spool, waiting for those not yet fetched."""
    fetch.readers += 1
    try:
        position = start
        while position < end:
            available = fetch.spool.available
            if available > position:
                chunk = fetch.spool.read(position, min(end - position, STREAM_CHUNK))
                position += len(chunk)
                yield chunk
                continue
            if fetch.failed or fetch.spool.finished:
                raise SpoolClosed("the fetch ended before the requested bytes arrived")
            await fetch.spool.wait_grown(position)
    finally:
        fetch.readers -= 1
