"""A CSS tokenizer and serialiser after CSS Syntax Level 3, for the stylesheet filter.

Tokenizing the way the browser does is what makes the filter sound: escapes
(``\\75 rl(``) are resolved into token values, comments (``u/**/rl(``) end
tokens, and ``url(`` is recognised with or without quotes, so every check sees
what the browser will see. The serialiser writes tokens back in a canonical
form: identifiers and strings re-escaped, an empty comment wherever two tokens
would otherwise run together, and no ``<`` that could close an HTML ``<style>``
element. ``tokenize(serialize(tokens))`` gives the same tokens back (a tested
property), so what was checked is what the browser reads.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

MAX_CSS_LENGTH = 4 * 1024 * 1024  # characters; a stylesheet is never near this
MAX_TOKENS = 1_000_000  # bounds memory on hostile input


class Kind(enum.Enum):
    IDENT = "ident"
    FUNCTION = "function"
    AT_KEYWORD = "at-keyword"
    HASH = "hash"
    STRING = "string"
    BAD_STRING = "bad-string"
    URL = "url"
    BAD_URL = "bad-url"
    DELIM = "delim"
    NUMBER = "number"
    PERCENTAGE = "percentage"
    DIMENSION = "dimension"
    WHITESPACE = "whitespace"
    CDO = "cdo"
    CDC = "cdc"
    COLON = ":"
    SEMICOLON = ";"
    COMMA = ","
    OPEN_SQUARE = "["
    CLOSE_SQUARE = "]"
    OPEN_PAREN = "("
    CLOSE_PAREN = ")"
    OPEN_CURLY = "{"
    CLOSE_CURLY = "}"


@dataclass(frozen=True, slots=True)
class Token:
    """One token. ``value`` is unescaped; ``number`` is a numeric token's own text."""

    kind: Kind
    value: str = ""
    number: str = ""


class CSSTooLarge(ValueError):
    """The stylesheet is beyond the filter's limits."""


_PUNCT = {
    ":": Kind.COLON,
    ";": Kind.SEMICOLON,
    ",": Kind.COMMA,
    "[": Kind.OPEN_SQUARE,
    "]": Kind.CLOSE_SQUARE,
    "(": Kind.OPEN_PAREN,
    ")": Kind.CLOSE_PAREN,
    "{": Kind.OPEN_CURLY,
    "}": Kind.CLOSE_CURLY,
}
_WS = " \t\n"
_HEX = "0123456789abcdefABCDEF"
_DIGITS = "0123456789"


def _is_name_start(c: str) -> bool:
    return (c.isascii() and (c.isalpha() or c == "_")) or (c != "" and ord(c) >= 0x80)


def _is_name(c: str) -> bool:
    return _is_name_start(c) or (c != "" and (c in _DIGITS or c == "-"))


def _non_printable(c: str) -> bool:
    o = ord(c)
    return o <= 8 or o == 0x0B or 0x0E <= o <= 0x1F or o == 0x7F


