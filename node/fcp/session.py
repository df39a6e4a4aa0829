"""The per-connection FCP state machine, sans-I/O: messages and events in, actions out.

Theory of operation. A connection starts in ``HELLO``: the only acceptable
message is ``ClientHello`` (anything else is ProtocolError 1 and the
connection closes). After NodeHello it is ``READY`` until ``Disconnect``, a
fatal error, or another connection taking its client Name (``CLOSED``).

The session never awaits anything. :meth:`Session.receive` takes a parsed
message and returns actions: :class:`Send` a message, :class:`Close` the
connection, :class:`Registered` (the server enforces unique client Names), or
:class:`Call` an operation (a backend call, or file I/O for TestDDA) whose
outcome the server hands back to :meth:`Session.complete`. Events from the
backend come in through :meth:`Session.on_event`; the session decides whether
this connection should see them (its own requests, or global ones while it
watches the global queue) and which FCP messages they become.

Bookkeeping kept here: the identifiers of this connection's
``connection``-persistence requests still running (a reused one is an
IdentifierCollision; a finished one may be reused) and USK subscriptions,
both cancelled when the connection ends; the WatchGlobal flag; and TestDDA
state (pending challenges, directories granted for reading and writing).
"""

from __future__ import annotations

import enum
import os.path
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from node.fcp import extensions as ext
from node.fcp import messages as m
from node.fcp import replies as r
from node.fcp.backend import (
    VERBOSITY_PROGRESS,
    VERBOSITY_PUT_FETCHABLE,
    BackendError,
    CheckRequest,
    CheckResult,
    CheckSegment,
    DataSource,
    DirectData,
    DirFile,
    DiskFile,
    GetFailure,
    GetRequest,
    GetSucceeded,
    IdentifierInUse,
    Progress,
    PutDirRequest,
    PutFailure,
    PutFetchable,
    PutRequest,
    PutSucceeded,
    Redirect,
    Request,
    RequestEvent,
    RequestInfo,
    RequestStatus,
    URIGenerated,
    USKSubscription,
    USKUpdate,
)
from node.fcp.codes import REDIRECT_CODES
from node.fcp.codes import ProtocolErrorCode as PE
from node.fcp.ops import (
    CheckOp,
    DDACheck,
    DDAPrepare,
    ExtensionOp,
    GenerateSSKOp,
    ListOp,
    ModifyOp,
    NodeInfoOp,
    Op,
    PeersOp,
    RemoveOp,
    StartGetOp,
    StartPutDirOp,
    StartPutOp,
    StatusOp,
    SubscribeOp,
    UnsubscribeOp,
)
from node.fcp.protocol import FCPMessage, FCPProtocolError


class Phase(enum.Enum):
    HELLO = "hello"
    READY = "ready"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Send:
    message: FCPMessage


@dataclass(frozen=True, slots=True)
class Close:
    reason: str


@dataclass(frozen=True, slots=True)
class Registered:
    """The client said hello with this Name; the server closes any older holder."""

    name: str


@dataclass(frozen=True, slots=True)
class Call:
    op: Op


Action = Send | Close | Registered | Call


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    identity: r.NodeIdentity = field(default_factory=r.NodeIdentity)
    # Freenet refuses disk access until TestDDA proves it; these switch that off.
    assume_read_dda: bool = False
    assume_write_dda: bool = False


@dataclass(slots=True)
class _DDAChallenge:
    read_path: str | None
    read_content: str | None
    write_path: str | None
    write_content: str | None


def _norm(path: str) -> str:
    return os.path.normpath(os.path.abspath(path))


def _within(path: str, directories: set[str]) -> bool:
    p = _norm(path)
    return any(p == d or p.startswith(d.rstrip(os.sep) + os.sep) for d in directories)


