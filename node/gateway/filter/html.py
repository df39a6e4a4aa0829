"""The HTML filter: an allow-list sanitiser (nh3) with link rewriting, then a re-serialiser.

Theory of operation, in three passes:

1. nh3 (Ammonia, on html5ever: the HTML5 parsing algorithm browsers use)
   parses the text as a body fragment and keeps only the tags and attributes
   allowed below. Its ``attribute_filter`` callback rewrites every URL-bearing
   attribute through :func:`.links.rewrite_url` and every ``style=`` through the
   CSS filter; attributes with a scheme outside :data:`.links.EXTERNAL_SCHEMES`
   never reach the callback (Ammonia strips them first). Entities, mixed case,
   embedded tabs and NULs are resolved by the parser before any of this, so
   ``java&#x09;script:`` is seen as the browser would see it.
2. Ammonia's output is well-formed; Python's :mod:`html.parser` reads it back
   and this module writes it out again with every attribute double-quoted and
   ``& < > "`` escaped, text escaped, comments and declarations dropped, and
   the text of each ``<style>`` element run through the CSS filter (whose
   output can never contain ``</``).
3. The fragment is wrapped in a document whose first element in ``<head>`` is
   ``<meta charset="utf-8">``: the output is always UTF-8.

Dropped with their content: ``script``, ``svg``, ``math``, ``noscript``,
``iframe``, ``template``, ``xmp``, ``noembed``, ``noframes``, ``plaintext``,
``frameset``. Dropped, content kept (fallback text shows): ``object``,
``applet``, ``embed``, ``base``, unknown tags. Kept only when harmless:
``<link>`` (``rel=stylesheet`` with a gateway ``href``, or inert), ``<meta>``
(a few descriptive names; never ``http-equiv`` or ``charset``), ``<form>``
(``action`` inside the gateway, ``method=get`` only).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

from node.gateway.filter.css import filter_style_attribute, filter_stylesheet
from node.gateway.filter.css_tokens import CSSTooLarge
from node.gateway.filter.links import EXTERNAL_SCHEMES, UrlUse, rewrite_url

MAX_HTML_CHARS = 4 * 1024 * 1024  # a page this size is not a page; serve it as a download
# html5ever's scope checks cost O(depth) per tag, so work grows with tags x depth:
# 4 Mi characters at depth 512 is a few seconds at worst. Browsers cap the DOM's
# depth near 512 themselves, so no real page comes close.
MAX_NESTING_ESTIMATE = 512

_STRUCTURE = """
    html head body title div span p br hr h1 h2 h3 h4 h5 h6 header footer main nav
    section article aside address figure figcaption hgroup blockquote pre
    ul ol li dl dt dd menu details summary center
    table caption thead tbody tfoot tr th td col colgroup
    a img map area picture video audio source track
    b i u s em strong small big tt sub sup mark abbr cite code kbd samp var dfn q
    del ins strike font bdi bdo ruby rt rp wbr time data progress meter output nobr
    form fieldset legend label input button select option optgroup textarea
    style link meta