def preprocess(text: str) -> str:
    """Normalise newlines and NULs as the CSS input stream does."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")
    return text.replace("\x00", "\ufffd")


class _Tokenizer:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.n = len(text)

    def at(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < self.n else ""

    # --- the spec's small predicates ---
    def valid_escape(self, k: int = 0) -> bool:
        return self.at(k) == "\\" and self.at(k + 1) not in ("\n", "")

    def starts_ident(self, k: int = 0) -> bool:
        c = self.at(k)
        if c == "-":
            return (
                _is_name_start(self.at(k + 1)) or self.at(k + 1) == "-" or self.valid_escape(k + 1)
            )
        if _is_name_start(c):
            return True
        return self.valid_escape(k)

    def starts_number(self, k: int = 0) -> bool:
        c = self.at(k)
        if c in "+-" and c:
            n = self.at(k + 1)
            return (n != "" and n in _DIGITS) or (
                n == "." and self.at(k + 2) in _DIGITS and self.at(k + 2) != ""
            )
        if c == ".":
            return self.at(k + 1) != "" and self.at(k + 1) in _DIGITS
        return c != "" and c in _DIGITS

    # --- consumers ---
    def escape(self) -> str:
        # the backslash has been consumed
        c = self.at()
        if c == "":
            return "\ufffd"
        if c in _HEX:
            j = self.i
            while j < self.n and j - self.i < 6 and self.s[j] in _HEX:
                j += 1
            code = int(self.s[self.i : j], 16)
            self.i = j
            if self.at() in _WS and self.at() != "":
                self.i += 1
            if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
                return "\ufffd"
            return chr(code)
        self.i += 1
        return c

    def name(self) -> str:
        out: list[str] = []
        while True:
            c = self.at()
            if _is_name(c):
                out.append(c)
                self.i += 1
            elif self.valid_escape():
                self.i += 1
                out.append(self.escape())
            else:
                return "".join(out)

    def number(self) -> str:
        start = self.i
        if self.at() in ("+", "-") and self.at() != "":
            self.i += 1
        while self.at() != "" and self.at() in _DIGITS:
            self.i += 1
        if self.at() == "." and self.at(1) != "" and self.at(1) in _DIGITS:
            self.i += 2
            while self.at() != "" and self.at() in _DIGITS:
                self.i += 1
        if self.at() in ("e", "E") and self.at() != "":
            n = self.at(1)
            if n != "" and n in _DIGITS:
                self.i += 2
            elif n in ("+", "-") and n != "" and self.at(2) != "" and self.at(2) in _DIGITS:
                self.i += 3
            else:
                return self.s[start : self.i]
            while self.at() != "" and self.at() in _DIGITS:
                self.i += 1
        return self.s[start : self.i]

    def numeric(self) -> Token:
        num = self.number()
        if self.starts_ident():
            return Token(Kind.DIMENSION, self.name(), num)
        if self.at() == "%":
            self.i += 1
            return Token(Kind.PERCENTAGE, "", num)
        return Token(Kind.NUMBER, "", num)

    def string(self, quote: str) -> Token:
        out: list[str] = []
        while True:
            c = self.at()
            if c == "":
                return Token(Kind.STRING, "".join(out))
            self.i += 1
            if c == quote:
                return Token(Kind.STRING, "".join(out))
            if c == "\n":
                self.i -= 1
                return Token(Kind.BAD_STRING)
            if c == "\\":
                n = self.at()
                if n == "":
                    continue
                if n == "\n":
                    self.i += 1
                    continue
                out.append(self.escape())
            else:
                out.append(c)

    def bad_url_remnants(self) -> None:
        while True:
            c = self.at()
            if c == "":
                return
            self.i += 1
            if c == ")":
                return
            if c == "\\" and self.at() not in ("\n", ""):
                self.escape()

    def url(self) -> Token:
        while self.at() in _WS and self.at() != "":
            self.i += 1
        out: list[str] = []
        while True:
            c = self.at()
            if c == "":
                return Token(Kind.URL, "".join(out))
            self.i += 1
            if c == ")":
                return Token(Kind.URL, "".join(out))
            if c in _WS:
                while self.at() in _WS and self.at() != "":
                    self.i += 1
                if self.at() in (")", ""):
                    if self.at() == ")":
                        self.i += 1
                    return Token(Kind.URL, "".join(out))
                self.bad_url_remnants()
                return Token(Kind.BAD_URL)
            if c in "\"'(" or _non_printable(c):
                self.bad_url_remnants()
                return Token(Kind.BAD_URL)
            if c == "\\":
                if self.at() not in ("\n", ""):
                    out.append(self.escape())
                    continue
                self.bad_url_remnants()
                return Token(Kind.BAD_URL)
            out.append(c)

    def ident_like(self) -> Token:
        name = self.name()
        if name.lower() == "url" and self.at() == "(":
            self.i += 1
            while self.at() in _WS and self.at(1) in _WS and self.at() != "" and self.at(1) != "":
                self.i += 1
            nxt = self.at(1) if self.at() in _WS and self.at() != "" else self.at()
            if nxt in ("'", '"') and nxt != "":
                return Token(Kind.FUNCTION, name)
            return self.url()
        if self.at() == "(":
            self.i += 1
            return Token(Kind.FUNCTION, name)
        return Token(Kind.IDENT, name)

    def next(self) -> Token | None:
        # comments
        while self.at() == "/" and self.at(1) == "*":
            end = self.s.find("*/", self.i + 2)
            self.i = self.n if end < 0 else end + 2
        c = self.at()
        if c == "":
            return None
        if c in _WS:
            while self.at() in _WS and self.at() != "":
                self.i += 1
            return Token(Kind.WHITESPACE, " ")
        if c in ('"', "'"):
            self.i += 1
            return self.string(c)
        if c == "#":
            if _is_name(self.at(1)) or self.valid_escape(1):
                self.i += 1
                return Token(Kind.HASH, self.name())
            self.i += 1
            return Token(Kind.DELIM, c)
        if c in _PUNCT:
            self.i += 1
            return Token(_PUNCT[c])
        if c in "+.":
            if self.starts_number():
                return self.numeric()
            self.i += 1
            return Token(Kind.DELIM, c)
        if c == "-":
            if self.starts_number():
                return self.numeric()
            if self.at(1) == "-" and self.at(2) == ">":
                self.i += 3
                return Token(Kind.CDC)
            if self.starts_ident():
                return self.ident_like()
            self.i += 1
            return Token(Kind.DELIM, c)
        if c == "<" and self.s.startswith("!--", self.i + 1):
            self.i += 4
            return Token(Kind.CDO)
        if c == "@":
            if self.starts_ident(1):
                self.i += 1
                return Token(Kind.AT_KEYWORD, self.name())
            self.i += 1
            return Token(Kind.DELIM, c)
        if c == "\\":
            if self.valid_escape():
                return self.ident_like()
            self.i += 1
            return Token(Kind.DELIM, c)
        if c in _DIGITS:
            return self.numeric()
        if _is_name_start(c):
            return self.ident_like()
        self.i += 1
        return Token(Kind.DELIM, c)


def tokenize(text: str) -> list[Token]:
    """Tokenize a stylesheet (comments dropped); raise :class:`CSSTooLarge` past the limits."""
    if len(text) > MAX_CSS_LENGTH:
        raise CSSTooLarge(f"stylesheet longer than {MAX_CSS_LENGTH} characters")
    t = _Tokenizer(preprocess(text))
    out: list[Token] = []
    while (tok := t.next()) is not None:
        out.append(tok)
        if len(out) > MAX_TOKENS:
            raise CSSTooLarge(f"stylesheet of more than {MAX_TOKENS} tokens")
    return out


# ---------------------------------------------------------------- serialising


def _escape_code(c: str) -> str:
    return f"\\{ord(c):x} "


def serialize_ident(value: str) -> str:
    """An identifier that tokenizes back to ``value`` (an ident token, not a number)."""
    if value == "":
        return ""
    if value == "-":
        return "\\-"
    out: list[str] = []
    for i, c in enumerate(value):
        if c.isascii() and (c.isalnum() or c in "_-"):
            if c in _DIGITS and (i == 0 or (i == 1 and value[0] == "-")):
                out.append(_escape_code(c))
            else:
                out.append(c)
        elif ord(c) >= 0x80 and c != "\ufffd":
            out.append(c)
        else:
            out.append(_escape_code(c))
    return "".join(out)


def serialize_name(value: str) -> str:
    """The name part of a hash token."""
    out: list[str] = []
    for c in value:
        if (c.isascii() and (c.isalnum() or c in "_-")) or (ord(c) >= 0x80 and c != "\ufffd"):
            out.append(c)
        else:
            out.append(_escape_code(c))
    return "".join(out)


def serialize_string(value: str) -> str:
    """A double-quoted string; quotes, backslashes, controls and ``<>&`` escaped."""
    out = ['"']
    for c in value:
        if c in '"\\<>&' or _non_printable(c) or c in "\n\t" or c == "\ufffd":
            out.append(_escape_code(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def serialize_unit(unit: str) -> str:
    """A dimension's unit: an identifier that cannot be read as an exponent."""
    s = serialize_ident(unit)
    if s[:1] in ("e", "E") and (unit[1:2].isdigit() or unit[1:2] in ("+", "-")):
        s = _escape_code(s[0]) + s[1:]
    return s


