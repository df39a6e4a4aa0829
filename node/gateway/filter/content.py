"""The filter's entry points: decide how each document is served, and filter it.

:func:`filter_content` takes a whole document and returns what to send;
:func:`plan` says beforehand whether a type needs the whole body in memory
(HTML, CSS, text, images), can be streamed after checking its first bytes
(audio and video: :func:`check_stream_head`), or goes out as a download after
the gateway's warning page (everything else). The filter never raises on bad
content: whatever it cannot vouch for becomes ``ATTACHMENT_AFTER_WARNING``
served as ``application/octet-stream``, with a reason for the warning page.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from node.gateway.filter.css import filter_stylesheet
from node.gateway.filter.css_tokens import CSSTooLarge
from node.gateway.filter.html import PageRejected, filter_html
from node.gateway.filter.images import IMAGE_TYPES, ImageRejected, filter_image, sniff_image
from node.gateway.filter.media import MEDIA_TYPES, SNIFF_BYTES, media_matches
from node.gateway.filter.mime import OCTET_STREAM, MimeType, decode_text, parse_mime

MAX_TEXT_BYTES = 16 * 1024 * 1024  # text shown in a browser; larger goes out as a download

# Text shown as plain text: the types people publish as source to read. They
# are transcoded to UTF-8 and served as text/plain, so no browser renders them.
TEXT_AS_PLAIN = frozenset(
    {"application/json", "application/xml", "text/xml", "image/svg+xml",
     "application/javascript", "application/x-javascript", "application/ecmascript"}
)  # fmt: skip

UTF8_HTML = "text/html; charset=utf-8"
UTF8_CSS = "text/css; charset=utf-8"
UTF8_PLAIN = "text/plain; charset=utf-8"


class Disposition(enum.Enum):
    """How the browser may treat a response."""

    INLINE = "inline"  # filtered or checked: safe to render
    ATTACHMENT_AFTER_WARNING = "attachment"  # a download, offered after a warning page


class Handling(enum.Enum):
    """What the gateway must do with a body of a given type."""

    FILTER = "filter"  # read the whole body (up to the limits) and call filter_content
    STREAM = "stream"  # check the first SNIFF_BYTES with check_stream_head, then stream
    DOWNLOAD = "download"  # no filtering: warning page, then attachment as octet-stream


@dataclass(frozen=True, slots=True, kw_only=True)
class FilterResult:
    """What to send: bytes, ``Content-Type``, disposition and why.

    ``claimed_type`` is the type the metadata gave, for the warning page; ``reason``
    says in words why a download was chosen (empty when inline).
    """

    data: bytes
    mime_type: str
    disposition: Disposition
    claimed_type: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamVerdict:
    """The decision for a streamed type, made from its first bytes."""

    mime_type: str
    disposition: Disposition
    reason: str = ""


def _is_text(m: MimeType) -> bool:
    return m.essence.startswith("text/") or m.essence in TEXT_AS_PLAIN


def plan(mime_type: str) -> Handling:
    """How a body claimed to be ``mime_type`` must be handled (see :class:`Handling`)."""
    m = parse_mime(mime_type)
    if m.essence in MEDIA_TYPES:
        return Handling.STREAM
    if m.essence in IMAGE_TYPES or _is_text(m):
        return Handling.FILTER
    return Handling.DOWNLOAD


def check_stream_head(head: bytes, mime_type: str) -> StreamVerdict:
    """Decide on a streamed (audio/video) body from its first :data:`SNIFF_BYTES` bytes."""
    m = parse_mime(mime_type)
    if m.essence in MEDIA_TYPES and media_matches(m.essence, head[:SNIFF_BYTES]):
        return StreamVerdict(mime_type=m.essence, disposition=Disposition.INLINE)
    return StreamVerdict(
        mime_type=OCTET_STREAM,
        disposition=Disposition.ATTACHMENT_AFTER_WARNING,
        reason=f"the file does not start the way {m.essence} does",
    )


def _download(data: bytes, claimed: str, reason: str) -> FilterResult:
    return FilterResult(
        data=data,
        mime_type=OCTET_STREAM,
        disposition=Disposition.ATTACHMENT_AFTER_WARNING,
        claimed_type=claimed,
        reason=reason,
    )


def _inline(data: bytes, mime_type: str, claimed: str) -> FilterResult:
    return FilterResult(
        data=data, mime_type=mime_type, disposition=Disposition.INLINE, claimed_type=claimed
    )


def filter_content(data: bytes, mime_type: str, *, base_path: str) -> FilterResult:
    """Filter one document served at gateway path ``base_path``.

    Args:
        data: the whole body.
        mime_type: the type the metadata claims (``Content-Type`` syntax).
        base_path: the document's gateway path (``/<KEY>/dir/page.html``); relative
            references resolve against it. A path naming only a key is the
            site's root directory.

    Raises:
        ValueError: ``base_path`` is not an absolute path (a caller's mistake).
    """
    if not base_path.startswith("/"):
        raise ValueError("base_path is the document's gateway path and starts with '/'")
    m = parse_mime(mime_type)
    claimed = m.essence
    if m.essence in MEDIA_TYPES:
        verdict = check_stream_head(data[:SNIFF_BYTES], mime_type)
        if verdict.disposition is Disposition.INLINE:
            return _inline(data, verdict.mime_type, claimed)
        return _download(data, claimed, verdict.reason)
    if m.essence in IMAGE_TYPES:
        detected = sniff_image(data)
        if detected is None:
            return _download(data, claimed, f"the file is not the {claimed} image it claims to be")
        try:
            clean, served = filter_image(data)
        except ImageRejected as exc:
            return _download(data, claimed, f"the image is malformed: {exc}")
        return _inline(clean, served, claimed)
    if not _is_text(m):
        return _download(data, claimed, f"the filter cannot vouch for {claimed} content")
    if len(data) > MAX_TEXT_BYTES:
        return _download(data, claimed, f"text over {MAX_TEXT_BYTES} bytes is not filtered")
    if m.essence == "text/html":
        text = decode_text(data, m.charset, html=True)
        try:
            page = filter_html(text, base_path=base_path)
        except PageRejected as exc:
            return _download(data, claimed, str(exc))
        return _inline(page.encode("utf-8"), UTF8_HTML, claimed)
    if m.essence == "text/css":
        text = decode_text(data, m.charset, css=True)
        try:
            css = filter_stylesheet(text, base_path=base_path)
        except CSSTooLarge as exc:
            return _download(data, claimed, str(exc))
        return _inline(css.encode("utf-8"), UTF8_CSS, claimed)
    text = decode_text(data, m.charset)
    return _inline(text.encode("utf-8", errors="replace"), UTF8_PLAIN, claimed)
