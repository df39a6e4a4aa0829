"""The FCP server's interface to the node's request manager: requests, events, FCPBackend.

The FCP layer parses and validates what clients send, then asks an
:class:`FCPBackend` to do the work; the backend reports back by calling the
listener the server registered with :meth:`FCPBackend.add_listener`, with
:class:`RequestEvent` values. The session turns those into FCP messages (adding
code descriptions, Identifiers, DataFound-before-AllData ordering, verbosity
filtering, global-queue fan-out), so a backend never writes FCP itself.

Everything here is FCP-shaped (identifiers, persistence, the global queue) but
names no Freenet internals: keys are :mod:`crypto.uri` values, data sources are
bytes or paths. ``specs/fcp.md`` describes the contract in prose.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from crypto.uri import URI, USKURI
from node.client.splitfile import DEFAULT_EXTRA_INSERTS

Persistence = Literal["connection", "reboot", "forever"]
ReturnType = Literal["direct", "disk", "none"]
RequestKind = Literal["get", "put", "putdir"]

# Verbosity bits a client sets on a request (Freenet's numbering).
VERBOSITY_PROGRESS = 1  # SimpleProgress
VERBOSITY_PUT_FETCHABLE = 256  # PutFetchable


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestInfo:
    """Who a request belongs to and how its messages are routed.

    ``client`` is the ClientHello ``Name``; ``connection`` the
    ConnectionIdentifier of the connection that started it (a
    ``connection``-persistence request ends with that connection). Requests
    are identified by ``(client, identifier)`` or, on the global queue, by
    ``identifier`` alone.
    """

    client: str
    identifier: str
    global_: bool = False
    persistence: Persistence = "connection"
    connection: str = ""
    verbosity: int = 0
    client_token: str | None = None
    priority: int = 2


@dataclass(frozen=True, slots=True)
class DirectData:
    """Bytes sent inline in the FCP message."""

    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class DiskFile:
    """A file on the node's disk (access already checked by the FCP layer)."""

    path: str


@dataclass(frozen=True, slots=True)
class Redirect:
    """No data: the inserted key redirects to ``target``."""

    target: str


DataSource = DirectData | DiskFile | Redirect


@dataclass(frozen=True, slots=True, kw_only=True)
class PutOptions:
    content_type: str | None = None
    target_filename: str | None = None
    dont_compress: bool = False
    codecs: tuple[str, ...] = ()  # empty: the node chooses
    max_retries: int = 0  # -1: forever
    get_chk_only: bool = False  # compute the final key, insert nothing
    local_request_only: bool = False
    realtime: bool = False
    early_encode: bool = False
    # Extra copies of blocks with no FEC around them (ExtraInsertsSingleBlock,
    # ExtraInsertsSplitfileHeaderBlock): 0..10, Freenet's default 2.
    extra_inserts_single_block: int = DEFAULT_EXTRA_INSERTS
    extra_inserts_splitfile_header_block: int = DEFAULT_EXTRA_INSERTS


@dataclass(frozen=True, slots=True, kw_only=True)
class PutRequest:
    info: RequestInfo
    uri: URI
    source: DataSource
    options: PutOptions = field(default_factory=PutOptions)

    @property
    def data_length(self) -> int | None:
        return len(self.source.data) if isinstance(self.source, DirectData) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class DirFile:
    """One file of a directory insert; ``name`` may contain ``/``."""

    name: str
    source: DataSource
    content_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PutDirRequest:
    """A site insert. ``disk_directory`` is set for ClientPutDiskDir (whose files
    the server has listed into ``files``)."""

    info: RequestInfo
    uri: URI
    files: tuple[DirFile, ...]
    default_name: str | None = None
    options: PutOptions = field(default_factory=PutOptions)
    disk_directory: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GetOptions:
    return_type: ReturnType = "direct"
    filename: str | None = None  # for ReturnType=disk (write access checked)
    temp_filename: str | None = None
    max_size: int | None = None
    max_temp_size: int | None = None
    max_retries: int = 0
    ignore_ds: bool = False
    ds_only: bool = False
    realtime: bool = False
    allowed_mime_types: tuple[str, ...] = ()
    filter_data: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class GetRequest:
    info: RequestInfo
    uri: URI
    options: GetOptions = field(default_factory=GetOptions)


@dataclass(frozen=True, slots=True, kw_only=True)
class USKSubscription:
    info: RequestInfo
    uri: USKURI
    dont_poll: bool = False
    sparse_poll: bool = False
    ignore_date_hints: bool = False
    realtime: bool = False


Request = GetRequest | PutRequest | PutDirRequest


# --- Events the backend reports -------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class URIGenerated:
    """An insert knows its final key (before the data is in the network)."""

    uri: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PutFetchable:
    """Enough of an insert is in the network that the key can be fetched."""

    uri: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """Block counts; ``finalized`` once ``total`` will not grow any more."""

    total: int
    required: int
    succeeded: int = 0
    failed: int = 0
    fatally_failed: int = 0
    finalized: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PutSucceeded:
    uri: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PutFailure:
    code: int  # a PutFailedCode
    extra: str = ""
    expected_uri: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GetSucceeded:
    """A fetch finished. ``data`` is the content for ReturnType=direct, else None."""

    content_type: str
    data_length: int
    data: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class GetFailure:
    code: int  # a GetFailedCode; 11 and 27 need redirect_uri
    extra: str = ""
    redirect_uri: str | None = None
    expected_data_length: int | None = None
    expected_content_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class USKUpdate:
    """A subscribed USK has a new edition."""

    edition: int
    uri: str
    new_known_good: bool = True
    new_slot_too: bool = True


