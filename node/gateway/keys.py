"""What a gateway path names: ``/<KEY>[/<path>]`` parsed, checked and made canonical."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import quote

from crypto.errors import CryptoError
from crypto.uri import CHKURI, KSKURI, SSKURI, URI, USKURI, parse_uri

# Characters written as-is in the key paths the gateway emits (as the filter does).
PATH_SAFE = "/@,~-._!$&'()*+;=:"


class BadKey(ValueError):
    """The path does not name a key a reader can fetch; the message says why."""


@dataclass(frozen=True, slots=True)
class KeyPath:
    """A parsed request path."""

    uri: URI  # the key with its path, as asked for

    @property
    def gateway_path(self) -> str:
        """The canonical, percent-encoded gateway path of this key and path."""
        return gateway_path(self.uri)

    @property
    def fetch_uri(self) -> str:
        """What the client layer fetches: a USK edition is read as its exact SSK, so
        the page at ``/USK@…/site/5/`` is edition 5 and never silently another."""
        if isinstance(self.uri, USKURI) and self.uri.edition >= 0:
            return str(self.uri.to_ssk())
        return str(self.uri)

    @property
    def filename(self) -> str:
        """A name for a download of this document."""
        parts = [p for p in self.uri.path if p]
        if parts:
            return parts[-1]
        if isinstance(self.uri, SSKURI):
            return self.uri.docname or "download"
        if isinstance(self.uri, USKURI):
            return self.uri.site
        if isinstance(self.uri, KSKURI):
            return self.uri.keyword
        return "download"


def gateway_path(uri: URI) -> str:
    return "/" + quote(str(uri), safe=PATH_SAFE)


def parse_key_path(text: str) -> KeyPath:
    """Parse the decoded request path without its leading ``/``.

    Raises:
        BadKey: not a key, or a key that must not be used here (an insert key).
    """
    if text[:8].lower() == "freenet:":
        text = text[8:]
    try:
        uri = parse_uri(text)
    except CryptoError as exc:
        raise BadKey(f"this is not a valid key: {exc}") from None
    if isinstance(uri, CHKURI) and uri.is_insert_form:
        raise BadKey("CHK@ without its keys names no content; paste the whole key")
    if isinstance(uri, SSKURI | USKURI) and uri.is_insert:
        raise BadKey(
            "this is an insert key, the private half of a signed key: it lets anyone "
            "publish in its owner's name. Keep it secret and fetch the request key instead"
        )
    if isinstance(uri, SSKURI) and not uri.docname:
        raise BadKey("an SSK key needs a document name after the key: SSK@…/name")
    return KeyPath(uri)


def with_edition(uri: USKURI, edition: int) -> USKURI:
    return replace(uri, edition=edition)
