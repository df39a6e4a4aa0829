"""URL rewriting for filtered content: every reference stays inside the gateway.

A reference found in a page or a stylesheet becomes one of three things:

- an absolute gateway path ``/<KEY>[/<path>][#fragment]`` that this module has
  resolved (dot segments removed), percent-encoded and validated with
  :func:`crypto.uri.parse_uri`, so the browser has nothing left to interpret;
- for links the reader follows (``<a href>``, ``<area href>``) to the outside
  world: the gateway's warning page ``/external-link?url=<percent-encoded>``,
  which shows the address and is never followed automatically;
- nothing: the attribute or declaration is dropped.

The rules follow the WHATWG URL parser, which is what the browser will apply:
leading and trailing C0 controls and spaces are stripped, tabs and newlines
removed anywhere, ``\\`` is a path separator, ``//host`` and ``\\\\host`` are
network references, ``http:host`` has a scheme, and ``%2e`` counts as a dot in
dot segments. Queries are dropped from internal references: a static site has
no use for them and the gateway's own parameters (``?filter=off``, ``?force``)
must never be set by a page.
"""

from __future__ import annotations

import enum
import re
from urllib.parse import parse_qs, quote, unquote, urlsplit

from crypto.errors import InvalidURI
from crypto.uri import CHKURI, KSKURI, SSKURI, URI, USKURI, parse_uri

EXTERNAL_LINK_PATH = "/external-link"
"""The gateway route that shows an outside address for the reader to copy.

The filter writes ``/external-link?url=<address, percent-encoded with nothing
kept safe>``; the route decodes the one ``url`` parameter and shows it as text.
"""

EXTERNAL_LINK_PREFIX = EXTERNAL_LINK_PATH + "?url="

# Schemes a reader may meet as an outside address. Links with these schemes go
# to the warning page; any other scheme (javascript:, data:, vbscript:, file:,
# blob:, about:, …) is dropped outright, links and loads alike.
EXTERNAL_SCHEMES = frozenset(
    {
        "http", "https", "ftp", "ftps", "sftp", "ssh", "git", "mailto", "news", "nntp",
        "irc", "ircs", "xmpp", "tel", "sms", "gopher", "gemini", "magnet", "ed2k",
        "bitcoin", "ws", "wss", "ipfs", "ipns", "freenet",
    }
)  # fmt: skip

# Hosts whose http(s) links point at a local gateway (Freenet sites often link
# to http://127.0.0.1:8888/USK@…): the key path is kept, the host dropped.
LOCAL_GATEWAY_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

MAX_URL_LENGTH = 8192  # longer than any key path; bounds work on hostile input

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_KEY_START = re.compile(r"(?i)(?:freenet:)?(?:CHK|SSK|USK|KSK)@")
_STRIP = "".join(chr(c) for c in range(0x21))  # C0 controls and space
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
_ENCODED_SEPARATOR = re.compile(r"(?i)%(?:2f|5c|[01][0-9a-f]|7f)")
_SINGLE_DOT = frozenset({".", "%2e"})
_DOUBLE_DOT = frozenset({"..", ".%2e", "%2e.", "%2e%2e"})
# Characters written as-is in a path we emit; everything else is percent-encoded.
# '%' is kept so existing escapes are not doubled (encoded separators and
# controls were rejected before this point).
_PATH_SAFE = "/@,~-._!$&'()*+;=:%"
_FRAGMENT_SAFE = _PATH_SAFE + "?"


class UrlUse(enum.Enum):
    """How the browser uses a reference, which decides what outside ones become."""

    NAVIGATE = "navigate"  # followed by the reader: outside -> the warning page
    LOAD = "load"  # fetched on its own (images, styles, fonts, forms): outside -> dropped


def clean_url_text(value: str) -> str:
    """The reference as the browser's URL parser sees it before splitting."""
    return _TAB_NEWLINE.sub("", value.strip(_STRIP))


def external_link(address: str) -> str:
    """The warning-page path showing ``address``."""
    return EXTERNAL_LINK_PREFIX + quote(address, safe="")