Terminal = PutSucceeded | PutFailure | GetSucceeded | GetFailure
Event = URIGenerated | PutFetchable | Progress | Terminal | USKUpdate


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestEvent:
    """An event about one request (or USK subscription), for the FCP server."""

    info: RequestInfo
    event: Event


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestStatus:
    """A persistent request as listed: what was asked and where it stands."""

    request: Request
    started: bool = True
    uri_generated: str | None = None
    progress: Progress | None = None
    terminal: Terminal | None = None

    @property
    def info(self) -> RequestInfo:
        return self.request.info


# --- Samizdat's extension: checking what a key holds (specs/fcp.md §Extensions) ----------


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckRequest:
    """``SamizdatCheck``: probe every block under ``uri``; ``repair`` re-inserts
    what is missing, rebuilt from ``local`` (candidate copies of the content,
    matched by hash) or by FEC from the blocks found."""

    info: RequestInfo
    uri: URI
    repair: bool = False
    local: tuple[bytes, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckSegment:
    """One segment probed (and perhaps repaired)."""

    path: str
    index: int
    segments: int
    k: int
    n: int
    found: int
    missing: tuple[int, ...] = ()
    repaired: int = 0
    note: str = ""

    @property
    def retrievable(self) -> bool:
        return self.found + self.repaired >= self.k


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """The whole check. ``lost``: (path, reason) of parts whose metadata is gone."""

    uri: str
    files: int
    segments: int
    blocks: int
    found: int
    missing: int
    repaired: int
    metadata_blocks: int
    lost: tuple[tuple[str, str], ...] = ()
    survives: bool = True


CheckReporter = Callable[[CheckSegment], None]


class BackendError(Exception):
    """The backend refuses an operation; becomes a ProtocolError with ``code``."""

    def __init__(self, code: int, description: str = "") -> None:
        self.code = code
        self.description = description
        super().__init__(description or f"code {code}")


class IdentifierInUse(BackendError):
    """A request with this identifier is still queued; becomes IdentifierCollision."""

    def __init__(self, description: str = "") -> None:
        super().__init__(0, description or "identifier in use")


Listener = Callable[[RequestEvent], None]


class FCPBackend(Protocol):
    """What the FCP server needs from the node. All methods may raise BackendError.

    ``start_*`` return once the request is queued (raising
    :class:`IdentifierInUse` if the identifier is taken); progress and results
    arrive later as :class:`RequestEvent` through the listener. ``client`` is
    the ClientHello Name; a ``global_`` request is found by identifier alone.
    """

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Register the server's event sink; returns a function that removes it."""
        ...

    async def generate_ssk(self) -> tuple[str, str]:
        """A fresh keypair: ``(insert_uri, request_uri)``, e.g. from crypto.keys."""
        ...

    async def start_put(self, request: PutRequest) -> None: ...

    async def start_put_dir(self, request: PutDirRequest) -> None: ...

    async def start_get(self, request: GetRequest) -> None: ...

    async def list_persistent(
        self, client: str, *, include_global: bool
    ) -> Sequence[RequestStatus]:
        """The client's persistent requests, plus every global one if asked."""
        ...

    async def get_status(self, client: str, identifier: str, global_: bool) -> RequestStatus | None:
        """One request (any persistence) by identifier; None if unknown."""
        ...

    async def remove(self, client: str, identifier: str, global_: bool) -> bool:
        """Cancel and forget a request; False if unknown."""
        ...

    async def modify(
        self,
        client: str,
        identifier: str,
        global_: bool,
        *,
        priority: int | None,
        client_token: str | None,
    ) -> RequestStatus | None: ...

    async def subscribe_usk(self, subscription: USKSubscription) -> None: ...

    async def unsubscribe_usk(self, client: str, identifier: str) -> None: ...

    async def node_info(self, *, with_private: bool, with_volatile: bool) -> Mapping[str, str]:
        """NodeData fields (``identity``, ``version``, ``volatile.*``…)."""
        ...

    async def list_peers(
        self, *, with_metadata: bool, with_volatile: bool
    ) -> Sequence[Mapping[str, str]]:
        """One mapping of Peer fields per peer."""
        ...


@runtime_checkable
class CheckBackend(Protocol):
    """What a backend implements to answer ``SamizdatCheck`` (else ProtocolError 16)."""

    async def check(self, request: CheckRequest, report: CheckReporter) -> CheckResult | GetFailure:
        """Run a whole check (the server runs it in the connection's task group, so it
        ends with the connection); ``report`` each segment as it is done. A key whose
        root cannot be fetched is a :class:`GetFailure`."""
        ...
