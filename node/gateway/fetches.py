"""The gateway's fetches: one background fetch per key path, kept in a sealed spool.

A request for ``/<KEY>/<path>`` looks up (or starts) the :class:`Fetch` for that
key. A fetch runs in two steps on the client layer:

1. a *probe* — :meth:`Client.get` with ``max_size=0`` — which resolves keys,
   redirects, split metadata and site paths and stops with
   :class:`~node.client.errors.TooBig` carrying the file's size and MIME type
   before any data is fetched; the metadata blocks it read are then in the
   node's store, so step 2 repeats no network work for them;
2. the *body*, streamed by :meth:`Client.get` into a :class:`~node.gateway.spool.Spool`.

Knowing the type and size after step 1 lets the gateway decide early: a
download's warning page needs nothing more, audio and video stream to the
browser while the body is still arriving, and pages wait for the whole body
(the filter needs it). Finished fetches stay cached (LRU, bounded by bytes)
so that reloading a page, following a link back and seeking in a video cost
no network work.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import anyio
import anyio.abc

from crypto.uri import USKURI
from node.client.client import Client
from node.client.errors import ClientError, TooBig
from node.client.metadata import DEFAULT_MIME
from node.client.progress import Progress
from node.gateway.spool import Spool, SpoolClosed

# Finished fetches kept on disk (sealed) for rereading, seeking and reloads.
DEFAULT_CACHE_BYTES = 1024 * 1024 * 1024
# A failure is remembered this long, so that the error page does not start a
# new fetch on every reload; after that a request tries again.
FAILURE_MEMORY = 15.0
# Fetches running at once: each holds a client request window of blocks.
MAX_RUNNING = 32
# A USK is searched for newer editions at most this often per key.
USK_RECHECK = 60.0


class _NullSink:
    async def write(self, data: bytes, /) -> None:  # pragma: no cover - probe writes nothing
        return None


@dataclass(eq=False)
class Fetch:
    """One key's fetch: what is known so far, and the spool its bytes go to."""

    uri: str
    spool: Spool
    mime: str | None = None  # known after the probe
    size: int | None = None
    result_uri: str | None = None
    error: ClientError | None = None
    progress: Progress = field(default_factory=Progress)
    started: float = field(default_factory=time.monotonic)
    finished_at: float | None = None
    readers: int = 0
    _changed: anyio.Event = field(default_factory=anyio.Event)

    @property
    def done(self) -> bool:
        return self.spool.finished and self.error is None

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def metadata_known(self) -> bool:
        return self.mime is not None

    def changed(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_until(self, ready: Callable[[Fetch], bool]) -> None:
        """Wait until ``ready(self)`` or the fetch has failed."""
        while not ready(self) and not self.failed:
            await self._changed.wait()


class FetchCache:
    """Starts, shares and evicts the gateway's fetches.

    Args:
        client: the client layer that fetches.
        task_group: where fetch tasks run (the gateway's).
        spool_dir: where sealed spool files are created.
        cache_bytes: finished fetches kept up to this many bytes.
    """

    def __init__(
        self,
        client: Client,
        task_group: anyio.abc.TaskGroup,
        *,
        spool_dir: Path | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.client = client
        self._tg = task_group
        self.spool_dir = spool_dir
        self.cache_bytes = cache_bytes
        self._fetches: OrderedDict[str, Fetch] = OrderedDict()
        self._usk_searches: dict[str, UskSearch] = {}
        self._running = 0

    def get(self, uri: str, *, retry: bool = False) -> Fetch:
        """The fetch of ``uri`` (a key text the client layer accepts), started if new."""
        fetch = self._fetches.get(uri)
        if fetch is not None and fetch.failed:
            assert fetch.finished_at is not None
            if retry or time.monotonic() - fetch.finished_at > FAILURE_MEMORY:
                self._drop(uri)
                fetch = None
        if fetch is not None and fetch.spool.closed:
            self._drop(uri)
            fetch = None
        if fetch is None:
            fetch = Fetch(uri=uri, spool=Spool(self.spool_dir))
            self._fetches[uri] = fetch
            self._tg.start_soon(self._run, fetch)
        self._fetches.move_to_end(uri)
        self._evict()
        return fetch

    def peek(self, uri: str) -> Fetch | None:
        return self._fetches.get(uri)

    def fetches(self) -> list[Fetch]:
        """All known fetches, most recently used last."""
        return list(self._fetches.values())

    async def _run(self, fetch: Fetch) -> None:
        while self._running >= MAX_RUNNING:
            await anyio.sleep(0.05)
        self._running += 1

        def progress(p: Progress) -> None:
            fetch.progress = p
            fetch.changed()

        try:
            try:
                result = await self.client.get(fetch.uri, _NullSink(), max_size=0)
                fetch.mime, fetch.size, fetch.result_uri = result.mime, 0, result.uri
            except TooBig as exc:
                fetch.mime = exc.mime or DEFAULT_MIME
                fetch.size = exc.expected_size
                fetch.changed()
                result = await self.client.get(fetch.uri, fetch.spool, progress=progress)
                fetch.mime, fetch.size, fetch.result_uri = result.mime, result.size, result.uri
            fetch.spool.finish()
        except ClientError as exc:
            fetch.error = exc
            fetch.spool.close()
        except SpoolClosed:
            pass  # evicted while running
        finally:
            self._running -= 1
            fetch.finished_at = time.monotonic()
            fetch.changed()
            self._evict()

    def _drop(self, uri: str) -> None:
        fetch = self._fetches.pop(uri, None)
        if fetch is not None:
            fetch.spool.close()
            fetch.changed()

    def _evict(self) -> None:
        total = sum(f.spool.available for f in self._fetches.values())
        for uri, fetch in list(self._fetches.items()):  # least recently used first
            if total <= self.cache_bytes:
                break
            if fetch.readers or not (fetch.done or fetch.failed):
                continue
            total -= fetch.spool.available
            self._drop(uri)

    def close(self) -> None:
        for uri in list(self._fetches):
            self._drop(uri)

    # --- USK editions -------------------------------------------------------------------

    def check_usk(self, usk: USKURI, *, force: bool = False) -> UskSearch:
        """Look for editions of ``usk`` newer than known, in the background.

        At most one search per key runs, and a finished one is reused for
        :data:`USK_RECHECK` seconds unless ``force``.
        """
        key = str(replace(usk.public(), edition=0, path=()))
        search = self._usk_searches.get(key)
        now = time.monotonic()
        if search is not None and (
            not search.done or (not force and now - search.started < USK_RECHECK)
        ):
            return search
        search = UskSearch(started=now)
        self._usk_searches[key] = search
        self._tg.start_soon(self._search_usk, usk, search)
        return search

    async def _search_usk(self, usk: USKURI, search: UskSearch) -> None:
        known = self.client.editions.get(usk)
        start = max(usk.edition, known if known is not None else 0, 0)
        base = replace(usk.public(), edition=start, path=())
        try:  # the search records what it finds in the client's edition cache
            await self.client.get(base, _NullSink(), max_size=0)
        except TooBig:
            pass
        except ClientError as exc:
            search.error = exc
        finally:
            search.edition = self.client.editions.get(usk)
            search.done = True
            search.finished.set()


@dataclass(eq=False)
class UskSearch:
    """A background search for a USK's newest edition."""

    started: float
    done: bool = False
    edition: int | None = None  # the newest known when it finished
    error: ClientError | None = None
    finished: anyio.Event = field(default_factory=anyio.Event)