def rewrite_url(value: str, *, base_path: str, use: UrlUse) -> str | None:
    """Rewrite one reference found in content served at ``base_path``.

    Returns the reference to write instead, or ``None`` to drop it.
    """
    text = clean_url_text(value)
    if not text or len(text) > MAX_URL_LENGTH:
        return None
    if text.startswith("#"):
        return "#" + quote(text[1:], safe=_FRAGMENT_SAFE)
    if _KEY_START.match(text):
        return _internal(text.replace("\\", "/"), base_path=base_path, key_text=True)
    scheme = _SCHEME.match(text)
    if scheme is not None:
        name = scheme.group(1).lower()
        if name not in EXTERNAL_SCHEMES:
            return None
        if name in ("http", "https"):
            local = _local_gateway_path(text)
            if local is not None:
                return _internal(local, base_path=base_path, key_text=False)
        return external_link(text) if use is UrlUse.NAVIGATE else None
    normal = text.replace("\\", "/")
    if use is UrlUse.NAVIGATE and normal.startswith(EXTERNAL_LINK_PREFIX):
        # a link to the warning page itself (a filtered page filtered again)
        query = parse_qs(normal.partition("?")[2].partition("#")[0])
        address = query.get("url", [])
        return external_link(address[0]) if len(address) == 1 and len(query) == 1 else None
    if normal.startswith("//"):
        return external_link(text) if use is UrlUse.NAVIGATE else None
    return _internal(normal, base_path=base_path, key_text=False)


def _local_gateway_path(text: str) -> str | None:
    """The path of an http(s) link to a gateway on this machine, if it names a key."""
    try:
        parts = urlsplit(text.replace("\\", "/"))
        host = parts.hostname
    except ValueError:
        return None
    if host not in LOCAL_GATEWAY_HOSTS or not parts.path.startswith("/"):
        return None
    path = parts.path + ("#" + parts.fragment if parts.fragment else "")
    return path if _KEY_START.match(path[1:]) else None


def _internal(text: str, *, base_path: str, key_text: bool) -> str | None:
    """Resolve a path-like reference against ``base_path`` and validate it."""
    path, hash_sign, fragment = text.partition("#")
    path = path.partition("?")[0]
    if key_text:
        if path[:8].lower() == "freenet:":
            path = path[8:]
        path = "/" + path
    if not path:  # "?query" alone: the document itself
        segments = base_path.partition("?")[0].partition("#")[0].lstrip("/").split("/")
    elif path.startswith("/"):
        segments = path[1:].split("/")
    else:
        segments = [*base_directory(base_path), *path.split("/")]
    resolved = _validated_key_path("/" + "/".join(_remove_dot_segments(segments)))
    if resolved is None:
        return None
    out = quote(resolved, safe=_PATH_SAFE)
    if hash_sign:
        out += "#" + quote(fragment, safe=_FRAGMENT_SAFE)
    return out


def _remove_dot_segments(segments: list[str]) -> list[str]:
    out: list[str] = []
    last = len(segments) - 1
    for i, segment in enumerate(segments):
        lowered = segment.lower()
        if lowered in _SINGLE_DOT:
            if i == last:
                out.append("")
            continue
        if lowered in _DOUBLE_DOT:
            if out:
                out.pop()
            if i == last:
                out.append("")
            continue
        out.append(segment)
    return out


def _validated_key_path(path: str) -> str | None:
    """``path`` (canonical, without ``freenet:``) if it names a key, else ``None``."""
    if _ENCODED_SEPARATOR.search(path):
        return None
    first, slash, rest = path[1:].partition("/")
    if first[:8].lower() == "freenet:":
        first = first[8:]
    canonical = "/" + first + slash + rest
    try:
        parse_uri(unquote(canonical[1:], errors="strict"))
    except (InvalidURI, UnicodeDecodeError):
        return None
    return canonical


def key_path_length(uri: URI) -> int:
    """How many path segments name the key itself (``USK@k/site/5`` is 3)."""
    if isinstance(uri, USKURI):
        return 3
    if isinstance(uri, SSKURI):
        return 2
    assert isinstance(uri, CHKURI | KSKURI)
    return 1


def base_directory(base_path: str) -> list[str]:
    """The segments of the directory that relative references in ``base_path`` resolve in.

    A base naming only a key (``/CHK@…``, ``/USK@…/site/5``) is the site's root,
    as if it ended in ``/``; otherwise the last segment is the document's name.
    """
    segments = base_path.partition("?")[0].partition("#")[0].lstrip("/").split("/")
    try:
        uri = parse_uri(unquote(base_path.lstrip("/").partition("?")[0].partition("#")[0]))
    except (InvalidURI, UnicodeDecodeError):
        return segments[:-1]
    if len(segments) <= key_path_length(uri):
        return segments
    return segments[:-1]
