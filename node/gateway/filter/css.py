"""The CSS filter: stylesheets, ``<style>`` contents and ``style=`` attributes.

Theory of operation: the text is tokenized as the browser would
(:mod:`.css_tokens`, escapes and comments resolved), grouped into component
values (blocks and functions nest), parsed into rules and declarations, and
each piece is kept, rewritten or dropped:

- ``url()`` (token or function, quoted or not), ``src()``, and the strings
  inside ``image-set()``/``-webkit-image-set()`` are references: each goes
  through :func:`.links.rewrite_url` as a load; a reference that cannot be made
  a gateway path drops the whole declaration (or at-rule).
- Functions in values come from an allow-list (colours, maths, gradients,
  transforms, filters, ``var()``, font ``local()``/``format()``). Anything else
  — ``expression()``, ``image()``, ``element()``, ``cross-fade()``, ``attr()``,
  ``paint()`` — drops the declaration, as does ``var()`` inside an
  ``image-set()`` (a custom property could hold an outside address as a string).
- ``behavior``, ``-moz-binding``, ``-ms-filter`` and the like are dropped.
- ``@import`` is kept only with a gateway reference; ``@charset``,
  ``@namespace`` and unknown at-rules are dropped; ``@media``, ``@supports``,
  ``@layer``, ``@container``, ``@scope``, ``@keyframes``, ``@font-face``,
  ``@page``, ``@property``, ``@counter-style`` are filtered recursively.
- Bad strings, bad URLs and lone backslashes drop their declaration or rule:
  the browser's error recovery is not something to second-guess.

Escapes are normalised, not rejected: checks see unescaped token values, and
the output is re-serialised from tokens, so an escape in the input never
reaches the browser as written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from node.gateway.filter.css_tokens import CSSTooLarge, Kind, Token, serialize, tokenize
from node.gateway.filter.links import UrlUse, rewrite_url

MAX_NESTING = 64  # blocks inside blocks; real stylesheets nest a handful deep

FUNCTIONS_ALLOWED = frozenset(
    [
        "rgb",
        "rgba",
        "hsl",
        "hsla",
        "hwb",
        "lab",
        "lch",
        "oklab",
        "oklch",
        "color",
        "color-mix",
        "light-dark",
        "device-cmyk",
        "calc",
        "min",
        "max",
        "clamp",
        "round",
        "mod",
        "rem",
        "abs",
        "sign",
        "sin",
        "cos",
        "tan",
        "asin",
        "acos",
        "atan",
        "atan2",
        "pow",
        "sqrt",
        "hypot",
        "log",
        "exp",
        "var",
        "linear-gradient",
        "radial-gradient",
        "conic-gradient",
        "repeating-linear-gradient",
        "repeating-radial-gradient",
        "repeating-conic-gradient",
        "gradient",
        "from",
        "to",
        "color-stop",
        "translate",
        "translatex",
        "translatey",
        "translatez",
        "translate3d",
        "rotate",
        "rotatex",
        "rotatey",
        "rotatez",
        "rotate3d",
        "scale",
        "scalex",
        "scaley",
        "scalez",
        "scale3d",
        "skew",
        "skewx",
        "skewy",
        "matrix",
        "matrix3d",
        "perspective",
        "cubic-bezier",
        "steps",
        "linear",
        "blur",
        "brightness",
        "contrast",
        "drop-shadow",
        "grayscale",
        "hue-rotate",
        "invert",
        "opacity",
        "saturate",
        "sepia",
        "counter",
        "counters",
        "format",
        "local",
        "tech",
        "rect",
        "inset",
        "circle",
        "ellipse",
        "polygon",
        "xywh",
        "minmax",
        "repeat",
        "fit-content",
    ]
)
# Reference-carrying functions: checked as references, not by the allow-list.
_URL_FUNCTIONS = frozenset({"url", "src"})
_IMAGE_SET = frozenset({"image-set"})
# Functions that may appear in at-rule preludes and selectors but never load.
_PRELUDE_DENIED = frozenset(
    {"url", "src", "image-set", "image", "expression", "element", "cross-fade", "attr", "paint"}
)
_PRELUDE_TOKENS_DENIED = frozenset(
    {Kind.URL, Kind.BAD_URL, Kind.BAD_STRING, Kind.CDO, Kind.CDC, Kind.AT_KEYWORD, Kind.SEMICOLON}
)
PROPERTIES_DENIED = frozenset(
    {"behavior", "-ms-behavior", "-moz-binding", "binding", "-ms-filter", "-o-link",
     "-o-link-source"}
)  # fmt: skip
_VENDOR_PREFIXES = ("-webkit-", "-moz-", "-ms-", "-o-")

# At-rules whose block holds rules, and those whose block holds declarations.
_RULE_BLOCK_AT_RULES = frozenset(
    {"media", "supports", "layer", "container", "scope", "starting-style", "keyframes"}
)
_DECLARATION_AT_RULES = frozenset(
    {"font-face", "page", "property", "counter-style", "font-palette-values",
     "top-left-corner", "top-left", "top-center", "top-right", "top-right-corner",
     "bottom-left-corner", "bottom-left", "bottom-center", "bottom-right",
     "bottom-right-corner", "left-top", "left-middle", "left-bottom", "right-top",
     "right-middle", "right-bottom"}
)  # fmt: skip


@dataclass(slots=True)
class Block:
    """A ``{}``, ``[]`` or ``()`` block, or a function (``name`` set)."""

    open: Kind
    name: str | None = None  # a function's name (unescaped)
    content: list[Value] = field(default_factory=list)


Value = Token | Block

_CLOSERS = {Kind.OPEN_CURLY: Kind.CLOSE_CURLY, Kind.OPEN_SQUARE: Kind.CLOSE_SQUARE,
            Kind.OPEN_PAREN: Kind.CLOSE_PAREN, Kind.FUNCTION: Kind.CLOSE_PAREN}  # fmt: skip


def component_values(tokens: list[Token]) -> list[Value]:
    """Group tokens into nested blocks (unclosed blocks close at the end)."""
    root = Block(Kind.OPEN_CURLY)
    stack = [root]
    for tok in tokens:
        top = stack[-1]
        if tok.kind in _CLOSERS:
            if len(stack) > MAX_NESTING:
                raise CSSTooLarge(f"blocks nested more than {MAX_NESTING} deep")
            block = Block(tok.kind, tok.value if tok.kind is Kind.FUNCTION else None)
            top.content.append(block)
            stack.append(block)
        elif len(stack) > 1 and tok.kind is _CLOSERS[top.open]:
            stack.pop()
        else:
            top.content.append(tok)
    return root.content


def _to_tokens(values: list[Value], out: list[Token]) -> None:
    for v in values:
        if isinstance(v, Token):
            out.append(v)
        else:
            out.append(Token(v.open, v.name or ""))
            _to_tokens(v.content, out)
            out.append(Token(_CLOSERS[v.open]))


def _base_name(name: str) -> str:
    lowered = name.lower()
    for prefix in _VENDOR_PREFIXES:
        if lowered.startswith(prefix):
            return lowered[len(prefix) :]
    return lowered


def _is_ws(v: Value) -> bool:
    return isinstance(v, Token) and v.kind is Kind.WHITESPACE


def _strip_ws(values: list[Value]) -> list[Value]:
    start, end = 0, len(values)
    while start < end and _is_ws(values[start]):
        start += 1
    while end > start and _is_ws(values[end - 1]):
        end -= 1
    return values[start:end]


class _Filter:
    def __init__(self, base_path: str) -> None:
        self.base_path = base_path

    def reference(self, url: str) -> str | None:
        return rewrite_url(url, base_path=self.base_path, use=UrlUse.LOAD)

    # ---- values -------------------------------------------------------
    def value(self, values: list[Value]) -> list[Value] | None:
        """A declaration value with references rewritten, or ``None`` to drop it."""
        out: list[Value] = []
        for v in values:
            if isinstance(v, Token):
                if v.kind in (Kind.BAD_URL, Kind.BAD_STRING, Kind.CDO, Kind.CDC):
                    return None
                if v.kind is Kind.DELIM and v.value == "\\":
                    return None
                if v.kind is Kind.URL:
                    new = self.reference(v.value)
                    if new is None:
                        return None
                    out.append(Token(Kind.URL, new))
                    continue
                out.append(v)
                continue
            kept = self.block(v)
            if kept is None:
                return None
            out.append(kept)
        return out

    def block(self, v: Block) -> Block | None:
        if v.name is None:
            inner = self.value(v.content)
            return None if inner is None else Block(v.open, None, inner)
        name = _base_name(v.name)
        if name in _URL_FUNCTIONS:
            args = _strip_ws(v.content)
            if len(args) != 1 or not isinstance(args[0], Token) or args[0].kind is not Kind.STRING:
                return None
            new = self.reference(args[0].value)
            return None if new is None else Block(Kind.FUNCTION, "url", [Token(Kind.STRING, new)])
        if name in _IMAGE_SET:
            return self.image_set(v)
        if name not in FUNCTIONS_ALLOWED:
            return None
        inner = self.value(v.content)
        return None if inner is None else Block(v.open, v.name, inner)

    def image_set(self, v: Block) -> Block | None:
        out: list[Value] = []
        for item in v.content:
            if isinstance(item, Block):
                if item.name is not None and _base_name(item.name) == "type":
                    args = _strip_ws(item.content)
                    if (
                        len(args) == 1
                        and isinstance(args[0], Token)
                        and args[0].kind is Kind.STRING
                    ):
                        out.append(item)
                        continue
                    return None
                if item.name is not None and _base_name(item.name) in _URL_FUNCTIONS:
                    kept = self.block(item)
                    if kept is None:
                        return None
                    out.append(kept)
                    continue
                return None  # var(), nested sets, anything that could hide an address
            if item.kind is Kind.STRING:
                new = self.reference(item.value)
                if new is None:
                    return None
                out.append(Token(Kind.STRING, new))
            elif item.kind is Kind.URL:
                new = self.reference(item.value)
                if new is None:
                    return None
                out.append(Token(Kind.URL, new))
            elif item.kind in (Kind.WHITESPACE, Kind.COMMA, Kind.NUMBER, Kind.DIMENSION):
                out.append(item)
            else:
                return None
        return Block(Kind.FUNCTION, v.name, out)

    def prelude_ok(self, values: list[Value]) -> bool:
        """Selectors and at-rule preludes: they name things, they never load."""
        for v in values:
            if isinstance(v, Token):
                if v.kind in _PRELUDE_TOKENS_DENIED:
                    return False  # no valid selector or condition holds these
                if v.kind is Kind.DELIM and v.value == "\\":
                    return False
                continue
            if v.name is not None and _base_name(v.name) in _PRELUDE_DENIED:
                return False
            if not self.prelude_ok(v.content):
                return False
        return True

    # ---- declarations and rules ---------------------------------------
    def declaration(self, item: list[Value]) -> list[Value] | None:
        item = _strip_ws(item)
        if not item or not isinstance(item[0], Token) or item[0].kind is not Kind.IDENT:
            return None
        name = item[0].value
        rest = _strip_ws(item[1:])
        if not rest or not isinstance(rest[0], Token) or rest[0].kind is not Kind.COLON:
            return None
        base = _base_name(name)
        if name.lower() in PROPERTIES_DENIED or "binding" in base or "behavior" in base:
            return None
        value = self.value(rest[1:])
        if value is None:
            return None
        return [Token(Kind.IDENT, name), Token(Kind.COLON), *value]

    def declarations(self, values: list[Value], *, nested: bool) -> list[Value]:
        """A block's contents: declarations, and nested rules when ``nested``."""
        out: list[Value] = []
        i, n = 0, len(values)
        while i < n:
            v = values[i]
            if _is_ws(v) or (isinstance(v, Token) and v.kind is Kind.SEMICOLON):
                i += 1
                continue
            j = i
            while j < n:
                w = values[j]
                if isinstance(w, Token) and w.kind is Kind.SEMICOLON:
                    break
                if isinstance(w, Block) and w.open is Kind.OPEN_CURLY and w.name is None:
                    break
                j += 1
            if j < n and isinstance(values[j], Block):  # a nested rule or at-rule with a block
                if nested:
                    rule = self.rule(values[i : j + 1], top_level=False)
                    if rule:
                        out.extend(rule)
                i = j + 1
                continue
            item = values[i:j]
            if isinstance(v, Token) and v.kind is Kind.AT_KEYWORD:
                if nested:
                    out.extend(self.at_rule(v.value, item[1:], None, top_level=False))
            else:
                decl = self.declaration(item)
                if decl is not None:
                    out.extend(decl)
                    out.append(Token(Kind.SEMICOLON))
            i = j + 1
        return out

    def rule(self, item: list[Value], *, top_level: bool) -> list[Value]:
        """One rule: prelude then ``{}`` block (the block is ``item[-1]``)."""
        block = item[-1]
        assert isinstance(block, Block)
        first = _strip_ws(item[:-1])
        if first and isinstance(first[0], Token) and first[0].kind is Kind.AT_KEYWORD:
            return self.at_rule(first[0].value, first[1:], block, top_level=top_level)
        prelude = _strip_ws(item[:-1])
        if not prelude or not self.prelude_ok(prelude):
            return []
        body = self.declarations(block.content, nested=True)
        return [*prelude, Block(Kind.OPEN_CURLY, None, body), Token(Kind.WHITESPACE, "\n")]

    def at_rule(
        self, name: str, prelude: list[Value], block: Block | None, *, top_level: bool
    ) -> list[Value]:
        base = _base_name(name)
        prelude = _strip_ws(prelude)
        if base == "import":
            return self.import_rule(name, prelude) if top_level and block is None else []
        if not self.prelude_ok(prelude):
            return []
        head: list[Value] = [Token(Kind.AT_KEYWORD, name)]
        if prelude:
            head += [Token(Kind.WHITESPACE, " "), *prelude]
        if block is None:
            if base == "layer":
                return [*head, Token(Kind.SEMICOLON), Token(Kind.WHITESPACE, "\n")]
            return []
        if base in _RULE_BLOCK_AT_RULES:
            body = self.rules(block.content, top_level=False)
        elif base in _DECLARATION_AT_RULES:
            body = self.declarations(block.content, nested=base == "page")
        else:
            return []
        return [*head, Block(Kind.OPEN_CURLY, None, body), Token(Kind.WHITESPACE, "\n")]

    def import_rule(self, name: str, prelude: list[Value]) -> list[Value]:
        if not prelude:
            return []
        target, rest = prelude[0], prelude[1:]
        url: str | None = None
        if isinstance(target, Token) and target.kind in (Kind.STRING, Kind.URL):
            url = target.value
        elif isinstance(target, Block) and target.name is not None:
            args = _strip_ws(target.content)
            if (
                _base_name(target.name) in _URL_FUNCTIONS
                and len(args) == 1
                and isinstance(args[0], Token)
                and args[0].kind is Kind.STRING
            ):
                url = args[0].value
        new_url = None if url is None else self.reference(url)
        if new_url is None:
            return []
        head: list[Value] = [
            Token(Kind.AT_KEYWORD, name),
            Token(Kind.WHITESPACE, " "),
            Token(Kind.URL, new_url),
        ]
        return self._import_tail(head, rest)

    def _import_tail(self, head: list[Value], rest: list[Value]) -> list[Value]:
        # media queries, layer(name), supports(): name things, never load
        if not self.prelude_ok(rest):
            return []
        return [*head, *rest, Token(Kind.SEMICOLON), Token(Kind.WHITESPACE, "\n")]

    def rules(self, values: list[Value], *, top_level: bool) -> list[Value]:
        out: list[Value] = []
        i, n = 0, len(values)
        while i < n:
            v = values[i]
            if isinstance(v, Token) and v.kind in (Kind.WHITESPACE, Kind.CDO, Kind.CDC):
                i += 1
                continue
            is_at = isinstance(v, Token) and v.kind is Kind.AT_KEYWORD
            j = i
            while j < n:
                w = values[j]
                if isinstance(w, Block) and w.open is Kind.OPEN_CURLY and w.name is None:
                    break
                if is_at and isinstance(w, Token) and w.kind is Kind.SEMICOLON:
                    break
                j += 1
            if j >= n:
                if is_at and isinstance(v, Token):  # at-rule ended by the end of input
                    out.extend(self.at_rule(v.value, values[i + 1 : j], None, top_level=top_level))
                break
            end = values[j]
            if isinstance(end, Block):
                out.extend(self.rule(values[i : j + 1], top_level=top_level))
            elif is_at and isinstance(v, Token):
                out.extend(self.at_rule(v.value, values[i + 1 : j], None, top_level=top_level))
            i = j + 1
        return out


def _serialize(values: list[Value]) -> str:
    tokens: list[Token] = []
    _to_tokens(values, tokens)
    return serialize(tokens)


def filter_stylesheet(text: str, *, base_path: str) -> str:
    """A stylesheet (a ``.css`` file or a ``<style>`` element's text), filtered.

    Raises:
        CSSTooLarge: the stylesheet is past the filter's limits.
    """
    values = component_values(tokenize(text))
    return _serialize(_Filter(base_path).rules(values, top_level=True))


def filter_style_attribute(text: str, *, base_path: str) -> str:
    """A ``style=`` attribute's declarations, filtered (nested rules dropped).

    Raises:
        CSSTooLarge: the value is past the filter's limits.
    """
    values = component_values(tokenize(text))
    return _serialize(_Filter(base_path).declarations(values, nested=False))
