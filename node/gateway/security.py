"""The gateway's own defences: Host check, response headers, sessions and CSRF tokens.

:class:`GuardMiddleware` wraps the whole application (pure ASGI, so it also
covers error responses and streamed bodies):

* **Host check (DNS rebinding).** A web page on ``evil.example`` can make its
  name resolve to 127.0.0.1 and then read the gateway as "its own" origin. The
  browser still sends ``Host: evil.example``, so any request whose ``Host`` is
  not one of the gateway's own names (its bind address, ``127.0.0.1``,
  ``localhost``, ``[::1]``, each with the gateway's port) is refused with 421.
* **Headers on every response.** ``X-Content-Type-Options: nosniff`` (the
  browser renders only the type the gateway chose), ``Referrer-Policy:
  no-referrer``, a ``Content-Security-Policy`` that allows the gateway alone
  (``default-src 'self'``, no script at all, forms only to the gateway, no
  framing by others), ``Cache-Control: no-store`` (the browser's disk cache
  must not keep what the reader read), and no CORS header ever: cross-origin
  readers get nothing. Responses to preflight ``OPTIONS`` are 405.

Sessions exist only for CSRF: a random session id in a ``SameSite=Strict``,
``HttpOnly`` cookie, and a per-session token (an HMAC of the id under a
per-process secret) in every form that changes anything. A freesite is served
from the same origin as the gateway's forms, but its pages carry no script
and cannot read the token, so a form on a page cannot forge a post.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crypto.encoding import b64encode
from crypto.primitives import hash_for, random_bytes

SESSION_COOKIE = "samizdat_session"
CSRF_FIELD = "csrf"

# Pages of the gateway itself: its stylesheet only, no inline styles.
CSP_PAGES = (
    "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'; style-src 'self'"
)
# Filtered content: freesites use style attributes and <style> elements, which
# the filter has already cleaned; every load is still limited to the gateway.
CSP_CONTENT = (
    "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'self'; style-src 'self' 'unsafe-inline'"
)

COMMON_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"x-frame-options", b"SAMEORIGIN"),
)


def allowed_hosts(bind_host: str, port: int) -> frozenset[str]:
    """Every ``Host`` header value that names this gateway."""
    names = {"127.0.0.1", "localhost", "[::1]"}
    if bind_host not in ("0.0.0.0", "::", ""):
        names.add(f"[{bind_host}]" if ":" in bind_host else bind_host)
    hosts = {f"{name}:{port}" for name in names}
    if port == 80:
        hosts |= names
    return frozenset(h.lower() for h in hosts)


class GuardMiddleware:
    """Host check and security headers for every HTTP response (see the module doc)."""

    def __init__(self, app: ASGIApp, *, hosts: Iterable[str]) -> None:
        self.app = app
        self.hosts = frozenset(h.lower() for h in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = b""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
                break
        if host.decode("latin-1").lower() not in self.hosts:
            await _plain(send, 421, b"This gateway answers only to its own address.\n")
            return
        if scope["method"] == "OPTIONS":
            await _plain(send, 405, b"No cross-origin access.\n")
            return

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if not k.lower().startswith(b"access-control-")
                ]
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in COMMON_HEADERS if k not in names]
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP_PAGES.encode()))
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, guarded_send)


async def _plain(send: Send, status: int, body: bytes) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *COMMON_HEADERS,
        (b"content-security-policy", CSP_PAGES.encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Sessions:
    """Session ids and their CSRF tokens, derived from a per-process secret."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret if secret is not None else random_bytes(32)

    @staticmethod
    def new_id() -> str:
        return b64encode(random_bytes(18))

    def token(self, session: str) -> str:
        return b64encode(hash_for("samizdat/gateway-csrf/v1", self._secret, session.encode()))

    def grant(self, session: str, what: str, path: str) -> str:
        """A link parameter allowing ``what`` on ``path`` to this session only.

        The gateway's own warning pages put it in the link they offer (to save a
        file, to see a page unfiltered); a freesite cannot compute or read it, so
        a page's form or link cannot skip the warning by adding the query itself.
        """
        material = f"{what}\x00{session}\x00{path}".encode()
        return b64encode(hash_for("samizdat/gateway-grant/v1", self._secret, material))[:32]

    def check_grant(self, session: str | None, what: str, path: str, grant: str | None) -> bool:
        if not session or not grant:
            return False
        return _same(self.grant(session, what, path), grant)

    def check(self, session: str | None, token: str | None) -> bool:
        if not session or not token:
            return False
        return _same(self.token(session), token)

    @staticmethod
    def cookie_header(session: str) -> str:
        cookie: SimpleCookie = SimpleCookie()
        cookie[SESSION_COOKIE] = session
        morsel = cookie[SESSION_COOKIE]
        morsel["path"] = "/"
        morsel["httponly"] = True
        morsel["samesite"] = "Strict"
        return morsel.OutputString()


def _same(expected: str, given: str) -> bool:
    """Constant-time equality of a token we made and one a request carried.

    Compared as bytes: ``hmac.compare_digest`` refuses ``str`` with non-ASCII
    characters (TypeError, a 500), and a request may carry any text.
    """
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))
