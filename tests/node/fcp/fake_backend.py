"""An in-memory FCPBackend for the FCP tests: a dict of keys, requests finished by a task group.

Special keys steer the outcome: ``KSK@missing`` fails with code 13,
``KSK@moved`` fails with code 27 and a RedirectURI to ``KSK@target``, a get
whose data exceeds MaxSize fails with 21.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import anyio
import anyio.abc

from crypto.keys import generate_ssk
from crypto.uri import CHKURI, SSKURI, URI, USKURI, Extra
from node.fcp.backend import (
    DirectData,
    DiskFile,
    GetFailure,
    GetRequest,
    GetSucceeded,
    IdentifierInUse,
    Listener,
    Progress,
    PutDirRequest,
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


def fake_chk(data: bytes, name: str | None = None) -> CHKURI:
    """A deterministic, well-formed CHK for ``data`` (not Samizdat's real encoding)."""
    return CHKURI(
        routing_key=hashlib.sha256(b"rk" + data).digest(),
        decryption_key=hashlib.sha256(b"dk" + data).digest(),
        extra=Extra(),
        path=(name,) if name else (),
    )


def final_uri(uri: URI, data: bytes, target_filename: str | None) -> str:
    if isinstance(uri, CHKURI):
        name = target_filename or (uri.path[0] if uri.path else None)
        return str(fake_chk(data, name))
    if isinstance(uri, SSKURI | USKURI):
        return str(uri.public())
    return str(uri)


@dataclass
class Record:
    request: Request
    status: RequestStatus


class FakeBackend:
    """Implements node.fcp.backend.FCPBackend in memory."""

    def __init__(self, tg: anyio.abc.TaskGroup) -> None:
        self._tg = tg
        self._listeners: list[Listener] = []
        self.store: dict[str, tuple[bytes, str]] = {}
        self.records: dict[tuple[str, str, bool], Record] = {}
        self.subscriptions: dict[tuple[str, str], USKSubscription] = {}
        self.hold = False  # True: requests stay running until released
        self.released = anyio.Event()

    @classmethod
    @asynccontextmanager
    async def running(cls) -> AsyncIterator[FakeBackend]:
        async with anyio.create_task_group() as tg:
            yield cls(tg)
            tg.cancel_scope.cancel()

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _emit(self, info: RequestInfo, event: object) -> None:
        for listener in list(self._listeners):
            listener(RequestEvent(info=info, event=event))  # type: ignore[arg-type]

    @staticmethod
    def _key(info: RequestInfo) -> tuple[str, str, bool]:
        return ("" if info.global_ else info.client, info.identifier, info.global_)

    def _add(self, request: Request) -> Record:
        key = self._key(request.info)
        if key in self.records:
            raise IdentifierInUse()
        record = Record(request, RequestStatus(request=request))
        self.records[key] = record
        return record

    def _finish(self, record: Record, terminal: object) -> None:
        info = record.request.info
        record.status = replace(record.status, terminal=terminal)  # type: ignore[arg-type]
        if info.persistence == "connection":
            self.records.pop(self._key(info), None)
        self._emit(info, terminal)

    async def generate_ssk(self) -> tuple[str, str]:
        request, insert = generate_ssk()
        return str(insert), str(request)

    async def start_put(self, request: PutRequest) -> None:
        record = self._add(request)
        self._tg.start_soon(self._run_put, record)

    async def _run_put(self, record: Record) -> None:
        request = record.request
        assert isinstance(request, PutRequest)
        source = request.source
        if isinstance(source, DirectData):
            data = source.data
        elif isinstance(source, DiskFile):
            data = await anyio.Path(source.path).read_bytes()
        else:
            assert isinstance(source, Redirect)
            data = source.target.encode()
        await anyio.sleep(0)
        uri = final_uri(request.uri, data, request.options.target_filename)
        info = request.info
        self._emit(info, URIGenerated(uri=uri))
        record.status = replace(record.status, uri_generated=uri)
        if request.options.get_chk_only:
            self._finish(record, PutSucceeded(uri=uri))
            return
        progress = Progress(total=2, required=2, succeeded=1, finalized=True)
        record.status = replace(record.status, progress=progress)
        self._emit(info, progress)
        if self.hold:
            await self.released.wait()
        if isinstance(source, Redirect):
            self.store[uri] = self.store.get(source.target, (b"", "text/plain"))
        else:
            self.store[uri] = (data, request.options.content_type or "application/octet-stream")
        self._emit(info, PutFetchable(uri=uri))
        self._finish(record, PutSucceeded(uri=uri))

    async def start_put_dir(self, request: PutDirRequest) -> None:
        record = self._add(request)
        self._tg.start_soon(self._run_put_dir, record)

    async def _run_put_dir(self, record: Record) -> None:
        request = record.request
        assert isinstance(request, PutDirRequest)
        manifest = []
        for f in request.files:
            if isinstance(f.source, DirectData):
                data = f.source.data
            elif isinstance(f.source, DiskFile):
                data = await anyio.Path(f.source.path).read_bytes()
            else:
                data = f.source.target.encode()
            manifest.append((f.name, data))
        blob = repr(sorted(manifest)).encode()
        uri = str(fake_chk(blob)) + "/" if isinstance(request.uri, CHKURI) else str(request.uri)
        for name, data in manifest:
            self.store[uri + name] = (data, "application/octet-stream")
        self._emit(request.info, URIGenerated(uri=uri))
        self._finish(record, PutSucceeded(uri=uri))

    async def start_get(self, request: GetRequest) -> None:
        record = self._add(request)
        self._tg.start_soon(self._run_get, record)

    async def _run_get(self, record: Record) -> None:
        request = record.request
        assert isinstance(request, GetRequest)
        await anyio.sleep(0)
        key = str(request.uri)
        if key == "KSK@moved":
            self._finish(record, GetFailure(code=27, redirect_uri="KSK@target"))
            return
        if key not in self.store:
            self._finish(record, GetFailure(code=13, extra="not in the fake store"))
            return
        data, mime = self.store[key]
        o = request.options
        if o.max_size is not None and len(data) > o.max_size:
            self._finish(record, GetFailure(code=21, expected_data_length=len(data)))
            return
        if request.info.verbosity & 1:
            self._emit(request.info, Progress(total=1, required=1, succeeded=1, finalized=True))
        if o.return_type == "disk" and o.filename:
            await anyio.Path(o.filename).write_bytes(data)
        direct = data if o.return_type == "direct" else None
        self._finish(record, GetSucceeded(content_type=mime, data_length=len(data), data=direct))

    async def list_persistent(
        self, client: str, *, include_global: bool
    ) -> Sequence[RequestStatus]:
        return [
            r.status
            for (owner, _, global_), r in self.records.items()
            if r.request.info.persistence != "connection"
            and ((global_ and include_global) or (not global_ and owner == client))
        ]

    async def get_status(self, client: str, identifier: str, global_: bool) -> RequestStatus | None:
        record = self.records.get(("" if global_ else client, identifier, global_))
        return None if record is None else record.status

    async def remove(self, client: str, identifier: str, global_: bool) -> bool:
        return self.records.pop(("" if global_ else client, identifier, global_), None) is not None

    async def modify(
        self,
        client: str,
        identifier: str,
        global_: bool,
        *,
        priority: int | None,
        client_token: str | None,
    ) -> RequestStatus | None:
        record = self.records.get(("" if global_ else client, identifier, global_))
        if record is None:
            return None
        info = record.request.info
        info = replace(
            info,
            priority=info.priority if priority is None else priority,
            client_token=client_token if client_token is not None else info.client_token,
        )
        record.request = replace(record.request, info=info)
        record.status = replace(record.status, request=record.request)
        return record.status

    async def subscribe_usk(self, subscription: USKSubscription) -> None:
        self.subscriptions[(subscription.info.client, subscription.info.identifier)] = subscription
        self._tg.start_soon(self._usk_update, subscription)

    async def _usk_update(self, subscription: USKSubscription) -> None:
        await anyio.sleep(0.01)
        newer = subscription.uri.with_edition(max(subscription.uri.edition, 0) + 1)
        self._emit(subscription.info, USKUpdate(edition=newer.edition, uri=str(newer)))

    async def unsubscribe_usk(self, client: str, identifier: str) -> None:
        self.subscriptions.pop((client, identifier), None)

    async def node_info(self, *, with_private: bool, with_volatile: bool) -> Mapping[str, str]:
        info = {"identity": "fake-node", "version": "Samizdat,0.1.0", "opennet": "true"}
        if with_volatile:
            info["volatile.location"] = "0.5"
        if with_private:
            info["ark.privURI"] = "SSK@private"
        return info

    async def list_peers(
        self, *, with_metadata: bool, with_volatile: bool
    ) -> Sequence[Mapping[str, str]]:
        return [
            {"identity": "peer-a", "opennet": "false", "metadata.status": "CONNECTED"},
            {"identity": "peer-b", "opennet": "true", "metadata.status": "CONNECTED"},
        ]