def _token_text(tok: Token) -> str:
    k = tok.kind
    if k is Kind.IDENT:
        return serialize_ident(tok.value)
    if k is Kind.FUNCTION:
        return serialize_ident(tok.value) + "("
    if k is Kind.AT_KEYWORD:
        return "@" + serialize_ident(tok.value)
    if k is Kind.HASH:
        return "#" + serialize_name(tok.value)
    if k is Kind.STRING:
        return serialize_string(tok.value)
    if k is Kind.URL:
        return "url(" + serialize_string(tok.value) + ")"
    if k is Kind.NUMBER:
        return tok.number
    if k is Kind.PERCENTAGE:
        return tok.number + "%"
    if k is Kind.DIMENSION:
        return tok.number + serialize_unit(tok.value)
    if k is Kind.WHITESPACE:
        return "\n" if tok.value == "\n" else " "
    if k is Kind.DELIM:
        return "" if tok.value == "\\" else tok.value
    if k in (Kind.BAD_STRING, Kind.BAD_URL, Kind.CDO, Kind.CDC):
        return ""  # never kept by the filter; written as nothing if they were
    return str(k.value)


_AFTER_WORD = frozenset(
    {Kind.IDENT, Kind.FUNCTION, Kind.URL, Kind.BAD_URL, Kind.NUMBER, Kind.PERCENTAGE,
     Kind.DIMENSION, Kind.CDC}
)  # fmt: skip


