"""An independent leak checker: does filtered output keep every reference inside the gateway?

Written apart from the filter on purpose (its own CSS scanner, its own idea of
a safe reference) so that a mistake in the filter is not repeated here. A
reference is safe when it is a fragment (``#x``), the external-link warning
route, or an absolute path whose first segment is a key (``/CHK@…``), with no
``//``, backslash, control character or dot segment that could move it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import unquote

WARNING_PREFIX = "/external-link?url="
KEY_PREFIXES = ("CHK@", "SSK@", "USK@", "KSK@")

# Attributes that make a browser load or navigate, on any element.
URL_ATTRIBUTES = frozenset(
    {"href", "src", "action", "formaction", "poster", "background", "ping", "srcset",
     "imagesrcset", "lowsrc", "dynsrc", "data", "codebase", "cite", "longdesc", "classid",
     "archive", "manifest", "icon", "profile", "xlink:href", "srcdoc", "itemtype"}
)  # fmt: skip
FORBIDDEN_TAGS = frozenset(
    {"script", "iframe", "object", "embed", "applet", "base", "frame", "frameset", "svg",
     "math", "noscript", "template", "portal", "xmp", "plaintext", "noembed", "noframes",
     "image", "use", "param", "bgsound", "isindex"}
)  # fmt: skip


class Leak(AssertionError):
    """The output can make the browser reach outside the gateway."""


def safe_reference(value: str) -> bool:
    v = value.strip("".join(chr(c) for c in range(0x21)))
    if v != value or any(c in v for c in "\t\n\r\\") or not v:
        return False
    if v.startswith("#"):
        return True
    if v.startswith(WARNING_PREFIX):
        return "#" not in v and "/" not in v[len(WARNING_PREFIX) :]
    if not v.startswith("/") or v.startswith("//"):
        return False
    path = v.partition("#")[0]
    if "?" in path:
        return False
    segments = unquote(path)[1:].split("/")
    if not segments[0].startswith(KEY_PREFIXES):
        return False
    return not any(s.lower() in (".", "..") for s in path.split("/"))


# --------------------------------------------------------------------- CSS


def _unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        hexa = m.group(1)
        if hexa:
            code = int(hexa, 16)
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        return m.group(2)

    return re.sub(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n]?|(.))", one, text, flags=re.S)


def css_references(css: str) -> list[str]:
    """Every reference a browser could load from ``css``; raises Leak on script-like CSS."""
    refs: list[str] = []
    stack: list[str] = []
    i, n = 0, len(css)
    after_import = False
    while i < n:
        if css.startswith("/*", i):
            end = css.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        c = css[i]
        if c in "\"'":
            j = i + 1
            while j < n and css[j] != c:
                j += 2 if css[j] == "\\" else 1
            text = _unescape(css[i + 1 : j])
            if after_import or (stack and stack[-1] in ("image-set", "-webkit-image-set", "src",
                                                        "url", "image")):  # fmt: skip
                refs.append(text)
            after_import = False
            i = j + 1
            continue
        m = re.compile(r"(?:[-_a-zA-Z0-9]|\\[0-9a-fA-F]{1,6}[ \t\n]?|\\.|[^\x00-\x7f])+").match(
            css, i
        )
        if m and m.end() > i:
            word = _unescape(m.group(0)).lower()
            j = m.end()
            if word in ("expression", "behavior", "-moz-binding", "-ms-behavior", "binding"):
                raise Leak(f"script-capable CSS: {word}")
            if j < n and css[j] == "(":
                if word == "url":
                    k = j + 1
                    while k < n and css[k] in " \t\n":
                        k += 1
                    if k < n and css[k] not in "\"'":
                        end = css.find(")", k)
                        end = n if end < 0 else end
                        refs.append(_unescape(css[k:end]).strip())
                        i = end + 1
                        continue
                stack.append(word)
                i = j + 1
                continue
            i = j
            continue
        if c == "@":
            m2 = re.compile(r"@((?:[-_a-zA-Z0-9]|\\[0-9a-fA-F]{1,6}[ \t\n]?|\\.)+)").match(css, i)
            if m2:
                name = _unescape(m2.group(1)).lower()
                if name == "import":
                    after_import = True
                i = m2.end()
                continue
        if c == "(":
            stack.append("(")
        elif c == ")" and stack:
            stack.pop()
        i += 1
    return refs


def check_css(css: str) -> None:
    for ref in css_references(css):
        if not safe_reference(ref):
            raise Leak(f"CSS reference leaves the gateway: {ref!r}")


# -------------------------------------------------------------------- HTML


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.in_style = False
        self.style: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in FORBIDDEN_TAGS:
            raise Leak(f"forbidden element <{tag}>")
        names = {k: v for k, v in attrs}
        if tag == "meta" and "http-equiv" in names:
            raise Leak("meta http-equiv")
        if tag == "link" and (names.get("rel") or "").lower().split() not in ([], ["stylesheet"]):
            raise Leak(f"link rel={names.get('rel')!r}")
        for name, value in attrs:
            if name in ("srcset", "imagesrcset"):
                raise Leak(f"{name}: candidate lists are never written by the filter")
            if name.startswith("on"):
                raise Leak(f"event handler {name}")
            if name in URL_ATTRIBUTES and not safe_reference(value or ""):
                raise Leak(f"<{tag} {name}={value!r}> leaves the gateway")
            if name == "style" and value:
                check_css(value)
        if tag == "style":
            self.in_style = True

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self.in_style:
            check_css("".join(self.style))
            self.style = []
            self.in_style = False

    def handle_data(self, data: str) -> None:
        if self.in_style:
            self.style.append(data)


def check_html(html: str) -> None:
    """Raise :class:`Leak` if ``html`` can reach outside the gateway."""
    checker = _Checker()
    checker.feed(html)
    checker.close()
    if checker.in_style:
        check_css("".join(checker.style))
