"""FCP 2.0 framing, sans-I/O: an incremental message parser, a serializer and field helpers.

Theory of operation. An FCP message is a name line, ``Field=Value`` lines (split
on the first ``=``), and a terminator: ``EndMessage`` (or ``End``), or ``Data``
followed by exactly ``DataLength`` raw bytes. Lines end in ``\\n``; a ``\\r``
before it is dropped. Text is UTF-8. :class:`FCPParser` does no I/O: bytes in
(:meth:`FCPParser.receive_data`), messages out (:meth:`FCPParser.next_message`),
or both at once with :meth:`FCPParser.feed`.

Errors are :class:`FCPProtocolError` carrying a ProtocolError ``code``. A
*non-fatal* error (an undecodable or ``=``-less line, a payload over the cap)
spoils one message only: the parser skips to that message's end and goes on,
so the connection stays usable. A *fatal* error (an over-long line, too many
fields, an unreadable ``DataLength``, binary junk or a field where a message
name belongs) leaves the byte stream out of step, and
the parser stays failed: close the connection.

Payloads are gathered in one ``bytearray`` that grows by appending, so a 64 MiB
``ClientPut`` costs O(n) copying, not O(n^2); the header buffer is compacted
only once its consumed prefix is large.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from node.fcp.codes import ProtocolErrorCode, protocol_error_text

# A line is a message name, a field or a terminator. The longest legitimate
# ones are keys (at most 4096 characters, see crypto.uri.MAX_URI_LENGTH) and
# file paths (PATH_MAX is 4096 bytes on Linux); 32 KiB leaves room for both
# while bounding what one connection can make us buffer before a newline.
MAX_LINE_LENGTH = 32 * 1024
# A ClientPutComplexDir carries about five fields per file; 20,000 fields is
# 4,000 files, beyond any site we have seen, and bounds a header to
# MAX_FIELDS * MAX_LINE_LENGTH bytes in the worst case.
MAX_FIELDS = 20_000
# Direct payloads are held in memory until the message is complete. 2 GiB is
# far above anything sensible to send inline (clients use UploadFrom=disk for
# big files) and is the node's to lower; a payload over the cap is skipped.
MAX_DATA_LENGTH = 2 * 1024**3
# Compact the header buffer once this much of it has been consumed.
_COMPACT_AT = 64 * 1024

_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*\Z")
_END_MARKERS = frozenset({"EndMessage", "End"})
_TRUE = "true"
_FALSE = "false"


class FCPProtocolError(Exception):
    """Something an FCP peer sent (or we were asked to send) breaks the protocol.

    ``code`` is a ProtocolError code; ``fatal`` means the connection cannot
    continue. ``identifier`` and ``global_`` name the request when known, so the
    ProtocolError reply can carry them.
    """

    def __init__(
        self,
        code: int,
        description: str = "",
        *,
        fatal: bool = False,
        identifier: str | None = None,
        global_: bool = False,
    ) -> None:
        self.code = int(code)
        self.description = description or protocol_error_text(self.code)
        self.fatal = fatal
        self.identifier = identifier
        self.global_ = global_
        super().__init__(f"FCP protocol error {self.code}: {self.description}")


@dataclass(frozen=True, slots=True)
class FCPMessage:
    """One FCP message: its name, its fields in order, and its payload if any."""

    name: str
    fields: dict[str, str] = field(default_factory=dict)
    data: bytes | None = None

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.fields.get(key, default)

    def __getitem__(self, key: str) -> str:
        return self.fields[key]

    def __contains__(self, key: object) -> bool:
        return key in self.fields

    def encode(self) -> bytes:
        return encode_message(self.name, self.fields, self.data)


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Per-connection parser limits (see the module constants for the reasons)."""

    max_line_length: int = MAX_LINE_LENGTH
    max_fields: int = MAX_FIELDS
    max_data_length: int = MAX_DATA_LENGTH


