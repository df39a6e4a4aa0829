"""An async FCP 2.0 client (anyio) for the CLI and the TUI: one connection, many requests.

``async with FCPClient.connect(host, port) as fcp:`` says ClientHello, reads
NodeHello (``fcp.node_hello``), and starts one reader task that routes every
incoming message by its ``Identifier`` to the request waiting for it, so any
number of puts and gets run concurrently over the connection. Messages that
belong to no request of ours (global-queue traffic after :meth:`watch_global`)
are offered on :meth:`FCPClient.events`.

Failures raise :class:`FCPError` subclasses carrying the node's code and texts:
:class:`GetFailedError` (with ``redirect_uri``), :class:`PutFailedError`,
:class:`ProtocolErrorReply`, :class:`IdentifierCollisionError`, and
:class:`FCPConnectionError` when the connection ends under a request.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from node.fcp.client_types import (
    FCPConnectionError,
    FCPError,
    GetFailedError,
    GetResult,
    IdentifierCollisionError,
    ProtocolErrorReply,
    PutFailedError,
    SSKKeypair,
    file_hash,
    new_identifier,
)
from node.fcp.protocol import FCPMessage, FCPParser, FCPProtocolError, encode_header

ProgressCallback = Callable[[FCPMessage], None]
CHUNK = 256 * 1024  # bytes per send when streaming a file's content
MAX_REDIRECTS = 5  # GetFailed 11/27 RedirectURIs followed by get() before giving up
_EVENT_BUFFER = 1000  # unrouted messages kept for events(); older ones are dropped


class FCPClient:
    """One FCP connection (create with :meth:`connect`)."""

    def __init__(self, stream: anyio.abc.ByteStream, name: str) -> None:
        self._stream = stream
        self.name = name
        self.node_hello: FCPMessage | None = None
        self._parser = FCPParser()
        self._send_lock = anyio.Lock()
        self._routes: dict[str, MemoryObjectSendStream[FCPMessage | None]] = {}
        self._untagged: MemoryObjectSendStream[FCPMessage | None] | None = None
        self._untagged_lock = anyio.Lock()
        self._listing: MemoryObjectSendStream[FCPMessage | None] | None = None
        self._events_send, self._events_recv = anyio.create_memory_object_stream[FCPMessage](
            _EVENT_BUFFER
        )
        self._closed: FCPError | None = None

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        host: str = "127.0.0.1",
        port: int = 9481,
        *,
        name: str | None = None,
        timeout: float = 10.0,
    ) -> AsyncIterator[FCPClient]:
        """Connect and say hello; raises :class:`FCPConnectionError` if the node is not there."""
        try:
            with anyio.fail_after(timeout):
                stream = await anyio.connect_tcp(host, port)
        except (OSError, TimeoutError) as exc:
            raise FCPConnectionError(
                f"cannot reach the node's FCP port at {host}:{port} ({exc}); is the node running?"
            ) from None
        client = cls(stream, name or new_identifier("samizdat-client"))
        try:
            async with (
                stream,
                client._events_send,
                client._events_recv,
                anyio.create_task_group() as tg,
            ):
                with anyio.fail_after(timeout):
                    await client._hello()
                tg.start_soon(client._reader)
                try:
                    yield client
                finally:
                    tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # What the caller raised inside ``async with`` comes back wrapped by our
            # task group: hand it back as it was raised (GetFailedError, not a group).
            leaves = _leaves(group)
            if len(leaves) == 1:
                raise leaves[0] from None
            raise

    # --- Plumbing ----------------------------------------------------------------

    async def _send(
        self, name: str, fields: Mapping[str, object], data: bytes | None = None
    ) -> None:
        header = encode_header(name, fields, data=data is not None)
        async with self._send_lock:
            await self._stream.send(header)
            if data:
                await self._stream.send(data)

    async def _send_parts(
        self, name: str, fields: Mapping[str, object], parts: list[bytes | Path]
    ) -> None:
        """Send a header then payload parts (bytes, or files streamed in chunks)."""
        async with self._send_lock:
            await self._stream.send(encode_header(name, fields, data=True))
            for part in parts:
                if isinstance(part, Path):
                    async with await anyio.open_file(part, "rb") as f:
                        while chunk := await f.read(CHUNK):
                            await self._stream.send(chunk)
                elif part:
                    await self._stream.send(part)

    async def _receive_one(self) -> FCPMessage:
        while True:
            msg = self._parser.next_message()
            if msg is not None:
                return msg
            try:
                data = await self._stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError) as exc:
                raise FCPConnectionError("the node closed the FCP connection") from exc
            self._parser.receive_data(data)

    async def _hello(self) -> None:
        await self._send("ClientHello", {"Name": self.name, "ExpectedVersion": "2.0"})
        msg = await self._receive_one()
        if msg.name != "NodeHello":
            raise FCPError.from_message(msg)
        self.node_hello = msg

    async def _reader(self) -> None:
        try:
            while True:
                try:
                    msg = await self._receive_one()
                except FCPProtocolError as exc:
                    if exc.fatal:
                        raise FCPConnectionError(f"the node sent garbage: {exc}") from None
                    continue
                self._route(msg)
        except FCPError as exc:
            self._closed = exc
        finally:
            self._closed = self._closed or FCPConnectionError("the FCP connection closed")
            for stream in [*self._routes.values(), self._untagged, self._listing]:
                if stream is not None:
                    stream.send_nowait(None)

    def _route(self, msg: FCPMessage) -> None:
        if msg.name == "CloseConnectionDuplicateClientName":
            raise FCPConnectionError("another client connected with the same name; closed")
        if self._listing is not None and (
            msg.name.startswith("Persistent")
            or msg.name == "EndListPersistentRequests"
            or msg.get("Identifier") not in self._routes
        ):
            self._listing.send_nowait(msg)
            return
        identifier = msg.get("Identifier")
        route = self._routes.get(identifier) if identifier is not None else None
        if route is not None:
            route.send_nowait(msg)
        elif self._untagged is not None and (identifier is None or msg.name == "ProtocolError"):
            self._untagged.send_nowait(msg)
        else:
            # Nobody reading events(): drop rather than block the reader.
            with contextlib.suppress(anyio.WouldBlock):
                self._events_send.send_nowait(msg)

    @asynccontextmanager
    async def _route_for(
        self, identifier: str
    ) -> AsyncIterator[MemoryObjectReceiveStream[FCPMessage | None]]:
        if self._closed is not None:
            raise self._closed
        if identifier in self._routes:
            raise IdentifierCollisionError(f"identifier {identifier!r} is already in use here")
        send, receive = anyio.create_memory_object_stream[FCPMessage | None](float("inf"))
        self._routes[identifier] = send
        try:
            yield receive
        finally:
            del self._routes[identifier]
            send.close()
            receive.close()

    @asynccontextmanager
    async def _untagged_route(self) -> AsyncIterator[MemoryObjectReceiveStream[FCPMessage | None]]:
        async with self._untagged_lock:
            if self._closed is not None:
                raise self._closed
            send, receive = anyio.create_memory_object_stream[FCPMessage | None](float("inf"))
            self._untagged = send
            try:
                yield receive
            finally:
                self._untagged = None
                send.close()
                receive.close()

    async def _next(self, stream: MemoryObjectReceiveStream[FCPMessage | None]) -> FCPMessage:
        msg = await stream.receive()
        if msg is None:
            raise self._closed or FCPConnectionError("the FCP connection closed")
        if msg.name == "ProtocolError":
            raise ProtocolErrorReply.from_message(msg)
        if msg.name == "IdentifierCollision":
            raise IdentifierCollisionError(
                f"the node already has a request {msg.get('Identifier')!r}", message=msg
            )
        return msg

    async def events(self) -> AsyncIterator[FCPMessage]:
        """Messages for no request of this client (e.g. global-queue traffic)."""
        async for msg in self._events_recv:
            yield msg

    # --- Requests ------------------------------------------------------------------

    async def generate_ssk(self) -> SSKKeypair:
        identifier = new_identifier("keygen")
        async with self._route_for(identifier) as replies:
            await self._send("GenerateSSK", {"Identifier": identifier})
            msg = await self._next(replies)
        return SSKKeypair(msg["InsertURI"], msg["RequestURI"])

    async def _await_put(
        self,
        replies: MemoryObjectReceiveStream[FCPMessage | None],
        progress: ProgressCallback | None,
    ) -> str:
        while True:
            msg = await self._next(replies)
            if msg.name == "PutSuccessful":
                return msg["URI"]
            if msg.name == "PutFailed":
                raise PutFailedError.from_message(msg)
            if progress is not None:
                progress(msg)

    async def put(
        self,
        uri: str = "CHK@",
        data: bytes | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        from_disk: bool = False,
        content_type: str | None = None,
        target_filename: str | None = None,
        get_chk_only: bool = False,
        dont_compress: bool = False,
        global_: bool = False,
        persistence: str = "connection",
        priority: int | None = None,
        identifier: str | None = None,
        progress: ProgressCallback | None = None,
        extra_inserts_single_block: int | None = None,
        extra_inserts_splitfile_header_block: int | None = None,
    ) -> str:
        """Insert ``data`` or the file at ``path``; returns the final URI.

        A file is streamed inline in chunks, unless ``from_disk`` asks the node
        to read it itself (after :meth:`test_dda`, or proven with FileHash).
        ``progress`` sees every non-final message (URIGenerated, SimpleProgress…).
        ``extra_inserts_*`` (0..10) send ExtraInsertsSingleBlock and
        ExtraInsertsSplitfileHeaderBlock; ``None`` leaves the node's default (2).
        """
        if (data is None) == (path is None):
            raise ValueError("put() takes exactly one of data and path")
        identifier = identifier or new_identifier("put")
        fields: dict[str, object] = {
            "URI": uri,
            "Identifier": identifier,
            "Verbosity": 1 if progress else 0,
            "Global": global_,
            "Persistence": persistence,
            "GetCHKOnly": get_chk_only,
            "DontCompress": dont_compress,
            "Metadata.ContentType": content_type,
            "TargetFilename": target_filename,
            "PriorityClass": priority,
            "ExtraInsertsSingleBlock": extra_inserts_single_block,
            "ExtraInsertsSplitfileHeaderBlock": extra_inserts_splitfile_header_block,
        }
        async with self._route_for(identifier) as replies:
            if path is not None and from_disk:
                assert self.node_hello is not None
                full = os.path.abspath(path)
                fields.update(UploadFrom="disk", Filename=full)
                conn = self.node_hello.get("ConnectionIdentifier") or ""
                fields["FileHash"] = await anyio.to_thread.run_sync(
                    file_hash, conn, identifier, full
                )
                await self._send("ClientPut", fields)
            elif path is not None:
                size = os.path.getsize(path)
                fields.update(UploadFrom="direct", DataLength=size)
                await self._send_parts("ClientPut", fields, [Path(path)])
            else:
                assert data is not None
                fields.update(UploadFrom="direct", DataLength=len(data))
                await self._send_parts("ClientPut", fields, [data])
            return await self._await_put(replies, progress)

    async def put_dir(
        self,
        uri: str,
        files: Mapping[str, bytes | str | os.PathLike[str]],
        *,
        default_name: str | None = None,
        content_types: Mapping[str, str] | None = None,
        global_: bool = False,
        persistence: str = "connection",
        identifier: str | None = None,
        progress: ProgressCallback | None = None,
        extra_inserts_single_block: int | None = None,
        extra_inserts_splitfile_header_block: int | None = None,
    ) -> str:
        """Insert a site: ``files`` maps names (may contain ``/``) to bytes or local paths,
        all sent inline (ClientPutComplexDir). Returns the site's URI. ``extra_inserts_*``
        as for :meth:`put`."""
        identifier = identifier or new_identifier("putdir")
        fields: dict[str, object] = {
            "URI": uri,
            "Identifier": identifier,
            "Verbosity": 1 if progress else 0,
            "Global": global_,
            "Persistence": persistence,
            "DefaultName": default_name,
            "ExtraInsertsSingleBlock": extra_inserts_single_block,
            "ExtraInsertsSplitfileHeaderBlock": extra_inserts_splitfile_header_block,
        }
        parts: list[bytes | Path] = []
        for i, (name, content) in enumerate(files.items()):
            part = content if isinstance(content, bytes) else Path(content)
            size = len(part) if isinstance(part, bytes) else part.stat().st_size
            fields[f"Files.{i}.Name"] = name
            fields[f"Files.{i}.UploadFrom"] = "direct"
            fields[f"Files.{i}.DataLength"] = size
            if content_types and name in content_types:
                fields[f"Files.{i}.Metadata.ContentType"] = content_types[name]
            parts.append(part)
        async with self._route_for(identifier) as replies:
            await self._send_parts("ClientPutComplexDir", fields, parts)
            return await self._await_put(replies, progress)

    async def get(
        self,
        uri: str,
        *,
        output: str | os.PathLike[str] | None = None,
        to_disk: bool = False,
        max_size: int | None = None,
        global_: bool = False,
        persistence: str = "connection",
        identifier: str | None = None,
        progress: ProgressCallback | None = None,
        follow_redirects: bool = True,
    ) -> GetResult:
        """Fetch ``uri``. The data comes back in the result, or is written to ``output``
        (by this client, or by the node itself with ``to_disk`` after TestDDA).
        RedirectURIs (GetFailed 11 and 27) are followed up to MAX_REDIRECTS times."""
        for _ in range(MAX_REDIRECTS + 1):
            try:
                return await self._get_once(
                    uri, output, to_disk, max_size, global_, persistence, identifier, progress
                )
            except GetFailedError as exc:
                if not follow_redirects or not exc.redirect_uri:
                    raise
                uri = exc.redirect_uri
        raise GetFailedError("too many redirects", code=3)

    async def _get_once(
        self,
        uri: str,
        output: str | os.PathLike[str] | None,
        to_disk: bool,
        max_size: int | None,
        global_: bool,
        persistence: str,
        identifier: str | None,
        progress: ProgressCallback | None,
    ) -> GetResult:
        identifier = identifier or new_identifier("get")
        disk = to_disk and output is not None
        fields: dict[str, object] = {
            "URI": uri,
            "Identifier": identifier,
            "Verbosity": 1 if progress else 0,
            "ReturnType": "disk" if disk else "direct",
            "Filename": os.path.abspath(output) if disk and output is not None else None,
            "MaxSize": max_size,
            "Global": global_,
            "Persistence": persistence,
        }
        async with self._route_for(identifier) as replies:
            await self._send("ClientGet", fields)
            found: FCPMessage | None = None
            while True:
                msg = await self._next(replies)
                if msg.name == "GetFailed":
                    raise GetFailedError.from_message(msg)
                if msg.name == "DataFound":
                    found = msg
                    if disk or persistence != "connection":
                        break
                elif msg.name == "AllData":
                    found = msg
                    break
                elif progress is not None:
                    progress(msg)
        content_type = found.get("Metadata.ContentType") or "application/octet-stream"
        data = found.data
        if data is not None and output is not None and not disk:
            async with await anyio.open_file(output, "wb") as f:
                await f.write(data)
        length = len(data) if data is not None else int(found.get("DataLength") or 0)
        return GetResult(uri, content_type, length, None if output is not None else data)

    async def watch_global(self, enabled: bool = True, verbosity_mask: int = -1) -> None:
        await self._send("WatchGlobal", {"Enabled": enabled, "VerbosityMask": verbosity_mask})

    async def list_persistent(self) -> list[FCPMessage]:
        """Every message of a ListPersistentRequests reply, up to EndListPersistentRequests."""
        async with self._untagged_lock:
            send, receive = anyio.create_memory_object_stream[FCPMessage | None](float("inf"))
            self._listing = send
            try:
                await self._send("ListPersistentRequests", {})
                out: list[FCPMessage] = []
                while (msg := await self._next(receive)).name != "EndListPersistentRequests":
                    out.append(msg)
                return out
            finally:
                self._listing = None
                send.close()
                receive.close()

    async def get_status(self, identifier: str, *, global_: bool = False) -> FCPMessage:
        """The first message of a GetRequestStatus reply (progress, result or description)."""
        async with self._route_for(identifier) as replies:
            await self._send("GetRequestStatus", {"Identifier": identifier, "Global": global_})
            return await self._next(replies)

    async def get_data(self, identifier: str, *, global_: bool = False) -> bytes:
        """The data of a finished persistent direct fetch (GetRequestStatus OnlyData)."""
        async with self._route_for(identifier) as replies:
            fields = {"Identifier": identifier, "Global": global_, "OnlyData": True}
            await self._send("GetRequestStatus", fields)
            while (msg := await self._next(replies)).name != "AllData":
                pass
            return msg.data or b""

    async def remove(self, identifier: str, *, global_: bool = False) -> None:
        async with self._route_for(identifier) as replies:
            await self._send(
                "RemovePersistentRequest", {"Identifier": identifier, "Global": global_}
            )
            while (await self._next(replies)).name != "PersistentRequestRemoved":
                pass

    @asynccontextmanager
    async def subscribe_usk(self, uri: str) -> AsyncIterator[AsyncIterator[tuple[int, str]]]:
        """``async with fcp.subscribe_usk(uri) as updates: async for edition, uri in updates``."""
        identifier = new_identifier("usk")
        async with self._route_for(identifier) as replies:
            await self._send("SubscribeUSK", {"URI": uri, "Identifier": identifier})
            await self._next(replies)  # SubscribedUSK

            async def updates() -> AsyncIterator[tuple[int, str]]:
                while True:
                    msg = await self._next(replies)
                    if msg.name == "SubscribedUSKUpdate":
                        yield int(msg["Edition"]), msg["URI"]

            try:
                yield updates()
            finally:
                if self._closed is None:
                    with anyio.CancelScope(shield=True):
                        await self._send("UnsubscribeUSK", {"Identifier": identifier})

    async def node_info(
        self, *, with_private: bool = False, with_volatile: bool = False
    ) -> dict[str, str]:
        identifier = new_identifier("node")
        async with self._route_for(identifier) as replies:
            fields = {
                "Identifier": identifier,
                "WithPrivate": with_private,
                "WithVolatile": with_volatile,
            }
            await self._send("GetNode", fields)
            msg = await self._next(replies)
        return {k: v for k, v in msg.fields.items() if k != "Identifier"}

    async def list_peers(self, *, with_volatile: bool = False) -> list[dict[str, str]]:
        identifier = new_identifier("peers")
        peers: list[dict[str, str]] = []
        async with self._route_for(identifier) as replies:
            fields = {"Identifier": identifier, "WithMetadata": True, "WithVolatile": with_volatile}
            await self._send("ListPeers", fields)
            while (msg := await self._next(replies)).name != "EndListPeers":
                peers.append({k: v for k, v in msg.fields.items() if k != "Identifier"})
        return peers

    # --- Samizdat extensions (specs/fcp.md, "Samizdat extensions") -----------------

    async def _extension(
        self, name: str, fields: Mapping[str, object], end: str
    ) -> list[FCPMessage]:
        identifier = new_identifier("ext")
        out: list[FCPMessage] = []
        async with self._route_for(identifier) as replies:
            await self._send(name, {"Identifier": identifier, **fields})
            while (msg := await self._next(replies)).name != end:
                out.append(msg)
        return [*out, msg]

    async def add_peer(self, noderef: str) -> tuple[str, bool]:
        """Add a darknet friend's reference (line breaks and spaces are dropped):
        ``(short identity, newly added)``."""
        noderef = "".join(noderef.split())
        reply = (
            await self._extension("SamizdatAddPeer", {"NodeRef": noderef}, "SamizdatPeerAdded")
        )[-1]
        return reply.get("Identity") or "", (reply.get("New") or "").lower() == "true"

    async def list_entries(self, kind: str, *, with_private: bool = False) -> list[dict[str, str]]:
        """Named entries kept in the node (``kind`` ``Keypair`` or ``Bookmark``); insert
        keys only with ``with_private``."""
        fields = {"Kind": kind, "WithPrivate": with_private}
        msgs = await self._extension("SamizdatListEntries", fields, "SamizdatEndListEntries")
        return [
            {k: v for k, v in m.fields.items() if k not in ("Identifier", "Kind")}
            for m in msgs[:-1]
        ]

    async def put_entry(self, kind: str, name: str, fields: Mapping[str, object]) -> None:
        """Add or replace the entry ``name`` of ``kind``."""
        await self._extension(
            "SamizdatPutEntry", {"Kind": kind, "Name": name, **fields}, "SamizdatEntryStored"
        )

    async def remove_entry(self, kind: str, name: str) -> None:
        await self._extension(
            "SamizdatRemoveEntry", {"Kind": kind, "Name": name}, "SamizdatEntryRemoved"
        )

    async def check(
        self,
        uri: str,
        *,
        repair: bool = False,
        local: Sequence[bytes | str | os.PathLike[str]] = (),
        on_segment: ProgressCallback | None = None,
        identifier: str | None = None,
    ) -> FCPMessage:
        """``SamizdatCheck``: probe every block of ``uri`` (and with ``repair`` re-insert
        the missing ones, from ``local`` copies when given). ``on_segment`` sees each
        ``SamizdatCheckSegment``; returns ``SamizdatCheckComplete``. Raises
        :class:`GetFailedError` when the key itself cannot be fetched."""
        identifier = identifier or new_identifier("check")
        fields: dict[str, object] = {"URI": uri, "Identifier": identifier, "Repair": repair}
        parts: list[bytes | Path] = []
        for i, item in enumerate(local):
            part = item if isinstance(item, bytes) else Path(item)
            size = len(part) if isinstance(part, bytes) else part.stat().st_size
            fields[f"Files.{i}.DataLength"] = size
            parts.append(part)
        async with self._route_for(identifier) as replies:
            if parts:
                fields["DataLength"] = sum(
                    len(p) if isinstance(p, bytes) else p.stat().st_size for p in parts
                )
                await self._send_parts("SamizdatCheck", fields, parts)
            else:
                await self._send("SamizdatCheck", fields)
            while True:
                msg = await self._next(replies)
                if msg.name == "SamizdatCheckComplete":
                    return msg
                if msg.name == "GetFailed":
                    raise GetFailedError.from_message(msg)
                if on_segment is not None:
                    on_segment(msg)

    async def test_dda(
        self, directory: str | os.PathLike[str], *, read: bool = True, write: bool = False
    ) -> tuple[bool, bool]:
        """Prove to the node that we share ``directory``: ``(read_allowed, write_allowed)``."""
        directory = os.path.abspath(directory)
        async with self._untagged_route() as replies:
            fields = {
                "Directory": directory,
                "WantReadDirectory": read,
                "WantWriteDirectory": write,
            }
            await self._send("TestDDARequest", fields)
            reply = await self._next(replies)
            response: dict[str, object] = {"Directory": directory}
            if reply.get("ReadFilename"):
                text = await anyio.Path(reply["ReadFilename"]).read_text()
                response["ReadContent"] = text
            if reply.get("WriteFilename"):
                await anyio.Path(reply["WriteFilename"]).write_text(
                    reply.get("ContentToWrite") or ""
                )
            await self._send("TestDDAResponse", response)
            done = await self._next(replies)
        return (
            (done.get("ReadDirectoryAllowed") or "").lower() == "true",
            (done.get("WriteDirectoryAllowed") or "").lower() == "true",
        )


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out += _leaves(exc)
        elif not isinstance(exc, anyio.get_cancelled_exc_class()):
            out.append(exc)
    return out


__all__ = [
    "FCPClient",
    "FCPConnectionError",
    "FCPError",
    "GetFailedError",
    "GetResult",
    "IdentifierCollisionError",
    "ProtocolErrorReply",
    "PutFailedError",
    "SSKKeypair",
    "file_hash",
    "new_identifier",
]