class Session:
    """One FCP connection's protocol state (see the module docstring)."""

    def __init__(
        self,
        config: SessionConfig | None = None,
        *,
        connection_id: str | None = None,
        token: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        self.config = config or SessionConfig()
        self._token = token
        cid = connection_id or token()
        self.connection_id = cid if not cid.isdigit() else "c" + cid
        self.phase = Phase.HELLO
        self.name: str | None = None
        self.watch_global = False
        self.watch_mask = -1
        self.running: dict[tuple[str, bool], RequestInfo] = {}  # connection-level requests
        self.subscriptions: dict[str, RequestInfo] = {}
        self.checks: set[str] = set()  # SamizdatCheck identifiers running
        self._dda: dict[str, _DDAChallenge] = {}
        self.read_dirs: set[str] = set()
        self.write_dirs: set[str] = set()

    # --- Client messages -----------------------------------------------------

    def receive(self, msg: FCPMessage) -> list[Action]:
        if self.phase is Phase.CLOSED:
            return []
        if self.phase is Phase.HELLO and msg.name != "ClientHello":
            return self._fatal(PE.CLIENT_HELLO_MUST_BE_FIRST, f"got {msg.name[:60]!r} first")
        try:
            # SamizdatCheck runs like a request (node.fcp.messages), not a one-shot call.
            if self.phase is Phase.READY and ext.is_extension(msg.name) and not m.is_request(msg):
                return [Call(ExtensionOp(ext.parse(msg)))]
            parsed = m.parse_client_message(msg)
        except FCPProtocolError as exc:
            if self.phase is Phase.HELLO:
                return self._fatal(exc.code, exc.description)
            return [Send(self._error(exc))]
        return self._dispatch(parsed)

    def parse_error(self, exc: FCPProtocolError) -> list[Action]:
        """The parser refused a message: report it, and close if it was fatal."""
        if self.phase is Phase.CLOSED:
            return []
        if exc.fatal or self.phase is Phase.HELLO:
            return self._fatal(exc.code, exc.description)
        return [Send(self._error(exc))]

    def _error(self, exc: FCPProtocolError, *, fatal: bool = False) -> FCPMessage:
        return r.protocol_error(
            exc.code,
            exc.description,
            identifier=exc.identifier,
            global_=exc.global_,
            fatal=fatal or exc.fatal,
        )

    def _fatal(self, code: int, extra: str) -> list[Action]:
        self.phase = Phase.CLOSED
        return [Send(r.protocol_error(code, extra, fatal=True)), Close(f"protocol error {code}")]

    def _info(self, common: m.RequestCommon) -> RequestInfo:
        assert self.name is not None
        return RequestInfo(
            client=self.name,
            identifier=common.identifier,
            global_=common.global_,
            persistence=common.persistence,
            connection=self.connection_id,
            verbosity=common.verbosity,
            client_token=common.client_token,
            priority=common.priority,
        )

    def _dispatch(self, msg: m.ClientMessage) -> list[Action]:
        if isinstance(msg, m.ClientHello):
            if self.phase is not Phase.HELLO:
                return [Send(r.protocol_error(PE.NO_LATE_CLIENT_HELLOS))]
            self.phase = Phase.READY
            self.name = msg.name
            hello = r.node_hello(self.config.identity, self.connection_id)
            return [Registered(msg.name), Send(hello)]
        if isinstance(msg, m.Disconnect):
            self.phase = Phase.CLOSED
            return [Close("client disconnected")]
        if isinstance(msg, m.GenerateSSK):
            return [Call(GenerateSSKOp(msg.identifier))]
        if isinstance(msg, m.ClientPut | m.ClientPutComplexDir | m.ClientPutDiskDir | m.ClientGet):
            return self._start(msg)
        if isinstance(msg, m.WatchGlobal):
            self.watch_global = msg.enabled
            self.watch_mask = msg.verbosity_mask
            return []
        if isinstance(msg, m.ListPersistentRequests):
            return [Call(ListOp(msg.identifier, include_global=self.watch_global))]
        if isinstance(msg, m.GetRequestStatus):
            return [Call(StatusOp(msg.identifier, msg.global_, only_data=msg.only_data))]
        if isinstance(msg, m.RemovePersistentRequest):
            return [Call(RemoveOp(msg.identifier, msg.global_))]
        if isinstance(msg, m.ModifyPersistentRequest):
            return [Call(ModifyOp(msg.identifier, msg.global_, msg.priority, msg.client_token))]
        if isinstance(msg, m.TestDDARequest):
            return self._dda_request(msg)
        if isinstance(msg, m.TestDDAResponse):
            return self._dda_response(msg)
        if isinstance(msg, m.SubscribeUSK):
            return self._subscribe(msg)
        if isinstance(msg, m.UnsubscribeUSK):
            info = self.subscriptions.pop(msg.identifier, None)
            if info is None:
                return [Send(r.protocol_error(PE.NO_SUCH_IDENTIFIER, identifier=msg.identifier))]
            return [Call(UnsubscribeOp(msg.identifier))]
        if isinstance(msg, m.SamizdatCheck):
            return self._check(msg)
        if isinstance(msg, m.GetNode):
            return [Call(NodeInfoOp(msg.identifier, msg.with_private, msg.with_volatile))]
        return [Call(PeersOp(msg.identifier, msg.with_metadata, msg.with_volatile))]

    # --- Starting requests -----------------------------------------------------

    def _start(
        self, msg: m.ClientPut | m.ClientPutComplexDir | m.ClientPutDiskDir | m.ClientGet
    ) -> list[Action]:
        common = msg.common
        key = (common.identifier, common.global_)
        if key in self.running:
            return [Send(r.identifier_collision(*key))]
        info = self._info(common)
        try:
            op = self._start_op(msg, info)
        except FCPProtocolError as exc:
            return [Send(self._error(exc))]
        if info.persistence == "connection":
            self.running[key] = info
        return [Call(op)]

    def _denied(self, info: RequestInfo, what: str) -> FCPProtocolError:
        return FCPProtocolError(
            PE.DDA_DENIED,
            f"{what}: send TestDDARequest for its directory first",
            identifier=info.identifier,
            global_=info.global_,
        )

    def _may_read(self, path: str) -> bool:
        return self.config.assume_read_dda or _within(os.path.dirname(_norm(path)), self.read_dirs)

    def _may_write(self, path: str) -> bool:
        return self.config.assume_write_dda or _within(
            os.path.dirname(_norm(path)), self.write_dirs
        )

    def _start_op(
        self,
        msg: m.ClientPut | m.ClientPutComplexDir | m.ClientPutDiskDir | m.ClientGet,
        info: RequestInfo,
    ) -> Op:
        if isinstance(msg, m.ClientGet):
            o = msg.options
            if o.return_type == "disk" and o.filename and not self._may_write(o.filename):
                raise self._denied(info, f"writing {o.filename}")
            return StartGetOp(GetRequest(info=info, uri=msg.uri, options=o))
        if isinstance(msg, m.ClientPut):
            source: DataSource
            if msg.upload_from == "disk":
                assert msg.filename is not None
                if not msg.file_hash and not self._may_read(msg.filename):
                    raise self._denied(info, f"reading {msg.filename}")
                source = DiskFile(_norm(msg.filename))
            elif msg.upload_from == "redirect":
                assert msg.target_uri is not None
                source = Redirect(msg.target_uri)
            else:
                source = DirectData(msg.data or b"")
            request = PutRequest(info=info, uri=msg.uri, source=source, options=msg.options)
            hash_ = (
                msg.file_hash
                if msg.upload_from == "disk" and not self._may_read(msg.filename or "")
                else None
            )
            return StartPutOp(request, file_hash=hash_, connection_id=self.connection_id)
        if isinstance(msg, m.ClientPutDiskDir):
            if not (self.config.assume_read_dda or _within(msg.directory, self.read_dirs)):
                raise self._denied(info, f"reading {msg.directory}")
            request_dir = PutDirRequest(
                info=info,
                uri=msg.uri,
                files=(),
                default_name=msg.default_name,
                options=msg.options,
                disk_directory=_norm(msg.directory),
            )
            return StartPutDirOp(
                request_dir,
                include_hidden=msg.include_hidden,
                allow_unreadable=msg.allow_unreadable,
            )
        files: list[DirFile] = []
        for e in msg.files:
            src: DataSource
            if e.upload_from == "disk":
                assert e.filename is not None
                if not self._may_read(e.filename):
                    raise self._denied(info, f"reading {e.filename}")
                src = DiskFile(_norm(e.filename))
            elif e.upload_from == "redirect":
                assert e.target_uri is not None
                src = Redirect(e.target_uri)
            else:
                src = DirectData(e.data or b"")
            files.append(DirFile(name=e.name, source=src, content_type=e.content_type))
        return StartPutDirOp(
            PutDirRequest(
                info=info,
                uri=msg.uri,
                files=tuple(files),
                default_name=msg.default_name,
                options=msg.options,
            )
        )

    def _check(self, msg: m.SamizdatCheck) -> list[Action]:
        if msg.identifier in self.checks or (msg.identifier, False) in self.running:
            return [Send(r.identifier_collision(msg.identifier, False))]
        self.checks.add(msg.identifier)
        info = RequestInfo(
            client=self.name or "", identifier=msg.identifier, connection=self.connection_id
        )
        request = CheckRequest(info=info, uri=msg.uri, repair=msg.repair, local=msg.local)
        return [Call(CheckOp(request))]

    def check_segment(self, op: CheckOp, segment: CheckSegment) -> list[Action]:
        """A running check reports a segment (only to the connection that asked)."""
        if self.phase is not Phase.READY:
            return []
        return [Send(r.samizdat_check_segment(op.request.info, segment))]

    def _subscribe(self, msg: m.SubscribeUSK) -> list[Action]:
        if msg.identifier in self.subscriptions or (msg.identifier, False) in self.running:
            return [Send(r.identifier_collision(msg.identifier, False))]
        assert self.name is not None
        info = RequestInfo(
            client=self.name,
            identifier=msg.identifier,
            connection=self.connection_id,
            priority=msg.priority,
        )
        self.subscriptions[msg.identifier] = info
        sub = USKSubscription(
            info=info,
            uri=msg.uri,
            dont_poll=msg.dont_poll,
            sparse_poll=msg.sparse_poll,
            ignore_date_hints=msg.ignore_date_hints,
            realtime=msg.realtime,
        )
        return [Call(SubscribeOp(sub, msg.uri_text))]

    # --- TestDDA -----------------------------------------------------------------

    def _dda_request(self, msg: m.TestDDARequest) -> list[Action]:
        if not (msg.want_read or msg.want_write):
            return [
                Send(
                    r.protocol_error(
                        PE.INVALID_FIELD, "ask for WantReadDirectory or WantWriteDirectory"
                    )
                )
            ]
        directory = _norm(msg.directory)
        ch = _DDAChallenge(None, None, None, None)
        if msg.want_read:
            ch.read_path = os.path.join(directory, f"DDACheck-{self._token()}.tmp")
            ch.read_content = self._token()
        if msg.want_write:
            ch.write_path = os.path.join(directory, f"DDACheck-{self._token()}.tmp")
            ch.write_content = self._token()
        self._dda[directory] = ch
        if ch.read_path is not None and ch.read_content is not None:
            return [Call(DDAPrepare(msg.directory, ch.read_path, ch.read_content))]
        return [Send(self._dda_reply(msg.directory, ch))]

    def _dda_reply(self, directory: str, ch: _DDAChallenge) -> FCPMessage:
        return r.test_dda_reply(
            directory,
            read_filename=ch.read_path,
            write_filename=ch.write_path,
            content_to_write=ch.write_content,
        )

    def _dda_response(self, msg: m.TestDDAResponse) -> list[Action]:
        directory = _norm(msg.directory)
        ch = self._dda.pop(directory, None)
        if ch is None:
            extra = "no TestDDARequest is pending for this directory"
            return [Send(r.protocol_error(PE.INVALID_FIELD, extra))]
        read_ok = (
            ch.read_content is not None and (msg.read_content or "").strip() == ch.read_content
        )
        return [
            Call(DDACheck(msg.directory, ch.read_path, ch.write_path, ch.write_content, read_ok))
        ]

    # --- Outcomes of calls -------------------------------------------------------

    def complete(self, op: Op, result: object) -> list[Action]:
        """The outcome of a :class:`Call`: its return value, or the exception it raised."""
        if self.phase is Phase.CLOSED:
            return []
        if isinstance(result, BaseException):
            return self._failed_call(op, result)
        if isinstance(op, GenerateSSKOp):
            insert, request = cast(tuple[str, str], result)
            return [Send(r.ssk_keypair(op.identifier, insert, request))]
        if isinstance(op, StartPutOp | StartPutDirOp | StartGetOp):
            return []
        if isinstance(op, ListOp):
            return self._listing(op, result)  # type: ignore[arg-type]
        if isinstance(op, StatusOp):
            return self._status(op, result)  # type: ignore[arg-type]
        if isinstance(op, RemoveOp):
            if not result:
                return [Send(self._no_such(op.identifier, op.global_))]
            self.running.pop((op.identifier, op.global_), None)
            return [Send(r.persistent_request_removed(op.identifier, op.global_))]
        if isinstance(op, ModifyOp):
            if result is None:
                return [Send(self._no_such(op.identifier, op.global_))]
            assert isinstance(result, RequestStatus)
            return [Send(r.persistent_request_modified(result.info))]
        if isinstance(op, SubscribeOp):
            s = op.subscription
            return [Send(r.subscribed_usk(s.info.identifier, op.uri_text, s.dont_poll))]
        if isinstance(op, NodeInfoOp):
            return [Send(r.node_data(op.identifier, result))]  # type: ignore[arg-type]
        if isinstance(op, PeersOp):
            peers = [Send(r.peer(op.identifier, p)) for p in result]  # type: ignore[attr-defined]
            return [*peers, Send(r.end_list_peers(op.identifier))]
        if isinstance(op, DDAPrepare):
            ch = self._dda.get(_norm(op.directory))
            return [] if ch is None else [Send(self._dda_reply(op.directory, ch))]
        if isinstance(op, DDACheck):
            return self._dda_done(op, result)
        if isinstance(op, ExtensionOp):
            try:
                return [Send(x) for x in ext.replies(op.request, result)]
            except FCPProtocolError as exc:
                return [Send(self._error(exc))]
        if isinstance(op, CheckOp):
            info = op.request.info
            self.checks.discard(info.identifier)
            if isinstance(result, CheckResult):
                return [Send(r.samizdat_check_complete(info, result))]
            assert isinstance(result, GetFailure)
            return [Send(x) for x in self._terminal(info, result, False)]
        return []

    def _no_such(self, identifier: str, global_: bool) -> FCPMessage:
        return r.protocol_error(PE.NO_SUCH_IDENTIFIER, identifier=identifier, global_=global_)

    def _failed_call(self, op: Op, exc: BaseException) -> list[Action]:
        identifier = getattr(op, "identifier", None)
        global_ = bool(getattr(op, "global_", False))
        if isinstance(op, StartPutOp | StartPutDirOp | StartGetOp):
            info = op.request.info
            identifier, global_ = info.identifier, info.global_
            self.running.pop((identifier, global_), None)
            if isinstance(exc, IdentifierInUse):
                return [Send(r.identifier_collision(identifier, global_))]
        if isinstance(op, SubscribeOp):
            identifier = op.subscription.info.identifier
            self.subscriptions.pop(identifier, None)
        if isinstance(op, CheckOp):
            identifier = op.request.info.identifier
            self.checks.discard(identifier)
        if isinstance(op, ExtensionOp):
            identifier = op.request.identifier
        if isinstance(op, DDAPrepare):
            self._dda.pop(_norm(op.directory), None)
            extra = f"could not create the test file in {op.directory}: {exc}"
            return [Send(r.protocol_error(PE.COULD_NOT_CREATE_FILE, extra))]
        if isinstance(exc, FCPProtocolError | BackendError):
            code, text = exc.code, exc.description
        else:
            code, text = PE.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"
        msg = r.protocol_error(code, text, identifier=identifier, global_=global_)
        return [Send(msg)]

    def _listing(self, op: ListOp, statuses: list[RequestStatus]) -> list[Action]:
        out: list[Action] = []
        for status in statuses:
            out.append(Send(_persistent_message(status.request, status.started)))
            if status.progress is not None:
                out.append(Send(r.simple_progress(status.info, status.progress)))
            if status.terminal is not None:
                out.extend(Send(x) for x in self._terminal(status.info, status.terminal, False))
        out.append(Send(r.end_list_persistent_requests(op.identifier)))
        return out

    def _status(self, op: StatusOp, status: RequestStatus | None) -> list[Action]:
        if status is None:
            return [Send(self._no_such(op.identifier, op.global_))]
        info, term = status.info, status.terminal
        if op.only_data:
            if isinstance(term, GetSucceeded) and term.data is not None:
                return [Send(r.all_data(info, term))]
            return []
        out: list[Action] = []
        if status.progress is not None:
            out.append(Send(r.simple_progress(info, status.progress)))
        if term is not None:
            out.extend(Send(x) for x in self._terminal(info, term, True))
        if not out:
            out.append(Send(_persistent_message(status.request, status.started)))
        return out

    def _dda_done(self, op: DDACheck, written: object) -> list[Action]:
        directory = _norm(op.directory)
        write_ok = (
            op.write_content is not None
            and isinstance(written, str)
            and written.strip() == op.write_content
        )
        if op.read_ok:
            self.read_dirs.add(directory)
        if write_ok:
            self.write_dirs.add(directory)
        complete = r.test_dda_complete(
            op.directory, read_allowed=op.read_ok, write_allowed=write_ok
        )
        return [Send(complete)]

    # --- Backend events ---------------------------------------------------------

    def _sees(self, info: RequestInfo) -> tuple[bool, bool]:
        """(this connection sees the request's messages, it started the request)."""
        own = info.connection == self.connection_id
        if self.phase is not Phase.READY:
            return False, own
        if info.global_:
            return own or self.watch_global, own
        if info.client != self.name:
            return False, own
        return own or info.persistence != "connection", own

    def on_event(self, event: RequestEvent) -> list[Action]:
        info, ev = event.info, event.event
        sees, own = self._sees(info)
        if not sees:
            return []
        verbosity = info.verbosity if own or not info.global_ else info.verbosity & self.watch_mask
        if isinstance(ev, Progress):
            if verbosity & VERBOSITY_PROGRESS:
                return [Send(r.simple_progress(info, ev))]
            return []
        if isinstance(ev, PutFetchable):
            if verbosity & VERBOSITY_PUT_FETCHABLE:
                return [Send(r.put_fetchable(info, ev.uri))]
            return []
        if isinstance(ev, URIGenerated):
            return [Send(r.uri_generated(info, ev.uri))]
        if isinstance(ev, USKUpdate):
            if info.identifier in self.subscriptions and own:
                return [Send(r.subscribed_usk_update(info, ev))]
            return []
        if own:
            self.running.pop((info.identifier, info.global_), None)
        push_data = own and info.persistence == "connection"
        return [Send(x) for x in self._terminal(info, ev, push_data)]

    def _terminal(
        self,
        info: RequestInfo,
        ev: PutSucceeded | PutFailure | GetSucceeded | GetFailure,
        with_data: bool,
    ) -> list[FCPMessage]:
        if isinstance(ev, PutSucceeded):
            return [r.put_successful(info, ev.uri)]
        if isinstance(ev, PutFailure):
            return [r.put_failed(info, ev)]
        if isinstance(ev, GetSucceeded):
            out = [r.data_found(info, ev)]
            if with_data and ev.data is not None:
                out.append(r.all_data(info, ev))
            return out
        if ev.code in REDIRECT_CODES and not ev.redirect_uri:
            extra = f"the node reported code {ev.code} without a RedirectURI"
            ev = GetFailure(code=17, extra=extra)
        return [r.get_failed(info, ev)]

    def on_request_added(self, request: Request) -> list[Action]:
        """A persistent request was queued (by any connection): announce it if we see it."""
        sees, _ = self._sees(request.info)
        if not sees or request.info.persistence == "connection":
            return []
        return [Send(_persistent_message(request, True))]

    # --- The end of the connection ----------------------------------------------

    def close_duplicate(self) -> list[Action]:
        """Another connection said hello with our Name: tell the client, then close."""
        if self.phase is Phase.CLOSED:
            return []
        self.phase = Phase.CLOSED
        return [Send(r.close_duplicate_client_name()), Close("duplicate client name")]

    def connection_lost(self) -> list[Op]:
        """What to cancel now that the connection is gone (run, ignore the outcomes)."""
        self.phase = Phase.CLOSED
        ops: list[Op] = [RemoveOp(i, g) for (i, g) in self.running]
        ops += [UnsubscribeOp(i) for i in self.subscriptions]
        ops += [
            DDACheck(d, ch.read_path, ch.write_path, None, False, cleanup_only=True)
            for d, ch in self._dda.items()
        ]
        self.running.clear()
        self.subscriptions.clear()
        self._dda.clear()
        return ops


def _persistent_message(request: Request, started: bool) -> FCPMessage:
    if isinstance(request, GetRequest):
        return r.persistent_get(request, started=started)
    if isinstance(request, PutRequest):
        return r.persistent_put(request, started=started)
    return r.persistent_put_dir(request, started=started)
