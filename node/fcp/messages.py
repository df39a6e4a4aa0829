"""Typed, validated views of the FCP 2.0 messages a client sends to the node.

:func:`parse_client_message` turns an :class:`~node.fcp.protocol.FCPMessage`
into one of the dataclasses below or raises
:class:`~node.fcp.protocol.FCPProtocolError` with the code a client expects:
5 missing field, 6 unreadable number, 8 invalid value, 4 unparseable key, 7 a
message we do not know, 16 a Freenet message Samizdat does not offer. Unknown
fields are ignored, booleans are case-insensitive. The replies the node sends
are built in :mod:`node.fcp.replies`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal, TypeVar

from crypto.errors import CryptoError
from crypto.uri import URI, USKURI, parse_uri
from node.client.splitfile import DEFAULT_EXTRA_INSERTS, MAX_EXTRA_INSERTS
from node.fcp.backend import GetOptions, Persistence, PutOptions, ReturnType
from node.fcp.codes import ProtocolErrorCode as PE
from node.fcp.protocol import (
    FCPMessage,
    FCPProtocolError,
    field_groups,
    parse_bool,
    parse_int,
)

_T = TypeVar("_T")
UploadFrom = Literal["direct", "disk", "redirect"]
_PERSISTENCE: tuple[Persistence, ...] = ("connection", "reboot", "forever")
_RETURN_TYPES: tuple[ReturnType, ...] = ("direct", "disk", "none")
_UPLOAD_FROM: tuple[UploadFrom, ...] = ("direct", "disk", "redirect")
# Freenet's priority classes: 0 (maximum) to 6 (paused).
MIN_PRIORITY, MAX_PRIORITY = 0, 6
# A site insert of more files than this is refused (code 34): each file costs
# a manifest entry and a request, and no real site comes near it.
MAX_DIR_FILES = 4_000


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestCommon:
    """Fields shared by the requests that start work on the node."""

    identifier: str
    global_: bool = False
    persistence: Persistence = "connection"
    verbosity: int = 0
    priority: int = 2
    client_token: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientHello:
    name: str
    expected_version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerateSSK:
    identifier: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientPut:
    common: RequestCommon
    uri: URI
    uri_text: str
    upload_from: UploadFrom
    data: bytes | None = field(default=None, repr=False)
    filename: str | None = None
    target_uri: str | None = None
    file_hash: str | None = None
    options: PutOptions = field(default_factory=PutOptions)


@dataclass(frozen=True, slots=True, kw_only=True)
class DirEntry:
    """One ``Files.N`` group; ``data`` is the slice of the payload for direct files."""

    name: str
    upload_from: UploadFrom
    data: bytes | None = field(default=None, repr=False)
    filename: str | None = None
    target_uri: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientPutComplexDir:
    common: RequestCommon
    uri: URI
    uri_text: str
    files: tuple[DirEntry, ...]
    default_name: str | None = None
    options: PutOptions = field(default_factory=PutOptions)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientPutDiskDir:
    common: RequestCommon
    uri: URI
    uri_text: str
    directory: str
    default_name: str | None = None
    allow_unreadable: bool = False
    include_hidden: bool = False
    options: PutOptions = field(default_factory=PutOptions)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientGet:
    common: RequestCommon
    uri: URI
    uri_text: str
    options: GetOptions = field(default_factory=GetOptions)


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchGlobal:
    enabled: bool = True
    verbosity_mask: int = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class ListPersistentRequests:
    identifier: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GetRequestStatus:
    identifier: str
    global_: bool = False
    only_data: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RemovePersistentRequest:
    identifier: str
    global_: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ModifyPersistentRequest:
    identifier: str
    global_: bool = False
    priority: int | None = None
    client_token: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TestDDARequest:
    __test__ = False  # not a pytest class
    directory: str
    want_read: bool = False
    want_write: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TestDDAResponse:
    __test__ = False
    directory: str
    read_content: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeUSK:
    identifier: str
    uri: USKURI
    uri_text: str
    dont_poll: bool = False
    sparse_poll: bool = False
    ignore_date_hints: bool = False
    realtime: bool = False
    priority: int = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsubscribeUSK:
    identifier: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GetNode:
    identifier: str | None = None
    with_private: bool = False
    with_volatile: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ListPeers:
    identifier: str | None = None
    with_metadata: bool = True
    with_volatile: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnect:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class SamizdatCheck:
    """Samizdat's extension (no Freenet client sends it): check, and maybe repair, a key.

    ``local``: the contents of ``Files.N`` (DataLength each, concatenated in the
    payload), candidate local copies for the repair."""

    identifier: str
    uri: URI
    repair: bool = False
    local: tuple[bytes, ...] = field(default=(), repr=False)


ClientMessage = (
    ClientHello
    | GenerateSSK
    | ClientPut
    | ClientPutComplexDir
    | ClientPutDiskDir
    | ClientGet
    | WatchGlobal
    | ListPersistentRequests
    | GetRequestStatus
    | RemovePersistentRequest
    | ModifyPersistentRequest
    | TestDDARequest
    | TestDDAResponse
    | SubscribeUSK
    | UnsubscribeUSK
    | GetNode
    | ListPeers
    | Disconnect
    | SamizdatCheck
)

# Freenet messages a client may send that Samizdat answers with code 16.
UNSUPPORTED = frozenset(
    {
        "AddPeer",
        "ModifyPeer",
        "ModifyPeerNote",
        "RemovePeer",
        "ListPeer",
        "ListPeerNotes",
        "GetConfig",
        "ModifyConfig",
        "GetPluginInfo",
        "LoadPlugin",
        "ReloadPlugin",
        "RemovePlugin",
        "FCPPluginMessage",
        "Shutdown",
        "ProbeRequest",
        "SubscribeUSKs",
        "Void",
        "GetRequestStatusAll",
        "Filter",
        "SendBookmark",
        "SendTextMessage",
        "SendURI",
        "Sha256",
    }
)


class _Fields:
    """Reads fields of one message, raising errors that name the request."""

    def __init__(self, msg: FCPMessage) -> None:
        self.msg = msg
        self.identifier = msg.fields.get("Identifier")
        try:
            self.global_ = parse_bool(msg.fields.get("Global"), name="Global")
        except FCPProtocolError:
            self.global_ = False

    def error(self, code: int, description: str) -> FCPProtocolError:
        return FCPProtocolError(code, description, identifier=self.identifier, global_=self.global_)

    def req(self, key: str) -> str:
        value = self.msg.fields.get(key)
        if value is None:
            raise self.error(PE.MISSING_FIELD, f"{self.msg.name} needs the field {key}")
        return value

    def opt(self, key: str) -> str | None:
        return self.msg.fields.get(key)

    def nonempty(self, key: str) -> str:
        value = self.req(key)
        if not value:
            raise self.error(PE.INVALID_FIELD, f"{key} must not be empty")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        return self._wrap(lambda: parse_bool(self.msg.fields.get(key), default=default, name=key))

    def num(self, key: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
        text = self.msg.fields.get(key)
        return self._wrap(
            lambda: parse_int(text, default=default, name=key, minimum=lo, maximum=hi)
        )

    def opt_int(self, key: str, lo: int | None = None) -> int | None:
        text = self.msg.fields.get(key)
        if text is None or text == "":
            return None
        return self._wrap(lambda: parse_int(text, name=key, minimum=lo))

    def choice(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = (self.msg.fields.get(key) or default).lower()
        if value not in allowed:
            raise self.error(PE.INVALID_FIELD, f"{key} must be one of {', '.join(allowed)}")
        return value

    def uri(self, key: str = "URI") -> tuple[URI, str]:
        text = self.req(key).strip()
        try:
            return parse_uri(text), text
        except CryptoError as exc:
            raise self.error(PE.URI_PARSE_ERROR, f"{key}: {exc}") from None

    def group_int(self, text: str | None, name: str) -> int:
        return self._wrap(lambda: parse_int(text, name=name, minimum=0))

    def _wrap(self, fn: Callable[[], _T]) -> _T:
        try:
            return fn()
        except FCPProtocolError as exc:
            raise self.error(exc.code, exc.description) from None


def _common(f: _Fields, default_priority: int) -> RequestCommon:
    persistence = f.choice("Persistence", _PERSISTENCE, "connection")
    return RequestCommon(
        identifier=f.nonempty("Identifier"),
        global_=f.flag("Global"),
        persistence=persistence,  # type: ignore[arg-type]
        verbosity=f.num("Verbosity", 0),
        priority=f.num("PriorityClass", default_priority, MIN_PRIORITY, MAX_PRIORITY),
        client_token=f.opt("ClientToken"),
    )


def _codecs(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(c.strip().upper() for c in text.split(",") if c.strip())


# Extra copies of a single block (specs/client.md §Insert; the client layer's
# default and bound). Freenet takes any integer here (a negative count inserts
# once; an unreadable one is silently the default); Samizdat refuses what is not
# 0..10, so a typo or a request for hundreds of whole-block inserts is an error
# the client sees.


def _put_options(f: _Fields) -> PutOptions:
    return PutOptions(
        content_type=f.opt("Metadata.ContentType") or None,
        target_filename=f.opt("TargetFilename") or None,
        dont_compress=f.flag("DontCompress"),
        codecs=_codecs(f.opt("Codecs")),
        max_retries=f.num("MaxRetries", 0, -1),
        get_chk_only=f.flag("GetCHKOnly"),
        local_request_only=f.flag("LocalRequestOnly"),
        realtime=f.flag("RealTimeFlag"),
        early_encode=f.flag("EarlyEncode"),
        extra_inserts_single_block=f.num(
            "ExtraInsertsSingleBlock", DEFAULT_EXTRA_INSERTS, 0, MAX_EXTRA_INSERTS
        ),
        extra_inserts_splitfile_header_block=f.num(
            "ExtraInsertsSplitfileHeaderBlock", DEFAULT_EXTRA_INSERTS, 0, MAX_EXTRA_INSERTS
        ),
    )


def _client_hello(f: _Fields) -> ClientHello:
    version = f.req("ExpectedVersion")
    if version.strip() != "2.0":
        raise f.error(PE.INVALID_FIELD, f"this node speaks FCP 2.0, not {version[:20]!r}")
    return ClientHello(name=f.nonempty("Name"), expected_version=version)


def _client_put(f: _Fields) -> ClientPut:
    common = _common(f, 2)
    uri, text = f.uri()
    upload_from = f.choice("UploadFrom", _UPLOAD_FROM, "direct")
    data = filename = target = None
    if upload_from == "direct":
        if f.msg.data is None:
            raise f.error(PE.MISSING_FIELD, "UploadFrom=direct needs DataLength and Data")
        data = f.msg.data
    elif upload_from == "disk":
        filename = f.nonempty("Filename")
    else:
        target = f.uri("TargetURI")[1]
    return ClientPut(
        common=common,
        uri=uri,
        uri_text=text,
        upload_from=upload_from,  # type: ignore[arg-type]
        data=data,
        filename=filename,
        target_uri=target,
        file_hash=f.opt("FileHash"),
        options=_put_options(f),
    )


def _dir_entries(f: _Fields) -> tuple[DirEntry, ...]:
    groups = field_groups(f.msg.fields, "Files")
    if len(groups) > MAX_DIR_FILES:
        raise f.error(PE.TOO_MANY_FILES_IN_INSERT, f"at most {MAX_DIR_FILES} files per insert")
    if sorted(groups) != list(range(len(groups))):
        raise f.error(PE.INVALID_FIELD, "Files.N must be numbered 0, 1, 2… without gaps")
    payload = f.msg.data or b""
    offset = 0
    entries: list[DirEntry] = []
    names: set[str] = set()
    for n in range(len(groups)):
        g = groups[n]
        name = g.get("Name")
        if not name:
            raise f.error(PE.MISSING_FIELD, f"Files.{n}.Name is required")
        if name in names:
            raise f.error(PE.INVALID_FIELD, f"Files.{n}.Name {name!r} appears twice")
        names.add(name)
        source = g.get("UploadFrom", "direct").lower()
        if source not in _UPLOAD_FROM:
            raise f.error(
                PE.INVALID_FIELD, f"Files.{n}.UploadFrom must be direct, disk or redirect"
            )
        entry = DirEntry(
            name=name,
            upload_from=source,
            content_type=g.get("Metadata.ContentType"),
        )
        if source == "direct":
            length = f.group_int(g.get("DataLength"), f"Files.{n}.DataLength")
            if offset + length > len(payload):
                raise f.error(
                    PE.INVALID_FIELD, "the Files.N.DataLength add up to more than the data sent"
                )
            entry = replace(entry, data=payload[offset : offset + length])
            offset += length
        elif source == "disk":
            entry = replace(entry, filename=g.get("Filename") or _missing(f, f"Files.{n}.Filename"))
        else:
            target = g.get("TargetURI") or _missing(f, f"Files.{n}.TargetURI")
            try:
                parse_uri(target)
            except CryptoError as exc:
                raise f.error(PE.URI_PARSE_ERROR, f"Files.{n}.TargetURI: {exc}") from None
            entry = replace(entry, target_uri=target)
        entries.append(entry)
    if offset != len(payload):
        raise f.error(PE.INVALID_FIELD, "the data sent is longer than the Files.N.DataLength")
    return tuple(entries)


def _missing(f: _Fields, key: str) -> str:
    raise f.error(PE.MISSING_FIELD, f"{key} is required")


def _put_complex_dir(f: _Fields) -> ClientPutComplexDir:
    common = _common(f, 2)
    uri, text = f.uri()
    files = _dir_entries(f)
    default = f.opt("DefaultName") or None
    if default is not None and files and default not in {e.name for e in files}:
        raise f.error(PE.INVALID_FIELD, f"DefaultName {default!r} is not one of the files")
    return ClientPutComplexDir(
        common=common,
        uri=uri,
        uri_text=text,
        files=files,
        default_name=default,
        options=_put_options(f),
    )


def _put_disk_dir(f: _Fields) -> ClientPutDiskDir:
    common = _common(f, 2)
    uri, text = f.uri()
    return ClientPutDiskDir(
        common=common,
        uri=uri,
        uri_text=text,
        directory=f.nonempty("Filename"),
        default_name=f.opt("DefaultName") or None,
        allow_unreadable=f.flag("AllowUnreadableFiles"),
        include_hidden=f.flag("includeHiddenFiles") or f.flag("IncludeHiddenFiles"),
        options=_put_options(f),
    )


def _client_get(f: _Fields) -> ClientGet:
    common = _common(f, 4)
    uri, text = f.uri()
    return_type = f.choice("ReturnType", _RETURN_TYPES, "direct")
    filename = f.nonempty("Filename") if return_type == "disk" else None
    mimes = f.opt("AllowedMIMETypes")
    options = GetOptions(
        return_type=return_type,  # type: ignore[arg-type]
        filename=filename,
        temp_filename=f.opt("TempFilename") if return_type == "disk" else None,
        max_size=f.opt_int("MaxSize", 0),
        max_temp_size=f.opt_int("MaxTempSize", 0),
        max_retries=f.num("MaxRetries", 0, -1),
        ignore_ds=f.flag("IgnoreDS"),
        ds_only=f.flag("DSonly") or f.flag("DSOnly"),
        realtime=f.flag("RealTimeFlag"),
        allowed_mime_types=tuple(m.strip() for m in (mimes or "").split(",") if m.strip()),
        filter_data=f.flag("FilterData"),
    )
    return ClientGet(common=common, uri=uri, uri_text=text, options=options)


def _subscribe_usk(f: _Fields) -> SubscribeUSK:
    identifier = f.nonempty("Identifier")
    uri, text = f.uri()
    if not isinstance(uri, USKURI):
        raise f.error(PE.URI_PARSE_ERROR, "SubscribeUSK needs a USK@ key")
    return SubscribeUSK(
        identifier=identifier,
        uri=uri,
        uri_text=text,
        dont_poll=f.flag("DontPoll"),
        sparse_poll=f.flag("SparsePoll"),
        ignore_date_hints=f.flag("IgnoreUSKDatehints"),
        realtime=f.flag("RealTimeFlag"),
        priority=f.num("PriorityClass", 2, MIN_PRIORITY, MAX_PRIORITY),
    )


def _samizdat_check(f: _Fields) -> SamizdatCheck:
    identifier = f.nonempty("Identifier")
    uri, _text = f.uri()
    local: list[bytes] = []
    payload, offset = f.msg.data or b"", 0
    groups = field_groups(f.msg.fields, "Files")
    if sorted(groups) != list(range(len(groups))):
        raise f.error(PE.INVALID_FIELD, "Files.N must be numbered 0, 1, 2… without gaps")
    for n in range(len(groups)):
        length = f.group_int(groups[n].get("DataLength"), f"Files.{n}.DataLength")
        if offset + length > len(payload):
            raise f.error(PE.INVALID_FIELD, "the Files.N.DataLength add up to more than the data")
        local.append(payload[offset : offset + length])
        offset += length
    if offset != len(payload):
        raise f.error(PE.INVALID_FIELD, "the data sent is longer than the Files.N.DataLength")
    return SamizdatCheck(
        identifier=identifier, uri=uri, repair=f.flag("Repair"), local=tuple(local)
    )


_PARSERS: dict[str, Callable[[_Fields], ClientMessage]] = {
    "ClientHello": _client_hello,
    "GenerateSSK": lambda f: GenerateSSK(identifier=f.opt("Identifier")),
    "ClientPut": _client_put,
    "ClientPutComplexDir": _put_complex_dir,
    "ClientPutDiskDir": _put_disk_dir,
    "ClientGet": _client_get,
    "WatchGlobal": lambda f: WatchGlobal(
        enabled=f.flag("Enabled", True), verbosity_mask=f.num("VerbosityMask", -1)
    ),
    "ListPersistentRequests": lambda f: ListPersistentRequests(identifier=f.opt("Identifier")),
    "GetRequestStatus": lambda f: GetRequestStatus(
        identifier=f.nonempty("Identifier"),
        global_=f.flag("Global"),
        only_data=f.flag("OnlyData"),
    ),
    "RemovePersistentRequest": lambda f: RemovePersistentRequest(
        identifier=f.nonempty("Identifier"), global_=f.flag("Global")
    ),
    "ModifyPersistentRequest": lambda f: ModifyPersistentRequest(
        identifier=f.nonempty("Identifier"),
        global_=f.flag("Global"),
        priority=None
        if f.opt("PriorityClass") is None
        else f.num("PriorityClass", 2, MIN_PRIORITY, MAX_PRIORITY),
        client_token=f.opt("ClientToken"),
    ),
    "TestDDARequest": lambda f: TestDDARequest(
        directory=f.nonempty("Directory"),
        want_read=f.flag("WantReadDirectory"),
        want_write=f.flag("WantWriteDirectory"),
    ),
    "TestDDAResponse": lambda f: TestDDAResponse(
        directory=f.nonempty("Directory"), read_content=f.opt("ReadContent")
    ),
    "SubscribeUSK": _subscribe_usk,
    "UnsubscribeUSK": lambda f: UnsubscribeUSK(identifier=f.nonempty("Identifier")),
    "GetNode": lambda f: GetNode(
        identifier=f.opt("Identifier"),
        with_private=f.flag("WithPrivate"),
        with_volatile=f.flag("WithVolatile"),
    ),
    "ListPeers": lambda f: ListPeers(
        identifier=f.opt("Identifier"),
        with_metadata=f.flag("WithMetadata", True),
        with_volatile=f.flag("WithVolatile"),
    ),
    "Disconnect": lambda f: Disconnect(),
    "SamizdatCheck": _samizdat_check,
}


def is_request(msg: FCPMessage) -> bool:
    """Samizdat extension messages parsed here rather than by :mod:`node.fcp.extensions`."""
    return msg.name == "SamizdatCheck"


def parse_client_message(msg: FCPMessage) -> ClientMessage:
    """Validate one client message; :class:`FCPProtocolError` says what is wrong."""
    parser = _PARSERS.get(msg.name)
    f = _Fields(msg)
    if parser is None:
        if msg.name in UNSUPPORTED:
            raise f.error(PE.NOT_SUPPORTED, f"{msg.name} is not supported by Samizdat")
        raise f.error(PE.INVALID_MESSAGE, f"unknown message {msg.name[:60]!r}")
    return parser(f)