"""
ALLOWED_TAGS = frozenset(_STRUCTURE.split())

# Removed together with everything inside them.
CLEAN_CONTENT_TAGS = frozenset(
    {"script", "svg", "math", "noscript", "iframe", "template", "xmp", "noembed",
     "noframes", "plaintext", "frameset", "frame"}
)  # fmt: skip

_GLOBAL = {"id", "class", "title", "lang", "dir", "style", "hidden", "align", "valign"}
_TABLE = {"width", "height", "border", "cellpadding", "cellspacing", "bgcolor", "colspan",
          "rowspan", "scope", "headers", "span", "summary", "nowrap"}  # fmt: skip
ATTRIBUTES: dict[str, set[str]] = {
    "*": _GLOBAL,
    "a": {"href", "name"},
    "area": {"href", "alt", "shape", "coords"},
    "map": {"name"},
    "img": {"src", "alt", "width", "height", "border", "hspace", "vspace", "usemap"},
    "video": {"src", "poster", "controls", "width", "height", "loop", "muted", "preload"},
    "audio": {"src", "controls", "loop", "muted", "preload"},
    "source": {"src", "type", "media"},
    "track": {"src", "kind", "srclang", "label", "default"},
    "link": {"rel", "href", "media", "type"},
    "meta": {"name", "content"},
    "form": {"action", "method"},
    "input": {"type", "name", "value", "placeholder", "size", "maxlength", "checked",
              "disabled", "readonly", "src", "alt", "width", "height", "min", "max", "step"},
    "button": {"type", "name", "value", "disabled"},
    "select": {"name", "multiple", "size", "disabled"},
    "option": {"value", "selected", "disabled", "label"},
    "optgroup": {"label", "disabled"},
    "textarea": {"name", "rows", "cols", "disabled", "readonly", "placeholder", "maxlength"},
    "label": {"for"},
    "ol": {"start", "reversed", "type"},
    "ul": {"type"},
    "li": {"value", "type"},
    "font": {"color", "face", "size"},
    "details": {"open"},
    "time": {"datetime"},
    "data": {"value"},
    "del": {"datetime"},
    "ins": {"datetime"},
    "bdo": set(),
    "progress": {"value", "max"},
    "meter": {"value", "min", "max", "low", "high", "optimum"},
    "hr": {"width", "size", "noshade"},
    "pre": {"width"},
    **{t: set(_TABLE) for t in ("table", "caption", "thead", "tbody", "tfoot", "tr",
                                 "th", "td", "col", "colgroup")},
}  # fmt: skip

URL_ATTRIBUTES: dict[tuple[str, str], UrlUse] = {
    ("a", "href"): UrlUse.NAVIGATE,
    ("area", "href"): UrlUse.NAVIGATE,
    ("img", "src"): UrlUse.LOAD,
    ("input", "src"): UrlUse.LOAD,
    ("video", "src"): UrlUse.LOAD,
    ("video", "poster"): UrlUse.LOAD,
    ("audio", "src"): UrlUse.LOAD,
    ("source", "src"): UrlUse.LOAD,
    ("track", "src"): UrlUse.LOAD,
    ("link", "href"): UrlUse.LOAD,
    ("form", "action"): UrlUse.LOAD,
}

META_NAMES = frozenset({"viewport", "description", "keywords", "author", "generator"})

_VOID = frozenset({"br", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
                   "area", "col"})  # fmt: skip

# No whitespace after <body> or after </html>: the parser would put it in the body,
# and filtering a filtered page must give the same page.
DOCUMENT_HEAD = '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
DOCUMENT_TAIL = "</body></html>"


class PageRejected(ValueError):
    """The page is beyond what the filter will parse (size, nesting)."""


_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)")
# End tags the parser may infer: left open in real pages, so not counted.
_OPTIONAL_END = frozenset(
    {"p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "option",
     "optgroup", "rt", "rp", "colgroup", "caption", "html", "head", "body"}
)  # fmt: skip


def nesting_estimate(text: str) -> int:
    """An upper bound on element depth: open tags minus close tags, at most."""
    depth = deepest = 0
    for m in _TAG.finditer(text):
        name = m.group(2).lower()
        if name in _VOID or name in _OPTIONAL_END:
            continue
        if m.group(1):
            depth = max(0, depth - 1)
        else:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def _attribute_filter(base_path: str):  # type: ignore[no-untyped-def]
    def keep(tag: str, attr: str, value: str) -> str | None:
        try:
            return _filter_attribute(tag, attr, value, base_path)
        except Exception:  # never let nh3 report an exception; dropping is the safe answer
            return None

    return keep


def _filter_attribute(tag: str, attr: str, value: str, base_path: str) -> str | None:
    if attr.startswith("on"):
        return None
    use = URL_ATTRIBUTES.get((tag, attr))
    if use is not None:
        return rewrite_url(value, base_path=base_path, use=use)
    if attr == "style":
        try:
            css = filter_style_attribute(value, base_path=base_path)
        except CSSTooLarge:
            return None
        return css or None
    if tag == "link" and attr == "rel":
        return "stylesheet" if value.lower().split() == ["stylesheet"] else None
    if tag == "form" and attr == "method":
        return "get" if value.strip().lower() == "get" else None
    if tag == "meta" and attr == "name":
        name = value.strip().lower()
        return name if name in META_NAMES else None
    if tag == "img" and attr == "usemap":
        return value if value.startswith("#") else None
    return value


def _escape_attribute(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def _escape_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Reserializer(HTMLParser):
    """Writes Ammonia's output back conservatively, filtering ``<style>`` text."""

    def __init__(self, base_path: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base_path = base_path
        self.out: list[str] = []
        self.style: list[str] | None = None

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]]) -> str:
        parts = [tag]
        for name, value in attrs:
            if name.startswith("on") or not name.replace("-", "").replace(":", "").isalnum():
                continue
            parts.append(name if value is None else f'{name}="{_escape_attribute(value)}"')
        return "<" + " ".join(parts) + ">"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            return
        names = {name for name, _ in attrs}
        if (tag == "meta" and "name" not in names) or (
            tag == "link" and not {"rel", "href"} <= names
        ):
            return  # inert leftovers: a meta without a name, a link without rel and href
        self._flush_style()
        self.out.append(self._tag(tag, attrs))
        if tag == "style":
            self.style = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag not in ALLOWED_TAGS or tag in _VOID:
            return
        self._flush_style()
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self.style is not None:
            self.style.append(data)
        else:
            self.out.append(_escape_text(data))

    def _flush_style(self) -> None:
        if self.style is None:
            return
        text, self.style = "".join(self.style), None
        try:
            css = filter_stylesheet(text, base_path=self.base_path)
        except CSSTooLarge:
            css = ""
        assert "</" not in css and "<!--" not in css
        self.out.append(css)

    def finish(self) -> str:
        self.close()
        if self.style is not None:
            self._flush_style()
            self.out.append("</style>")
        return "".join(self.out)


def sanitize_fragment(text: str, *, base_path: str) -> str:
    """The body of a filtered page: allowed markup only, references rewritten.

    Raises:
        PageRejected: the text is longer or nested deeper than the limits.
    """
    if len(text) > MAX_HTML_CHARS:
        raise PageRejected(f"the page is longer than {MAX_HTML_CHARS} characters")
    if nesting_estimate(text) > MAX_NESTING_ESTIMATE:
        raise PageRejected(f"the page nests elements more than {MAX_NESTING_ESTIMATE} deep")
    cleaned = nh3.clean(
        text,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(CLEAN_CONTENT_TAGS),
        attributes={k: set(v) for k, v in ATTRIBUTES.items()},
        attribute_filter=_attribute_filter(base_path),
        url_schemes=set(EXTERNAL_SCHEMES),
        strip_comments=True,
        link_rel=None,
        generic_attribute_prefixes={"data-"},
    )
    writer = _Reserializer(base_path)
    writer.feed(cleaned)
    return writer.finish()


def filter_html(text: str, *, base_path: str) -> str:
    """A whole page, filtered, as a UTF-8 document (the caller encodes it)."""
    return DOCUMENT_HEAD + sanitize_fragment(text, base_path=base_path) + DOCUMENT_TAIL
