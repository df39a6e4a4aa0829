"""The FCP 2.0 TCP server: an anyio shell around the parser, the session and an FCPBackend.

One task group owns the listener; each connection gets a reader (bytes →
:class:`~node.fcp.protocol.FCPParser` → :class:`~node.fcp.session.Session` →
actions) and a writer (an unbounded in-memory outbox → the socket, so replies
and backend events leave in the order they were produced). Session
:class:`~node.fcp.session.Call` actions run here, against the backend or the
file system (TestDDA, FileHash, ClientPutDiskDir listings; file work runs in a
worker thread), and their outcomes go back to the session.

Failures stay per connection: a malformed message gets a ProtocolError and the
connection goes on where the parser can resynchronise; a fatal one closes only
that connection; an exception while serving a connection is logged and never
reaches the listener's task group. ``connection``-persistence requests and
USK subscriptions are cancelled when their connection ends.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from node.fcp import extensions
from node.fcp.backend import (
    BackendError,
    CheckBackend,
    CheckSegment,
    DirFile,
    DiskFile,
    FCPBackend,
    GetRequest,
    PutDirRequest,
    PutRequest,
    RequestEvent,
)
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
from node.fcp.protocol import FCPMessage, FCPParser, FCPProtocolError, Limits, encode_header
from node.fcp.session import Action, Call, Close, Registered, Send, Session, SessionConfig

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"  # FCP gives full control of the node: loopback only by default
DEFAULT_PORT = 9481
# Bytes asked of the socket per read: large enough that a 64 MiB ClientPut
# takes ~1,000 reads, small enough not to matter per connection.
READ_SIZE = 256 * 1024
# A connection that has not said ClientHello by then is dropped: it holds a
# socket and buffers and has not shown it speaks FCP.
HELLO_TIMEOUT = 30.0
# How long cancelling a closed connection's requests may take before we give up.
CLEANUP_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT  # 0: any free port (see FCPServer.port)
    limits: Limits = field(default_factory=Limits)
    session: SessionConfig = field(default_factory=SessionConfig)
    hello_timeout: float = HELLO_TIMEOUT


class _CloseMarker:
    pass


_CLOSE = _CloseMarker()
Outgoing = FCPMessage | _CloseMarker


@dataclass(eq=False, slots=True)
class _Connection:
    session: Session
    outbox: MemoryObjectSendStream[Outgoing]
    closing: bool = False
    tasks: anyio.abc.TaskGroup | None = None  # the connection's own (SamizdatCheck runs there)


class FCPServer:
    """Serves FCP on ``config.host:config.port`` until cancelled."""

    def __init__(self, backend: FCPBackend, config: ServerConfig | None = None) -> None:
        self.backend = backend
        self.config = config or ServerConfig()
        self.port: int | None = None
        self._connections: set[_Connection] = set()
        self._names: dict[str, _Connection] = {}

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen and serve; ``task_status.started`` gets the bound port."""
        listener = await anyio.create_tcp_listener(
            local_host=self.config.host, local_port=self.config.port, reuse_port=False
        )
        remove = self.backend.add_listener(self._on_event)
        try:
            async with listener, anyio.create_task_group() as tg:
                self.port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
                task_status.started(self.port)
                await listener.serve(self._handle, task_group=tg)
        finally:
            remove()

    # --- One connection --------------------------------------------------------

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        send, receive = anyio.create_memory_object_stream[Outgoing](math.inf)
        conn = _Connection(Session(self.config.session), send)
        self._connections.add(conn)
        try:
            async with stream, send, receive, anyio.create_task_group() as tg:
                conn.tasks = tg
                tg.start_soon(self._writer, stream, receive, tg.cancel_scope)
                await self._reader(stream, conn)
        except Exception:
            log.exception("FCP connection %s failed", conn.session.connection_id)
        finally:
            self._connections.discard(conn)
            if conn.session.name is not None and self._names.get(conn.session.name) is conn:
                del self._names[conn.session.name]
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_TIMEOUT):
                for op in conn.session.connection_lost():
                    try:
                        await self._execute(op, conn.session)
                    except Exception:
                        log.debug("cleanup of %r failed", op, exc_info=True)

    async def _writer(
        self,
        stream: anyio.abc.SocketStream,
        outbox: MemoryObjectReceiveStream[Outgoing],
        scope: anyio.CancelScope,
    ) -> None:
        try:
            async for item in outbox:
                if isinstance(item, _CloseMarker):
                    break
                if item.data is None:
                    await stream.send(item.encode())
                else:
                    await stream.send(encode_header(item.name, item.fields, data=True))
                    if item.data:
                        await stream.send(item.data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        finally:
            scope.cancel()

    async def _reader(self, stream: anyio.abc.SocketStream, conn: _Connection) -> None:
        parser = FCPParser(self.config.limits)
        session = conn.session
        while not conn.closing:
            try:
                if session.name is None:
                    with anyio.fail_after(self.config.hello_timeout):
                        data = await stream.receive(READ_SIZE)
                else:
                    data = await stream.receive(READ_SIZE)
            except TimeoutError:
                break
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                break
            except OSError:
                break
            parser.receive_data(data)
            while not conn.closing:
                try:
                    msg = parser.next_message()
                except FCPProtocolError as exc:
                    await self._perform(conn, session.parse_error(exc))
                    if exc.fatal:
                        break
                    continue
                if msg is None:
                    break
                await self._perform(conn, session.receive(msg))
        self._deliver(conn, [Close("reader finished")])

    # --- Actions ---------------------------------------------------------------

    def _deliver(self, conn: _Connection, actions: Sequence[Action]) -> None:
        """Queue Send/Close actions (the ones that need no awaiting)."""
        for action in actions:
            if conn.closing:
                return
            if isinstance(action, Send):
                conn.outbox.send_nowait(action.message)
            elif isinstance(action, Close):
                conn.closing = True
                conn.outbox.send_nowait(_CLOSE)

    async def _perform(self, conn: _Connection, actions: Sequence[Action]) -> None:
        for action in actions:
            if isinstance(action, Registered):
                old = self._names.get(action.name)
                if old is not None and old is not conn:
                    self._deliver(old, old.session.close_duplicate())
                self._names[action.name] = conn
            elif isinstance(action, Call) and isinstance(action.op, CheckOp):
                assert conn.tasks is not None
                conn.tasks.start_soon(self._run_check, conn, action.op)
            elif isinstance(action, Call):
                try:
                    result: object = await self._execute(action.op, conn.session)
                except Exception as exc:
                    if not isinstance(exc, FCPProtocolError | BackendError):
                        log.warning(
                            "FCP operation %s failed", type(action.op).__name__, exc_info=True
                        )
                    result = exc
                if isinstance(action.op, StartPutOp | StartPutDirOp | StartGetOp) and not (
                    isinstance(result, BaseException)
                ):
                    self._announce(result)
                await self._perform(conn, conn.session.complete(action.op, result))
            else:
                self._deliver(conn, [action])

    async def _run_check(self, conn: _Connection, op: CheckOp) -> None:
        """A SamizdatCheck, beside the connection's other messages (it may take minutes)."""

        def report(segment: CheckSegment) -> None:
            self._deliver(conn, conn.session.check_segment(op, segment))

        try:
            if not isinstance(self.backend, CheckBackend):
                raise BackendError(PE.NOT_SUPPORTED, "this node does not offer SamizdatCheck")
            result: object = await self.backend.check(op.request, report)
        except Exception as exc:
            if not isinstance(exc, FCPProtocolError | BackendError):
                log.warning("SamizdatCheck failed", exc_info=True)
            result = exc
        await self._perform(conn, conn.session.complete(op, result))

    def _announce(self, request: object) -> None:
        if not isinstance(request, GetRequest | PutRequest | PutDirRequest):
            return
        for conn in list(self._connections):
            self._deliver(conn, conn.session.on_request_added(request))

    def _on_event(self, event: RequestEvent) -> None:
        """The backend's listener: must be called from the event loop's thread."""
        for conn in list(self._connections):
            try:
                self._deliver(conn, conn.session.on_event(event))
            except Exception:
                log.exception("delivering %r failed", event)

    # --- Running operations ---------------------------------------------------------

    async def _execute(self, op: Op, session: Session) -> object:
        backend, client = self.backend, session.name or ""
        if isinstance(op, GenerateSSKOp):
            return await backend.generate_ssk()
        if isinstance(op, StartPutOp):
            if op.file_hash is not None and isinstance(op.request.source, DiskFile):
                info = op.request.info
                salt = f"{op.connection_id}-{info.identifier}-".encode()
                path = op.request.source.path
                digest = await anyio.to_thread.run_sync(_hash_file, salt, path)
                if digest != op.file_hash:
                    raise FCPProtocolError(
                        PE.DDA_DENIED,
                        "FileHash does not match the file; run TestDDA or check the hash",
                        identifier=info.identifier,
                        global_=info.global_,
                    )
            await backend.start_put(op.request)
            return op.request
        if isinstance(op, StartPutDirOp):
            request = op.request
            if request.disk_directory is not None:
                files = await anyio.to_thread.run_sync(
                    _list_dir, request.disk_directory, op.include_hidden, op.allow_unreadable
                )
                request = replace(request, files=files)
            await backend.start_put_dir(request)
            return request
        if isinstance(op, StartGetOp):
            await backend.start_get(op.request)
            return op.request
        if isinstance(op, ListOp):
            return list(await backend.list_persistent(client, include_global=op.include_global))
        if isinstance(op, StatusOp):
            return await backend.get_status(client, op.identifier, op.global_)
        if isinstance(op, RemoveOp):
            return await backend.remove(client, op.identifier, op.global_)
        if isinstance(op, ModifyOp):
            return await backend.modify(
                client,
                op.identifier,
                op.global_,
                priority=op.priority,
                client_token=op.client_token,
            )
        if isinstance(op, SubscribeOp):
            await backend.subscribe_usk(op.subscription)
            return None
        if isinstance(op, UnsubscribeOp):
            await backend.unsubscribe_usk(client, op.identifier)
            return None
        if isinstance(op, NodeInfoOp):
            return await backend.node_info(
                with_private=op.with_private, with_volatile=op.with_volatile
            )
        if isinstance(op, PeersOp):
            return await backend.list_peers(
                with_metadata=op.with_metadata, with_volatile=op.with_volatile
            )
        if isinstance(op, ExtensionOp):
            return await extensions.execute(backend, op.request)
        if isinstance(op, DDAPrepare):
            return await anyio.to_thread.run_sync(_write_new_file, op.path, op.content)
        if isinstance(op, CheckOp):  # pragma: no cover - _perform runs it in its own task
            raise AssertionError("SamizdatCheck runs in _run_check")
        return await anyio.to_thread.run_sync(_dda_check, op)


async def serve_fcp(
    backend: FCPBackend,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    session: SessionConfig | None = None,
    limits: Limits | None = None,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve FCP for ``backend`` until cancelled: ``port = await tg.start(serve_fcp, backend)``."""
    config = ServerConfig(
        host=host,
        port=port,
        session=session or SessionConfig(),
        limits=limits or Limits(),
    )
    await FCPServer(backend, config).serve(task_status=task_status)


# --- File work (run in a worker thread) ------------------------------------------


def _hash_file(salt: bytes, path: str) -> str:
    h = hashlib.sha256(salt)
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError as exc:
        raise FCPProtocolError(PE.FILE_NOT_FOUND, f"{path}: {exc.strerror}") from None
    return base64.b64encode(h.digest()).decode("ascii")


def _write_new_file(path: str, content: str) -> None:
    with open(path, "x", encoding="utf-8") as f:
        f.write(content)


def _dda_check(op: DDACheck) -> str | None:
    written: str | None = None
    if op.write_path is not None and not op.cleanup_only:
        try:
            with open(op.write_path, encoding="utf-8") as f:
                written = f.read(4096)
        except (OSError, UnicodeDecodeError):
            written = None
    for path in (op.read_path, op.write_path):
        if path is not None:
            with contextlib.suppress(OSError):
                os.unlink(path)
    return written


def _list_dir(root: str, include_hidden: bool, allow_unreadable: bool) -> tuple[DirFile, ...]:
    if not os.path.isdir(root):
        raise FCPProtocolError(PE.FILE_NOT_FOUND, f"{root} is not a directory")
    files: list[DirFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if not include_hidden:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        dirnames.sort()
        for name in sorted(filenames):
            if name.startswith(".") and not include_hidden:
                continue
            path = os.path.join(dirpath, name)
            if not os.access(path, os.R_OK):
                if allow_unreadable:
                    continue
                raise FCPProtocolError(PE.COULD_NOT_READ_FILE, f"{path} cannot be read")
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            files.append(DirFile(name=rel, source=DiskFile(path)))
    return tuple(files)