def data_length_of(name: str, fields: Mapping[str, str]) -> int:
    """How many payload bytes follow ``Data`` for this message.

    ``ClientPutComplexDir`` has no top-level ``DataLength``: its payload is the
    direct files' bytes concatenated, so its length is the sum of their
    ``Files.N.DataLength``. Raises a fatal :class:`FCPProtocolError` when the
    length cannot be read, since the stream cannot be resynchronised.
    """
    if "DataLength" in fields:
        return _payload_length(fields["DataLength"], "DataLength")
    if name == "ClientPutComplexDir":
        total = 0
        for _, group in sorted(field_groups(fields, "Files").items()):
            if group.get("UploadFrom", "direct").lower() == "direct" and "DataLength" in group:
                total += _payload_length(group["DataLength"], "Files.N.DataLength")
        return total
    raise FCPProtocolError(
        ProtocolErrorCode.MISSING_FIELD, "Data follows but DataLength is missing", fatal=True
    )


def _payload_length(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise FCPProtocolError(
            ProtocolErrorCode.ERROR_PARSING_NUMBER,
            f"{what} must be a non-negative whole number, not {text[:40]!r}",
            fatal=True,
        )
    return int(text)


class FCPParser:
    """Incremental FCP message parser: bytes in, :class:`FCPMessage` out."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._buf = bytearray()
        self._pos = 0  # start of the unconsumed part of _buf
        self._name: str | None = None
        self._fields: dict[str, str] = {}
        self._spoiled: FCPProtocolError | None = None  # skip to this message's end
        self._data: bytearray | None = None
        self._need = 0  # payload bytes still expected (kept or skipped)
        self._skip_data = False
        self._failed: FCPProtocolError | None = None
        self._pending: list[FCPMessage | FCPProtocolError] = []

    @property
    def failed(self) -> bool:
        return self._failed is not None

    @property
    def mid_message(self) -> bool:
        """True when a message has started but not finished (an EOF now truncates it)."""
        return self._name is not None or self._need > 0 or len(self._buf) > self._pos

    def receive_data(self, data: bytes) -> None:
        """Buffer ``data``; messages become available through :meth:`next_message`."""
        if self._failed is None:
            self._buf += data

    def next_message(self) -> FCPMessage | None:
        """The next complete message, ``None`` if more bytes are needed.

        Raises :class:`FCPProtocolError` for a spoiled message (then call again
        to go on) or, with ``fatal`` set, once the stream is unusable.
        """
        if not self._pending:
            self._parse()
        if self._pending:
            item = self._pending.pop(0)
            if isinstance(item, FCPProtocolError):
                raise item
            return item
        if self._failed is not None:
            raise self._failed
        return None

    def feed(self, data: bytes) -> list[FCPMessage]:
        """Buffer ``data`` and return every message now complete.

        An error is raised when it is the next thing in the stream; messages
        that came before it in the same call are returned first, and the error
        is raised on the following call (``feed(b"")``).
        """
        self.receive_data(data)
        out: list[FCPMessage] = []
        while True:
            try:
                msg = self.next_message()
            except FCPProtocolError as exc:
                if not out:
                    raise
                if not exc.fatal or self._failed is None:
                    self._pending.insert(0, exc)
                return out
            if msg is None:
                return out
            out.append(msg)

    # The state machine: payload bytes first (kept or skipped), else lines.
    def _parse(self) -> None:
        while self._failed is None and not self._pending:
            if self._need:
                if not self._take_payload():
                    return
                continue
            line = self._next_line()
            if line is None:
                return
            self._on_line(line)
        self._compact()

    def _take_payload(self) -> bool:
        available = len(self._buf) - self._pos
        if available == 0:
            return False
        n = min(available, self._need)
        if not self._skip_data and self._data is not None:
            self._data += memoryview(self._buf)[self._pos : self._pos + n]
        self._pos += n
        self._need -= n
        self._compact()
        if self._need == 0:
            self._finish(data=bytes(self._data) if self._data is not None else b"")
        return True

    def _next_line(self) -> bytes | None:
        end = self._buf.find(b"\n", self._pos)
        limit = self.limits.max_line_length
        if end < 0:
            if len(self._buf) - self._pos > limit:
                self._fail(f"a line is longer than {limit} bytes")
            return None
        if end - self._pos > limit:
            self._fail(f"a line is longer than {limit} bytes")
            return None
        line = bytes(self._buf[self._pos : end])
        self._pos = end + 1
        return line[:-1] if line.endswith(b"\r") else line

    def _on_line(self, raw: bytes) -> None:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            line = None
        if self._name is None:
            if not raw.strip():
                return  # blank lines between messages are tolerated
            if line is None or "=" in line or any(ord(c) < 0x20 or c == "\x7f" for c in line):
                # Where a message must start there is a field or binary junk:
                # the stream is out of step (or not FCP at all).
                self._fail("expected a message name, got something else")
            else:
                self._name = line  # an unknown name is the session's call (code 7)
            return
        if line is None:
            self._spoil("a line is not valid UTF-8")
            return
        if line in _END_MARKERS:
            self._finish(data=None)
            return
        if line == "Data":
            self._start_payload()
            return
        if not line:
            return
        key, sep, value = line.partition("=")
        if not sep or not key:
            self._spoil(f"expected Field=Value, got {line[:60]!r}")
            return
        if len(self._fields) >= self.limits.max_fields and key not in self._fields:
            self._fail(f"a message has more than {self.limits.max_fields} fields")
            return
        self._fields[key] = value

    def _start_payload(self) -> None:
        assert self._name is not None
        try:
            length = data_length_of(self._name, self._fields)
        except FCPProtocolError as exc:
            self._failed = exc
            return
        cap = self.limits.max_data_length
        self._skip_data = self._spoiled is not None or length > cap
        if length > cap and self._spoiled is None:
            self._spoil(f"the payload of {length} bytes is over this node's limit of {cap}")
        self._data = None if self._skip_data else bytearray()
        self._need = length
        if length == 0:
            self._finish(data=b"")

    def _spoil(self, description: str) -> None:
        if self._spoiled is None:
            self._spoiled = FCPProtocolError(
                ProtocolErrorCode.MESSAGE_PARSE_ERROR,
                description,
                identifier=self._fields.get("Identifier"),
            )

    def _finish(self, *, data: bytes | None) -> None:
        assert self._name is not None
        if self._spoiled is not None:
            spoiled = self._spoiled
            spoiled.identifier = spoiled.identifier or self._fields.get("Identifier")
            self._pending.append(spoiled)
        else:
            self._pending.append(FCPMessage(self._name, self._fields, data))
        self._name = None
        self._fields = {}
        self._spoiled = None
        self._data = None
        self._skip_data = False

    def _fail(self, description: str) -> None:
        self._failed = FCPProtocolError(
            ProtocolErrorCode.MESSAGE_PARSE_ERROR, description, fatal=True
        )
        self._buf = bytearray()
        self._pos = 0

    def _compact(self) -> None:
        if self._pos >= _COMPACT_AT or (self._pos and self._pos == len(self._buf)):
            del self._buf[: self._pos]
            self._pos = 0


# --- Serializing --------------------------------------------------------------


def _check_text(text: str, what: str) -> None:
    if "\n" in text or "\r" in text:
        raise ValueError(f"an FCP {what} cannot contain a line break: {text[:60]!r}")


def encode_header(
    name: str, fields: Mapping[str, object] | Iterable[tuple[str, object]], *, data: bool = False
) -> bytes:
    """The name and field lines plus the terminator (``Data`` or ``EndMessage``).

    Values are converted with :func:`format_value`; ``None`` values are left
    out. Used on its own to stream a payload after the header.
    """
    if not _NAME_RE.match(name):
        raise ValueError(f"not a valid FCP message name: {name!r}")
    items = fields.items() if isinstance(fields, Mapping) else fields
    lines = [name]
    for key, value in items:
        if value is None:
            continue
        if not key or "=" in key:
            raise ValueError(f"not a valid FCP field name: {key!r}")
        text = format_value(value)
        _check_text(key, "field name")
        _check_text(text, "field value")
        lines.append(f"{key}={text}")
    lines.append("Data" if data else "EndMessage")
    return ("\n".join(lines) + "\n").encode("utf-8")


def encode_message(
    name: str,
    fields: Mapping[str, object] | Iterable[tuple[str, object]] = (),
    data: bytes | None = None,
    *,
    data_length_field: bool = True,
) -> bytes:
    """Serialize one message. With ``data``, ``DataLength`` is set to its length
    (unless ``data_length_field`` is false, as for ``ClientPutComplexDir``)."""
    pairs = list(fields.items() if isinstance(fields, Mapping) else fields)
    if data is None:
        return encode_header(name, pairs)
    if data_length_field:
        pairs = [(k, v) for k, v in pairs if k != "DataLength"] + [("DataLength", len(data))]
    return encode_header(name, pairs, data=True) + bytes(data)


# --- Field helpers ------------------------------------------------------------


def format_value(value: object) -> str:
    """A field value as FCP writes it: booleans ``true``/``false``, ints in decimal."""
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    return str(value)


def parse_bool(text: str | None, *, default: bool = False, name: str = "field") -> bool:
    """An FCP boolean, case-insensitively (``true``, ``True``, ``FALSE``…)."""
    if text is None:
        return default
    lowered = text.strip().lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    raise FCPProtocolError(
        ProtocolErrorCode.INVALID_FIELD, f"{name} must be true or false, not {text[:40]!r}"
    )


def parse_int(
    text: str | None,
    *,
    default: int | None = None,
    name: str = "field",
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """A decimal integer field, range-checked; code 6 if unreadable, 8 if out of range."""
    if text is None:
        if default is None:
            raise FCPProtocolError(ProtocolErrorCode.MISSING_FIELD, f"{name} is required")
        return default
    body = text.strip()
    digits = body[1:] if body[:1] in "+-" else body
    if not digits.isascii() or not digits.isdigit() or len(digits) > 19:
        raise FCPProtocolError(
            ProtocolErrorCode.ERROR_PARSING_NUMBER, f"{name} must be a number, not {text[:40]!r}"
        )
    value = int(body)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        lo = "" if minimum is None else f" ≥ {minimum}"
        hi = "" if maximum is None else f" ≤ {maximum}"
        raise FCPProtocolError(
            ProtocolErrorCode.INVALID_FIELD, f"{name} must be{lo}{hi}, not {value}"
        )
    return value


def field_groups(fields: Mapping[str, str], prefix: str) -> dict[int, dict[str, str]]:
    """Group dotted fields ``<prefix>.N.<rest>`` by ``N``: ``{N: {rest: value}}``.

    Keys whose ``N`` is not a plain non-negative number are ignored.
    """
    head = prefix + "."
    groups: dict[int, dict[str, str]] = {}
    for key, value in fields.items():
        if not key.startswith(head):
            continue
        index, sep, rest = key[len(head) :].partition(".")
        if not sep or not rest or not index.isascii() or not index.isdigit() or len(index) > 9:
            continue
        groups.setdefault(int(index), {})[rest] = value
    return groups


def flatten_groups(prefix: str, groups: Iterable[Mapping[str, object]]) -> list[tuple[str, object]]:
    """The inverse of :func:`field_groups`: ``[{a: 1}, …]`` → ``[(prefix.0.a, 1), …]``."""
    out: list[tuple[str, object]] = []
    for i, group in enumerate(groups):
        out.extend((f"{prefix}.{i}.{k}", v) for k, v in group.items())
    return out
