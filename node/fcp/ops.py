"""The operations a session asks its server to carry out: backend calls and TestDDA file I/O.

Each is a frozen value; the server runs it (see ``node.fcp.server.execute``)
and hands the return value, or the exception raised, back to
``Session.complete``. Backend calls name the client by the session's Name,
which the server adds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from node.fcp.backend import (
    CheckRequest,
    GetRequest,
    PutDirRequest,
    PutRequest,
    USKSubscription,
)
from node.fcp.extensions import ExtensionMessage


@dataclass(frozen=True, slots=True)
class GenerateSSKOp:
    """-> ``(insert_uri, request_uri)``."""

    identifier: str | None


@dataclass(frozen=True, slots=True)
class StartPutOp:
    """-> None. With ``file_hash``, the server first checks that
    ``base64(sha256(connection_id + "-" + identifier + "-" + content))`` of the
    file equals it (FCP's proof of read access without TestDDA)."""

    request: PutRequest
    file_hash: str | None = field(default=None, kw_only=True)
    connection_id: str = field(default="", kw_only=True)


@dataclass(frozen=True, slots=True)
class StartPutDirOp:
    """-> None. When ``request.disk_directory`` is set the server lists it into files."""

    request: PutDirRequest
    include_hidden: bool = False
    allow_unreadable: bool = False


@dataclass(frozen=True, slots=True)
class StartGetOp:
    """-> None."""

    request: GetRequest


@dataclass(frozen=True, slots=True)
class ListOp:
    """-> ``list[RequestStatus]``."""

    identifier: str | None
    include_global: bool = False


@dataclass(frozen=True, slots=True)
class StatusOp:
    """-> ``RequestStatus | None``."""

    identifier: str
    global_: bool
    only_data: bool = False


@dataclass(frozen=True, slots=True)
class RemoveOp:
    """-> ``bool`` (False: no such request)."""

    identifier: str
    global_: bool


@dataclass(frozen=True, slots=True)
class ModifyOp:
    """-> ``RequestStatus | None``."""

    identifier: str
    global_: bool
    priority: int | None
    client_token: str | None


@dataclass(frozen=True, slots=True)
class SubscribeOp:
    """-> None."""

    subscription: USKSubscription
    uri_text: str


@dataclass(frozen=True, slots=True)
class UnsubscribeOp:
    """-> None."""

    identifier: str


@dataclass(frozen=True, slots=True)
class NodeInfoOp:
    """-> ``Mapping[str, str]``."""

    identifier: str | None
    with_private: bool
    with_volatile: bool


@dataclass(frozen=True, slots=True)
class PeersOp:
    """-> ``Sequence[Mapping[str, str]]``."""

    identifier: str | None
    with_metadata: bool
    with_volatile: bool


@dataclass(frozen=True, slots=True)
class DDAPrepare:
    """Write ``content`` to the new file ``path`` (the client must read it back). -> None."""

    directory: str
    path: str
    content: str


@dataclass(frozen=True, slots=True)
class DDACheck:
    """Read ``write_path`` (the client was to write it), then delete both test files.

    -> the text read from ``write_path`` or ``None``. ``cleanup_only``: just delete.
    """

    directory: str
    read_path: str | None
    write_path: str | None
    write_content: str | None
    read_ok: bool
    cleanup_only: bool = False


@dataclass(frozen=True, slots=True)
class ExtensionOp:
    """A Samizdat extension request (see :mod:`node.fcp.extensions`). -> its result."""

    request: ExtensionMessage


@dataclass(frozen=True, slots=True)
class CheckOp:
    """-> ``CheckResult | GetFailure``. Runs concurrently with the connection's other
    messages (segments are reported as they finish), unlike the calls above."""

    request: CheckRequest


Op = (
    GenerateSSKOp
    | StartPutOp
    | StartPutDirOp
    | StartGetOp
    | ListOp
    | StatusOp
    | RemoveOp
    | ModifyOp
    | SubscribeOp
    | UnsubscribeOp
    | NodeInfoOp
    | PeersOp
    | DDAPrepare
    | DDACheck
    | ExtensionOp
    | CheckOp
)
