"""The request manager: the one API front ends use to get and put, persistently or not.

The FCP server, the gateway, the CLI (through FCP) and the TUI (through FCP)
all start work here: :meth:`RequestManager.start_get`, :meth:`~RequestManager.start_put`,
:meth:`~RequestManager.start_put_dir`, :meth:`~RequestManager.subscribe_usk`;
they watch it with :meth:`~RequestManager.subscribe` (events) or
:meth:`~RequestManager.wait`, and manage it with :meth:`~RequestManager.list`,
:meth:`~RequestManager.status`, :meth:`~RequestManager.result` and
:meth:`~RequestManager.remove`.

Persistence follows FCP: ``CONNECTION`` requests live in memory only (the
front end removes them when its connection closes); ``REBOOT`` requests
survive the connection but not a restart; ``FOREVER`` requests are kept in the
:class:`~node.client.clientdb.ClientDatabase` and resumed on start. A resumed
fetch reads the blocks it already had from the database, and a resumed insert
skips the blocks it had already inserted, so both continue where they stopped.
"""

from __future__ import annotations

import contextlib
import enum
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from crypto.blocks import Block, KeyKind
from crypto.primitives import random_bytes
from node.client.client import Client, FetchResult
from node.client.clientdb import ClientDatabase
from node.client.compression import ALL_CODECS, Codec
from node.client.errors import ClientError
from node.client.manifest import SiteFile
from node.client.network import BlockNetwork
from node.client.progress import Progress
from node.client.splitfile import DEFAULT_EXTRA_INSERTS, MAX_EXTRA_INSERTS, BytesSink

# Progress is written to the database at most this often per request: resuming
# relies on the block table, the stored figures are only for display.
PROGRESS_SAVE_INTERVAL = 2.0
# Polling interval of a USK subscription (Freenet backs off up to ~an hour;
# a fixed minute keeps this simple and cheap: one round of 1 KiB requests).
USK_POLL_INTERVAL = 60.0


class Persistence(enum.Enum):
    CONNECTION = "connection"
    REBOOT = "reboot"
    FOREVER = "forever"


class RequestKind(enum.Enum):
    GET = "get"
    PUT = "put"
    PUT_DIR = "putdir"
    SUBSCRIBE_USK = "subscribe-usk"