def _is_delim(tok: Token, chars: str) -> bool:
    return tok.kind is Kind.DELIM and tok.value != "" and tok.value in chars


def _needs_separator(a: Token, b: Token) -> bool:
    """Whether writing ``a`` then ``b`` could tokenize differently (CSSOM's table).

    An empty comment goes between them when it does: comments end tokens and
    are not whitespace, so selectors keep their meaning.
    """
    ka = a.kind
    if ka is Kind.IDENT:  # ">" too: an identifier "--" then ">" would read as "-->"
        return b.kind in _AFTER_WORD or _is_delim(b, "->") or b.kind is Kind.OPEN_PAREN
    if ka in (Kind.AT_KEYWORD, Kind.HASH, Kind.DIMENSION) or _is_delim(a, "#-"):
        return b.kind in _AFTER_WORD or _is_delim(b, "-")
    if ka is Kind.NUMBER:
        return b.kind in _AFTER_WORD or _is_delim(b, "%")
    if _is_delim(a, "@"):
        return b.kind in (Kind.IDENT, Kind.FUNCTION, Kind.URL, Kind.BAD_URL) or _is_delim(b, "-")
    if _is_delim(a, ".+"):
        return b.kind in (Kind.NUMBER, Kind.PERCENTAGE, Kind.DIMENSION)
    if _is_delim(a, "/"):
        return _is_delim(b, "*")
    return False


def serialize(tokens: list[Token]) -> str:
    """Write tokens back so that they tokenize to the same list (less comments).

    One shape cannot round-trip and the filter never produces it: a ``url(``
    function whose first argument is not a string reads back as a URL token.
    """
    out: list[str] = []
    prev: Token | None = None
    for tok in tokens:
        text = _token_text(tok)
        if not text:
            continue
        if prev is not None and _needs_separator(prev, tok):
            text = "/**/" + text
        if prev is not None and prev.kind is Kind.DELIM and prev.value == "<" and text[0] in "/!":
            text = " " + text  # never "</" (ends a <style> element) nor "<!--"
        out.append(text)
        prev = tok
    return "".join(out)
