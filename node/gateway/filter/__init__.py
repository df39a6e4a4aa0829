"""The gateway's content filter: pages, stylesheets, images and media made safe to show.

Pure functions, no I/O and no dependency on the node: bytes and a claimed type
in, bytes, the type to serve and a disposition out. The filter's one duty is
that a filtered document can never make the browser reach outside the gateway.
The rules, and why, are in ``specs/gateway.md`` ("Content filter").
"""

from node.gateway.filter.content import (
    Disposition,
    FilterResult,
    Handling,
    StreamVerdict,
    check_stream_head,
    filter_content,
    plan,
)
from node.gateway.filter.links import EXTERNAL_LINK_PATH, external_link, rewrite_url
from node.gateway.filter.media import SNIFF_BYTES

__all__ = [
    "EXTERNAL_LINK_PATH",
    "SNIFF_BYTES",
    "Disposition",
    "FilterResult",
    "Handling",
    "StreamVerdict",
    "check_stream_head",
    "external_link",
    "filter_content",
    "plan",
    "rewrite_url",
]
