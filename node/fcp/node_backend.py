"""The FCP backend of a real node: FCP requests run on the client layer's request manager.

:class:`NodeBackend` implements :class:`~node.fcp.backend.FCPBackend`. It maps
FCP's identifiers — per client Name, or on the global queue — onto the request
manager's single namespace, turns the manager's events into FCP events, and
answers node and peer queries from the runtime.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crypto.encoding import b64encode
from crypto.keys import generate_ssk
from node.client.check import LocalCopy, SegmentCheck
from node.client.compression import ALL_CODECS, Codec
from node.client.errors import ClientError
from node.client.manifest import SiteFile
from node.client.requests import IdentifierCollision as ManagerCollision
from node.client.requests import (
    Persistence,
    RequestEvent,
    RequestKind,
    RequestManager,
    RequestNotSaved,
    RequestState,
    ReturnType,
    UnknownRequest,
)
from node.client.requests import RequestStatus as ManagerStatus
from node.fcp import backend as fb
from node.fcp.codes import ProtocolErrorCode as PE
from node.net.noderef import NodeRefError, parse_noderef
from node.net.runtime import NodeRuntime

FCP_CODECS: dict[str, Codec] = {"GZIP": Codec.ZLIB, "BZIP2": Codec.BZ2, "LZMA": Codec.LZMA}
"""FCP codec names (as NodeHello lists them) → the client layer's codecs."""


# The Samizdat extensions' named entries live as sealed blobs of the client
# database under this identifier; the request manager's identifiers all start
# with "g", "c" or "u" and a NUL, so it can never collide with a request.
ENTRIES_ID = "x\x00samizdat-entries"


def manager_id(client: str, identifier: str, global_: bool) -> str:
    """One key per FCP request: global requests by identifier, others per client."""
    return f"g\x00{identifier}" if global_ else f"c\x00{client}\x00{identifier}"


def _split_id(key: str) -> tuple[str, str, bool]:
    parts = key.split("\x00")
    if parts[0] == "g":
        return "", parts[1], True
    return parts[1], parts[2], False


def _codecs(options: fb.PutOptions) -> tuple[Codec, ...]:
    if options.dont_compress:
        return ()
    if not options.codecs:
        return ALL_CODECS
    chosen = tuple(
        FCP_CODECS[name.upper()] for name in options.codecs if name.upper() in FCP_CODECS
    )
    return chosen or ()


def _source(source: fb.DataSource) -> tuple[bytes | Path | None, str | None]:
    if isinstance(source, fb.DirectData):
        return source.data, None
    if isinstance(source, fb.DiskFile):
        return Path(source.path), None
    return None, source.target