class RequestState(enum.Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ReturnType(enum.Enum):
    DIRECT = "direct"  # kept (sealed) until the front end collects it with result()
    DISK = "disk"  # written to ``filename``
    NONE = "none"  # fetched and verified, then discarded


class IdentifierCollision(ClientError):
    """A request with this identifier is still known; remove it or pick another."""


class UnknownRequest(ClientError):
    """No request has this identifier."""


class RequestNotSaved(ClientError):
    """A persistent request could not be written down (a full disk): it was not started."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """Why a request failed, in FCP's terms."""

    code: int
    message: str
    fatal: bool
    redirect_uri: str | None = None
    expected_size: int | None = None
    expected_mime: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestStatus:
    """Everything a front end shows about one request."""

    identifier: str
    kind: RequestKind
    persistence: Persistence
    global_queue: bool
    client_name: str
    uri: str  # what was asked for (get) or inserted to (put)
    state: RequestState = RequestState.RUNNING
    progress: Progress = field(default_factory=Progress)
    result_uri: str | None = None  # put: the request URI; get: where it was found
    mime: str | None = None
    size: int | None = None
    failure: Failure | None = None
    return_type: ReturnType = ReturnType.DIRECT
    filename: str | None = None
    started: float = 0.0


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """Something happened to a request; ``status`` is its state afterwards.

    ``what`` is one of ``"progress"``, ``"uri"`` (an insert's URI is known),
    ``"succeeded"``, ``"failed"``, ``"removed"``, ``"edition"`` (a subscribed
    USK has a new edition: ``status.result_uri``).
    """

    what: str
    status: RequestStatus


EventCallback = Callable[[RequestEvent], None]


# Keys a persistent insert remembers having checked against the database (see
# _PersistingNetwork): far more than the blocks one request has in flight.
RECENT_INSERT_KEYS = 4096


class _PersistingNetwork:
    """A per-request view of the network that remembers blocks in the client database.

    An insert is skipped when an earlier run of the request had inserted the
    block; within one run every insert goes out, so the extra copies of a
    single block (:func:`~node.client.splitfile.insert_block`) are not taken
    for blocks already done once the first copy has landed. (A restart between
    the copies of a block leaves it with the copies made before it.)
    """

    def __init__(self, inner: BlockNetwork, db: ClientDatabase, identifier: str) -> None:
        self.inner, self.db, self.identifier = inner, db, identifier
        # routing key → inserted by an earlier run, for the keys inserted lately: the
        # copies of a block are sent together, so a bounded memory of recent keys
        # serves them (a whole splitfile's keys would not need to be held).
        self._done_before: dict[bytes, bool] = {}

    async def fetch(self, kind: KeyKind, routing_key: bytes) -> Block:
        known, data = self.db.get_block(self.identifier, routing_key)
        if known and data is not None:
            return Block(kind, routing_key, data)
        block = await self.inner.fetch(kind, routing_key)
        self.db.put_block(self.identifier, routing_key, block.data)
        return block

    async def insert(self, block: Block) -> None:
        done = self._done_before.get(block.routing_key)
        if done is None:
            done, _ = self.db.get_block(self.identifier, block.routing_key)
            if len(self._done_before) >= RECENT_INSERT_KEYS:
                del self._done_before[next(iter(self._done_before))]  # the oldest
            self._done_before[block.routing_key] = done
        if done:
            return
        await self.inner.insert(block)
        self.db.put_block(self.identifier, block.routing_key, None)


class RequestManager:
    """Runs and remembers requests; an async context manager owning their tasks.

    Args:
        client: the :class:`Client` (entered by the caller) that does the work.
        database: sealed storage; ``ClientDatabase(None, key)`` keeps it in memory.
        clock: POSIX time for timestamps.
        resume_after: awaited by each request resumed from the database before it
            runs (the node waits there for its first peer: a request resumed at
            start-up would otherwise fail before any link is up).
    """

    def __init__(
        self,
        client: Client,
        database: ClientDatabase,
        *,
        clock: Callable[[], float] = time.time,
        usk_poll_interval: float = USK_POLL_INTERVAL,
        resume_after: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.resume_after = resume_after
        self.db = database
        self.clock = clock
        self.usk_poll_interval = usk_poll_interval
        self._status: dict[str, RequestStatus] = {}
        self._params: dict[str, dict[str, object]] = {}
        self._scopes: dict[str, anyio.CancelScope] = {}
        self._done: dict[str, anyio.Event] = {}
        self._results: dict[str, bytes] = {}
        self._saved_at: dict[str, float] = {}
        self._subscribers: list[EventCallback] = []
        self._seq = 0
        self._tg: anyio.abc.TaskGroup | None = None
        for usk, edition in database.load_editions().items():
            client.editions._latest[usk] = max(edition, client.editions._latest.get(usk, -1))
        client.editions.on_update = database.save_edition

    async def __aenter__(self) -> RequestManager:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._resume()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        tg, self._tg = self._tg, None
        assert tg is not None
        tg.cancel_scope.cancel()  # running requests stop; persistent ones resume next time
        await tg.__aexit__(None, None, None)
        return None

    # --- events ------------------------------------------------------------------------

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback`` with every :class:`RequestEvent`; returns an unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def _emit(self, what: str, status: RequestStatus) -> None:
        for callback in list(self._subscribers):
            callback(RequestEvent(what, status))

    # --- starting ----------------------------------------------------------------------

    def start_get(
        self,
        identifier: str,
        uri: str,
        *,
        return_type: ReturnType = ReturnType.DIRECT,
        filename: str | None = None,
        max_size: int | None = None,
        persistence: Persistence = Persistence.CONNECTION,
        global_queue: bool = False,
        client_name: str = "",
    ) -> RequestStatus:
        """Start fetching ``uri``; the result goes to memory, ``filename`` or nowhere."""
        if return_type is ReturnType.DISK and not filename:
            raise ValueError("a disk fetch needs a filename")
        params: dict[str, object] = {"max_size": max_size}
        return self._start(
            identifier, RequestKind.GET, uri, params, persistence, global_queue, client_name,
            return_type=return_type, filename=filename,
        )  # fmt: skip

    def start_put(
        self,
        identifier: str,
        data: bytes | Path | None,
        uri: str = "CHK@",
        *,
        mime: str | None = None,
        target_filename: str | None = None,
        redirect_to: str | None = None,
        codecs: tuple[Codec, ...] = ALL_CODECS,
        get_chk_only: bool = False,
        persistence: Persistence = Persistence.CONNECTION,
        global_queue: bool = False,
        client_name: str = "",
        extra_single: int = DEFAULT_EXTRA_INSERTS,
        extra_header: int = DEFAULT_EXTRA_INSERTS,
    ) -> RequestStatus:
        """Start inserting ``data`` (bytes, or a file read when the insert runs) under ``uri``.

        With ``redirect_to`` (and ``data=None``) a redirect to that key is inserted.
        ``extra_single``/``extra_header``: see :meth:`Client.put`; kept with a
        persistent request and used again when it resumes.
        """
        _check_extra(extra_single, extra_header)
        if (data is None) == (redirect_to is None):
            raise ValueError("a put has either data or a redirect target")
        params: dict[str, object] = {
            "mime": mime,
            "target_filename": target_filename,
            "redirect_to": redirect_to,
            "codecs": [c.value for c in codecs],
            "get_chk_only": get_chk_only,
            "key_seed": random_bytes(32),
            "path": str(data) if isinstance(data, Path) else None,
            "extra_single": extra_single,
            "extra_header": extra_header,
        }
        blobs = {"upload": data} if isinstance(data, bytes) else {}
        return self._start(
            identifier, RequestKind.PUT, uri, params, persistence, global_queue, client_name,
            blobs=blobs,
        )  # fmt: skip

    def start_put_dir(
        self,
        identifier: str,
        files: Mapping[str, SiteFile],
        uri: str = "CHK@",
        *,
        default: str | None = None,
        codecs: tuple[Codec, ...] = ALL_CODECS,
        get_chk_only: bool = False,
        persistence: Persistence = Persistence.CONNECTION,
        global_queue: bool = False,
        client_name: str = "",
        extra_single: int = DEFAULT_EXTRA_INSERTS,
        extra_header: int = DEFAULT_EXTRA_INSERTS,
    ) -> RequestStatus:
        """Start inserting a site (names → :class:`SiteFile`) under ``uri``."""
        _check_extra(extra_single, extra_header)
        listing: list[list[object]] = []
        blobs: dict[str, bytes] = {}
        for index, (name, item) in enumerate(sorted(files.items())):
            if item.data is not None:
                blobs[f"file:{index}"] = item.data
                listing.append([name, "data", index, item.mime])
            elif item.path is not None:
                listing.append([name, "path", str(item.path), item.mime])
            else:
                listing.append([name, "target", item.target, item.mime])
        params: dict[str, object] = {
            "files": listing,
            "default": default,
            "codecs": [c.value for c in codecs],
            "get_chk_only": get_chk_only,
            "key_seed": random_bytes(32),
            "extra_single": extra_single,
            "extra_header": extra_header,
        }
        return self._start(
            identifier, RequestKind.PUT_DIR, uri, params, persistence, global_queue, client_name,
            blobs=blobs,
        )  # fmt: skip

    def subscribe_usk(self, identifier: str, uri: str, *, client_name: str = "") -> RequestStatus:
        """Watch a USK: an ``"edition"`` event for every newer edition found (polling)."""
        return self._start(
            identifier, RequestKind.SUBSCRIBE_USK, uri, {}, Persistence.CONNECTION, False,
            client_name,
        )  # fmt: skip

    def _start(
        self,
        identifier: str,
        kind: RequestKind,
        uri: str,
        params: dict[str, object],
        persistence: Persistence,
        global_queue: bool,
        client_name: str,
        *,
        return_type: ReturnType = ReturnType.DIRECT,
        filename: str | None = None,
        blobs: Mapping[str, bytes] | None = None,
    ) -> RequestStatus:
        if self._tg is None:
            raise RuntimeError("the request manager is not running (use it with async with)")
        old = self._status.get(identifier)
        if old is not None:
            if old.persistence is Persistence.CONNECTION and old.state is not RequestState.RUNNING:
                self._forget(identifier)
            else:
                raise IdentifierCollision(
                    f"a request named {identifier!r} already exists; remove it or use another name"
                )
        status = RequestStatus(
            identifier=identifier, kind=kind, persistence=persistence, global_queue=global_queue,
            client_name=client_name, uri=uri, return_type=return_type, filename=filename,
            started=self.clock(),
        )  # fmt: skip
        self._status[identifier] = status
        self._params[identifier] = params
        try:
            for name, data in (blobs or {}).items():
                self._store_blob(status, name, data)
            self._save(status, force=True)
        except sqlite3.Error as exc:
            # Not kept, so not started: a request that would vanish on restart
            # must not look queued, nor keep its identifier taken.
            del self._status[identifier], self._params[identifier]
            with contextlib.suppress(sqlite3.Error):
                self.db.delete_request(identifier)
            raise RequestNotSaved(
                f"the node cannot save the request ({exc}); free disk space and try again"
            ) from None
        self._launch(identifier)
        return status

    def _launch(self, identifier: str, *, resumed: bool = False) -> None:
        assert self._tg is not None
        scope = anyio.CancelScope()
        self._scopes[identifier] = scope
        self._done[identifier] = anyio.Event()
        self._tg.start_soon(self._run, identifier, scope, resumed)

    def _resume(self) -> None:
        for record in self.db.load_requests():
            status, params = _status_from_record(record)
            if status.persistence is not Persistence.FOREVER:
                self.db.delete_request(status.identifier)  # REBOOT ends with the node
                continue
            self._seq += 1
            self._status[status.identifier] = status
            self._params[status.identifier] = params
            self._done[status.identifier] = anyio.Event()
            if status.state is RequestState.RUNNING:
                self._launch(status.identifier, resumed=True)
            else:
                self._done[status.identifier].set()

    # --- running -----------------------------------------------------------------------

    async def _run(self, identifier: str, scope: anyio.CancelScope, resumed: bool = False) -> None:
        status = self._status[identifier]
        params = self._params[identifier]
        persistent = status.persistence is Persistence.FOREVER
        client = self.client.using(
            _PersistingNetwork(self.client.network, self.db, identifier)
            if persistent
            else self.client.network
        )

        def progress(p: Progress) -> None:
            self._update(identifier, "progress", progress=p)

        with scope:
            if resumed and self.resume_after is not None:
                await self.resume_after()
            try:
                if status.kind is RequestKind.GET:
                    await self._run_get(client, status, params, progress)
                elif status.kind is RequestKind.SUBSCRIBE_USK:
                    await self._run_subscription(client, status)
                else:
                    result_uri = await self._run_put(client, status, params, progress)
                    self._update(identifier, "uri", result_uri=result_uri)
                    self._finish(identifier, "succeeded", state=RequestState.SUCCEEDED)
            except ClientError as exc:
                failure = Failure(
                    code=exc.insert_code if status.kind is not RequestKind.GET else exc.fetch_code,
                    message=str(exc),
                    fatal=exc.fatal,
                    redirect_uri=getattr(exc, "redirect_uri", None),
                    expected_size=getattr(exc, "expected_size", None),
                    expected_mime=getattr(exc, "mime", None),
                )
                self._finish(identifier, "failed", state=RequestState.FAILED, failure=failure)
            except OSError as exc:
                failure = Failure(code=12 if status.kind is RequestKind.GET else 2,
                                  message=f"a file could not be read or written: {exc}",
                                  fatal=True)  # fmt: skip
                self._finish(identifier, "failed", state=RequestState.FAILED, failure=failure)

    async def _run_get(
        self,
        client: Client,
        status: RequestStatus,
        params: dict[str, object],
        progress: Callable[[Progress], None],
    ) -> None:
        max_size = params.get("max_size")
        assert max_size is None or isinstance(max_size, int)
        sink = BytesSink()
        result: FetchResult
        if status.return_type is ReturnType.DISK:
            assert status.filename is not None
            target = Path(status.filename)
            try:
                async with await anyio.open_file(target, "wb") as f:
                    result = await client.get(status.uri, f, max_size=max_size, progress=progress)
            except BaseException:
                target.unlink(missing_ok=True)  # never leave a half-written file behind
                raise
        else:
            result = await client.get(status.uri, sink, max_size=max_size, progress=progress)
        if status.return_type is ReturnType.DIRECT:
            self._store_blob(status, "result", sink.getvalue())
        self._finish(
            status.identifier, "succeeded", state=RequestState.SUCCEEDED,
            result_uri=result.uri, mime=result.mime, size=result.size,
        )  # fmt: skip

    async def _run_put(
        self,
        client: Client,
        status: RequestStatus,
        params: dict[str, object],
        progress: Callable[[Progress], None],
    ) -> str:
        codecs = tuple(Codec(c) for c in params["codecs"])  # type: ignore[attr-defined]
        chk_only = bool(params["get_chk_only"])
        seed = params["key_seed"]
        assert isinstance(seed, bytes)
        # Rows saved before these settings existed resume with the defaults.
        extra_single = _extra(params.get("extra_single"))
        extra_header = _extra(params.get("extra_header"))
        if status.kind is RequestKind.PUT:
            if params["redirect_to"] is not None:
                return await client.put_redirect(
                    str(params["redirect_to"]), status.uri, mime=_opt_str(params["mime"]),
                    get_chk_only=chk_only, progress=progress,
                    extra_single=extra_single, extra_header=extra_header,
                )  # fmt: skip
            if params["path"] is not None:
                data = await anyio.Path(str(params["path"])).read_bytes()
            else:
                data = self._blob(status, "upload")
            return await client.put(
                data, status.uri, mime=_opt_str(params["mime"]),
                filename=_opt_str(params["target_filename"]), codecs=codecs,
                get_chk_only=chk_only, key_seed=seed, progress=progress,
                extra_single=extra_single, extra_header=extra_header,
            )  # fmt: skip
        files: dict[str, SiteFile] = {}
        for name, how, value, mime in params["files"]:  # type: ignore[attr-defined]
            if how == "data":
                files[name] = SiteFile(data=self._blob(status, f"file:{value}"), mime=mime)
            elif how == "path":
                files[name] = SiteFile(path=Path(value), mime=mime)
            else:
                files[name] = SiteFile(target=value, mime=mime)
        return await client.put_site(
            files, status.uri, default=_opt_str(params["default"]), codecs=codecs,
            get_chk_only=chk_only, key_seed=seed, progress=progress,
            extra_single=extra_single, extra_header=extra_header,
        )  # fmt: skip

    async def _run_subscription(self, client: Client, status: RequestStatus) -> None:
        from crypto.uri import USKURI
        from node.client.client import as_uri
        from node.client.errors import NetworkError
        from node.client.usk import find_latest

        usk = as_uri(status.uri)
        if not isinstance(usk, USKURI):
            from node.client.errors import InvalidRequestURI

            raise InvalidRequestURI("only USK keys can be subscribed to")
        last = -1
        while True:
            try:
                edition, _doc = await find_latest(
                    client._fetch_signed, usk.with_edition(max(usk.edition, last, 0)),
                    client.editions, when=self.clock(),
                )  # fmt: skip
            except NetworkError:
                edition = last
            if edition > last:
                last = edition
                self._update(
                    status.identifier, "edition", result_uri=str(usk.public().with_edition(edition))
                )
            await anyio.sleep(self.usk_poll_interval)

    # --- state -------------------------------------------------------------------------

    def _update(self, identifier: str, what: str, **changes: object) -> None:
        status = self._status.get(identifier)
        if status is None:
            return
        status = replace(status, **changes)  # type: ignore[arg-type]
        self._status[identifier] = status
        self._save(status, force=what != "progress")
        self._emit(what, status)

    def _finish(self, identifier: str, what: str, **changes: object) -> None:
        self._update(identifier, what, **changes)
        status = self._status[identifier]
        if status.persistence is Persistence.FOREVER:
            self.db.drop_blocks(identifier)
            self.db.drop_blobs(identifier, "upload")
            self.db.drop_blobs(identifier, "file:")
        self._params[identifier].pop("key_seed", None)
        self._save(status, force=True)
        self._done[identifier].set()

    def _save(self, status: RequestStatus, *, force: bool) -> None:
        if status.persistence is Persistence.CONNECTION:
            return
        now = self.clock()
        if not force and now - self._saved_at.get(status.identifier, 0.0) < PROGRESS_SAVE_INTERVAL:
            return
        self._saved_at[status.identifier] = now
        if status.persistence is Persistence.FOREVER:
            self._seq += 1
            self.db.save_request(
                status.identifier, self._seq, _record(status, self._params[status.identifier])
            )

    def _store_blob(self, status: RequestStatus, name: str, data: bytes) -> None:
        if status.persistence is Persistence.FOREVER:
            self.db.put_blob(status.identifier, name, data)
        else:
            self._results[f"{status.identifier}\x00{name}"] = data

    def _blob(self, status: RequestStatus, name: str) -> bytes:
        if status.persistence is Persistence.FOREVER:
            data = self.db.get_blob(status.identifier, name)
        else:
            data = self._results.get(f"{status.identifier}\x00{name}")
        if data is None:
            raise UnknownRequest(f"the data of request {status.identifier!r} is gone")
        return data

    def _forget(self, identifier: str) -> None:
        self._status.pop(identifier, None)
        self._params.pop(identifier, None)
        self._done.pop(identifier, None)
        self._saved_at.pop(identifier, None)
        for key in [k for k in self._results if k.startswith(identifier + "\x00")]:
            del self._results[key]
        self.db.delete_request(identifier)

    # --- queries and removal -----------------------------------------------------------

    def status(self, identifier: str) -> RequestStatus:
        try:
            return self._status[identifier]
        except KeyError:
            raise UnknownRequest(f"there is no request named {identifier!r}") from None

    def list(
        self, *, client_name: str | None = None, include_global: bool = True
    ) -> list[RequestStatus]:
        """Requests of ``client_name`` (all when ``None``), plus global ones if asked."""
        return [
            s
            for s in self._status.values()
            if client_name is None
            or s.client_name == client_name
            or (include_global and s.global_queue)
        ]

    def result(self, identifier: str) -> bytes:
        """The data of a finished direct fetch."""
        status = self.status(identifier)
        if (
            status.state is not RequestState.SUCCEEDED
            or status.return_type is not ReturnType.DIRECT
        ):
            raise UnknownRequest(f"request {identifier!r} has no data to return")
        return self._blob(status, "result")

    async def wait(self, identifier: str) -> RequestStatus:
        """Wait until the request has finished; its final status."""
        self.status(identifier)
        await self._done[identifier].wait()
        return self.status(identifier)

    async def remove(self, identifier: str) -> None:
        """Cancel (if running) and forget a request, deleting everything kept for it."""
        status = self.status(identifier)
        scope = self._scopes.pop(identifier, None)
        if scope is not None:
            scope.cancel()
        self._forget(identifier)
        self._emit("removed", status)
        await anyio.lowlevel.checkpoint()


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _check_extra(*values: int) -> None:
    for value in values:
        if isinstance(value, bool) or not 0 <= value <= MAX_EXTRA_INSERTS:
            raise ValueError(f"extra inserts must be 0 to {MAX_EXTRA_INSERTS}, not {value!r}")


def _extra(value: object) -> int:
    """A stored extra-insert count; the default when absent (older rows) or unreadable."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_EXTRA_INSERTS:
        return value
    return DEFAULT_EXTRA_INSERTS


def _record(status: RequestStatus, params: dict[str, object]) -> dict[str, object]:
    p, f = status.progress, status.failure
    return {
        "identifier": status.identifier,
        "kind": status.kind.value,
        "persistence": status.persistence.value,
        "global": status.global_queue,
        "client": status.client_name,
        "uri": status.uri,
        "state": status.state.value,
        "progress": [p.total, p.required, p.succeeded, p.failed, p.fatally_failed, p.finalized],
        "result_uri": status.result_uri,
        "mime": status.mime,
        "size": status.size,
        "failure": None
        if f is None
        else [f.code, f.message, f.fatal, f.redirect_uri, f.expected_size, f.expected_mime],
        "return_type": status.return_type.value,
        "filename": status.filename,
        "started": status.started,
        "params": params,
    }


def _status_from_record(r: dict[str, Any]) -> tuple[RequestStatus, dict[str, object]]:
    total, required, succeeded, failed, fatal, finalized = r["progress"]
    f = r["failure"]
    failure = None
    if f is not None:
        failure = Failure(
            code=f[0], message=f[1], fatal=f[2], redirect_uri=f[3], expected_size=f[4],
            expected_mime=f[5],
        )  # fmt: skip
    progress = Progress(
        total=total, required=required, succeeded=succeeded, failed=failed,
        fatally_failed=fatal, finalized=finalized,
    )  # fmt: skip
    status = RequestStatus(
        identifier=str(r["identifier"]),
        kind=RequestKind(r["kind"]),
        persistence=Persistence(r["persistence"]),
        global_queue=bool(r["global"]),
        client_name=str(r["client"]),
        uri=str(r["uri"]),
        state=RequestState(r["state"]),
        progress=progress,
        result_uri=_opt_str(r["result_uri"]),
        mime=_opt_str(r["mime"]),
        size=r["size"],
        failure=failure,
        return_type=ReturnType(r["return_type"]),
        filename=_opt_str(r["filename"]),
        started=float(r["started"]),
    )
    params = r["params"]
    assert isinstance(params, dict)
    return status, params