class NodeBackend:
    """The FCP server's view of a running node."""

    def __init__(self, manager: RequestManager, runtime: NodeRuntime) -> None:
        self.manager = manager
        self.runtime = runtime
        self._listeners: list[fb.Listener] = []
        self._requests: dict[str, fb.Request] = {}
        self._subscriptions: dict[str, fb.USKSubscription] = {}
        self._uri_generated: dict[str, str] = {}
        manager.subscribe(self._on_event)

    # --- events ------------------------------------------------------------------

    def add_listener(self, listener: fb.Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _emit(self, info: fb.RequestInfo, event: fb.Event) -> None:
        for listener in list(self._listeners):
            listener(fb.RequestEvent(info=info, event=event))

    def _on_event(self, event: RequestEvent) -> None:
        status = event.status
        info = self._info(status)
        if event.what == "progress":
            self._emit(info, _progress(status))
        elif event.what == "uri" and status.result_uri:
            self._uri_generated[status.identifier] = status.result_uri
            self._emit(info, fb.URIGenerated(uri=status.result_uri))
        elif event.what == "edition" and status.result_uri:
            sub = self._subscriptions.get(status.identifier)
            if sub is not None:
                edition = int(status.result_uri.rstrip("/").rsplit("/", 1)[-1])
                self._emit(sub.info, fb.USKUpdate(edition=edition, uri=status.result_uri))
        elif event.what in ("succeeded", "failed"):
            terminal = self._terminal(status)
            if isinstance(terminal, fb.PutSucceeded):
                self._emit(info, fb.PutFetchable(uri=terminal.uri))
            if terminal is not None:
                self._emit(info, terminal)

    def _info(self, status: ManagerStatus) -> fb.RequestInfo:
        request = self._requests.get(status.identifier)
        if request is not None:
            return request.info
        client, identifier, global_ = _split_id(status.identifier)
        return fb.RequestInfo(
            client=client or status.client_name,
            identifier=identifier,
            global_=global_,
            persistence=status.persistence.value,
        )

    def _terminal(self, status: ManagerStatus) -> fb.Terminal | None:
        if status.state is RequestState.RUNNING:
            return None
        if status.kind is RequestKind.GET:
            if status.state is RequestState.SUCCEEDED:
                data = None
                if status.return_type is ReturnType.DIRECT:
                    try:
                        data = self.manager.result(status.identifier)
                    except ClientError:
                        data = None
                return fb.GetSucceeded(
                    content_type=status.mime or "application/octet-stream",
                    data_length=status.size or 0,
                    data=data,
                )
            failure = status.failure
            assert failure is not None
            return fb.GetFailure(
                code=failure.code,
                extra=failure.message,
                redirect_uri=failure.redirect_uri,
                expected_data_length=failure.expected_size,
                expected_content_type=failure.expected_mime,
            )
        if status.state is RequestState.SUCCEEDED:
            return fb.PutSucceeded(uri=status.result_uri or status.uri)
        failure = status.failure
        assert failure is not None
        return fb.PutFailure(code=failure.code, extra=failure.message)

    # --- requests -----------------------------------------------------------------

    async def generate_ssk(self) -> tuple[str, str]:
        request, insert = generate_ssk()
        return str(insert), str(request)

    async def start_put(self, request: fb.PutRequest) -> None:
        info = request.info
        key = manager_id(info.client, info.identifier, info.global_)
        data, redirect = _source(request.source)
        target = request.options.target_filename
        uri = str(request.uri)
        with _translate():
            self.manager.start_put(
                key,
                data,
                uri,
                mime=request.options.content_type,
                target_filename=target,
                redirect_to=redirect,
                codecs=_codecs(request.options),
                get_chk_only=request.options.get_chk_only,
                extra_single=request.options.extra_inserts_single_block,
                extra_header=request.options.extra_inserts_splitfile_header_block,
                **_owner(info),
            )
        self._requests[key] = request

    async def start_put_dir(self, request: fb.PutDirRequest) -> None:
        info = request.info
        key = manager_id(info.client, info.identifier, info.global_)
        files: dict[str, SiteFile] = {}
        for item in request.files:
            data, redirect = _source(item.source)
            if isinstance(data, bytes):
                files[item.name] = SiteFile(data=data, mime=item.content_type)
            elif isinstance(data, Path):
                files[item.name] = SiteFile(path=data, mime=item.content_type)
            else:
                files[item.name] = SiteFile(target=redirect, mime=item.content_type)
        with _translate():
            self.manager.start_put_dir(
                key,
                files,
                str(request.uri),
                default=request.default_name,
                codecs=_codecs(request.options),
                get_chk_only=request.options.get_chk_only,
                extra_single=request.options.extra_inserts_single_block,
                extra_header=request.options.extra_inserts_splitfile_header_block,
                **_owner(info),
            )
        self._requests[key] = request

    async def start_get(self, request: fb.GetRequest) -> None:
        info = request.info
        key = manager_id(info.client, info.identifier, info.global_)
        options = request.options
        with _translate():
            self.manager.start_get(
                key,
                str(request.uri),
                return_type=ReturnType(options.return_type),
                filename=options.filename,
                max_size=options.max_size,
                **_owner(info),
            )
        self._requests[key] = request

    # --- queries ------------------------------------------------------------------

    async def list_persistent(
        self, client: str, *, include_global: bool
    ) -> Sequence[fb.RequestStatus]:
        result = []
        for status in self.manager.list(client_name=client, include_global=include_global):
            if status.kind is RequestKind.SUBSCRIBE_USK:
                continue
            if status.persistence is Persistence.CONNECTION:
                continue
            if not status.global_queue and status.client_name != client:
                continue
            if status.global_queue and not include_global:
                continue  # global requests are on the global queue, not the client's own
            result.append(self._status(status))
        return result

    async def get_status(
        self, client: str, identifier: str, global_: bool
    ) -> fb.RequestStatus | None:
        try:
            status = self.manager.status(manager_id(client, identifier, global_))
        except UnknownRequest:
            return None
        return self._status(status)

    def _status(self, status: ManagerStatus) -> fb.RequestStatus:
        request = self._requests.get(status.identifier) or self._rebuild(status)
        return fb.RequestStatus(
            request=request,
            started=True,
            uri_generated=self._uri_generated.get(status.identifier),
            progress=_progress(status),
            terminal=self._terminal(status),
        )

    def _rebuild(self, status: ManagerStatus) -> fb.Request:
        """A request restored from the database after a restart: its FCP shape again."""
        from crypto.uri import parse_uri

        info = self._info(status)
        uri = parse_uri(status.uri)
        if status.kind is RequestKind.GET:
            request: fb.Request = fb.GetRequest(
                info=info,
                uri=uri,
                options=fb.GetOptions(
                    return_type=status.return_type.value,
                    filename=status.filename,
                ),
            )
        elif status.kind is RequestKind.PUT_DIR:
            request = fb.PutDirRequest(info=info, uri=uri, files=())
        else:
            request = fb.PutRequest(info=info, uri=uri, source=fb.DirectData(b""))
        self._requests[status.identifier] = request
        return request

    async def remove(self, client: str, identifier: str, global_: bool) -> bool:
        key = manager_id(client, identifier, global_)
        try:
            await self.manager.remove(key)
        except UnknownRequest:
            return False
        self._requests.pop(key, None)
        self._uri_generated.pop(key, None)
        return True

    async def modify(
        self,
        client: str,
        identifier: str,
        global_: bool,
        *,
        priority: int | None,
        client_token: str | None,
    ) -> fb.RequestStatus | None:
        from dataclasses import replace

        key = manager_id(client, identifier, global_)
        try:
            status = self.manager.status(key)
        except UnknownRequest:
            return None
        request = self._requests.get(key) or self._rebuild(status)
        info = request.info
        info = replace(
            info,
            priority=info.priority if priority is None else priority,
            client_token=info.client_token if client_token is None else client_token,
        )
        self._requests[key] = replace(request, info=info)
        return self._status(status)

    async def subscribe_usk(self, subscription: fb.USKSubscription) -> None:
        info = subscription.info
        key = "u\x00" + manager_id(info.client, info.identifier, False)
        with _translate():
            self.manager.subscribe_usk(key, str(subscription.uri), client_name=info.client)
        self._subscriptions[key] = subscription

    async def unsubscribe_usk(self, client: str, identifier: str) -> None:
        key = "u\x00" + manager_id(client, identifier, False)
        self._subscriptions.pop(key, None)
        with contextlib.suppress(UnknownRequest):
            await self.manager.remove(key)

    async def node_info(self, *, with_private: bool, with_volatile: bool) -> Mapping[str, str]:
        rt = self.runtime
        info = {
            "identity": b64encode(rt.peer_id),
            "version": "Samizdat,0.1.0",
            "opennet": str(rt.settings.opennet).lower(),
            "location": f"{rt.location:.6f}",
            "myName": b64encode(rt.peer_id)[:8],
        }
        if with_private:
            info["noderef"] = rt.noderef_text().replace("\n", "")
        if with_volatile:
            status = await rt.status()
            info.update(
                {
                    "volatile.location": f"{status.location:.6f}",
                    "volatile.numberOfConnected": str(len(status.peers)),
                    "volatile.uptimeSeconds": str(int(status.uptime)),
                    "volatile.storeKeys": str(status.store_blocks),
                    "volatile.storeSize": str(status.store_bytes),
                    "volatile.maxStoreSize": str(status.store_limit),
                    "volatile.cacheKeys": str(status.cache_blocks),
                    "volatile.cacheSize": str(status.cache_bytes),
                    "volatile.maxCacheSize": str(status.cache_limit),
                    "volatile.messagesIn": str(status.messages_in),
                    "volatile.messagesOut": str(status.messages_out),
                    "volatile.totalInputBytes": str(status.bytes_in),
                    "volatile.totalOutputBytes": str(status.bytes_out),
                    "volatile.clockSkewSeconds": f"{status.clock_skew:.0f}",
                }
            )
        return info

    async def check(
        self, request: fb.CheckRequest, report: fb.CheckReporter
    ) -> fb.CheckResult | fb.GetFailure:
        """SamizdatCheck over the client layer (:mod:`node.client.check`)."""

        def on_segment(seg: SegmentCheck) -> None:
            report(
                fb.CheckSegment(
                    path=seg.path,
                    index=seg.index,
                    segments=seg.segments,
                    k=seg.k,
                    n=seg.n,
                    found=seg.found,
                    missing=seg.missing,
                    repaired=seg.repaired,
                    note=seg.note,
                )
            )

        local = LocalCopy(request.local) if request.local else None
        try:
            result = await self.manager.client.check(
                request.uri, repair=request.repair, local=local, on_segment=on_segment
            )
        except ClientError as exc:
            return fb.GetFailure(code=exc.fetch_code, extra=str(exc))
        return fb.CheckResult(
            uri=result.uri,
            files=len(result.files),
            segments=len(result.segments),
            blocks=result.blocks,
            found=result.found,
            missing=result.missing,
            repaired=result.repaired,
            metadata_blocks=result.metadata_blocks,
            lost=tuple((x.path, x.reason) for x in result.lost),
            survives=result.survives,
        )

    async def list_peers(
        self, *, with_metadata: bool, with_volatile: bool
    ) -> Sequence[Mapping[str, str]]:
        status = await self.runtime.status()
        peers = []
        for peer in status.peers:
            fields = {
                "identity": peer.identity,
                "opennet": str(not peer.friend).lower(),
                "location": f"{peer.location:.6f}",
            }
            if with_metadata:
                fields["metadata.status"] = "CONNECTED"
                fields["metadata.direction"] = "inbound" if peer.inbound else "outbound"
            if with_volatile:
                fields["volatile.connectedSeconds"] = str(int(peer.connected_for))
            peers.append(fields)
        return peers

    # --- Samizdat extensions (node.fcp.extensions) -------------------------------

    async def add_peer(self, noderef: str) -> tuple[str, bool]:
        try:
            ref = parse_noderef(noderef, now=time.time())
        except NodeRefError as exc:
            raise fb.BackendError(PE.REF_PARSE_ERROR, str(exc)) from None
        rt = self.runtime
        if ref.identity == rt.peer_id:
            raise fb.BackendError(PE.CANNOT_PEER_WITH_SELF, "that is this node's own reference")
        known, _problems = rt.datadir.read_peers()
        new = all(old.identity != ref.identity for old in known)
        await rt.add_friend(ref)
        return b64encode(ref.identity)[:8], new

    def _entries(self, kind: str) -> dict[str, dict[str, str]]:
        raw = self.manager.db.get_blob(ENTRIES_ID, kind)
        return {} if raw is None else dict(json.loads(raw))

    async def list_entries(self, kind: str) -> Sequence[Mapping[str, str]]:
        return [{"Name": name, **fields} for name, fields in sorted(self._entries(kind).items())]

    async def put_entry(self, kind: str, name: str, fields: Mapping[str, str]) -> None:
        entries = self._entries(kind)
        entries[name] = dict(fields)
        self.manager.db.put_blob(ENTRIES_ID, kind, json.dumps(entries).encode())

    async def remove_entry(self, kind: str, name: str) -> bool:
        entries = self._entries(kind)
        if entries.pop(name, None) is None:
            return False
        self.manager.db.put_blob(ENTRIES_ID, kind, json.dumps(entries).encode())
        return True


def _owner(info: fb.RequestInfo) -> dict[str, Any]:
    """Who a request belongs to, in the request manager's keyword arguments."""
    return {
        "persistence": Persistence(info.persistence),
        "global_queue": info.global_,
        "client_name": info.client,
    }


def _progress(status: ManagerStatus) -> fb.Progress:
    p = status.progress
    return fb.Progress(
        total=p.total,
        required=p.required,
        succeeded=p.succeeded,
        failed=p.failed,
        fatally_failed=p.fatally_failed,
        finalized=p.finalized,
    )


@contextmanager
def _translate() -> Iterator[None]:
    """Manager errors → FCP backend errors (IdentifierCollision, ProtocolError codes)."""
    try:
        yield
    except ManagerCollision as exc:
        raise fb.IdentifierInUse(str(exc)) from None
    except RequestNotSaved as exc:
        raise fb.BackendError(PE.INTERNAL_ERROR, str(exc)) from None
    except ValueError as exc:
        raise fb.BackendError(8, str(exc)) from None
