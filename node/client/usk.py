"""Updatable keys: edition search, date hints, and the never-go-back edition cache.

Edition *N* of ``USK@…/site/N`` is the SSK document ``site-N``. To publish, the
inserter tries ``site-N`` and, on a collision with other content, the next
edition. To fetch the newest edition ≥ N the client starts from the larger of N,
the newest edition it has already seen for the key (:class:`EditionCache`) and
the newest edition named by the date hints, then probes ``PROBE_WINDOW``
editions ahead concurrently, moving the window past the newest one found until
a window comes back empty.

Date hints are documents ``site-DATEHINT-<period>`` for the UTC year
(``2025``), ISO week (``2025-W07``) and day (``2025-02-14``) of an insert, each
a :class:`~node.client.metadata.Hint` with the edition inserted. A signed key
can be written once, so the first edition of each period owns that period's
hint; a hint says "at least this edition existed then", and probing covers the
rest. ``specs/client.md`` §USK has the details.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Iterator, Mapping

import anyio

from crypto.uri import SSKURI, USKURI
from node.client.errors import DataNotFound, NetworkError
from node.client.metadata import Document, Hint

# Eight concurrent SSK requests per round: cheap (1 KiB each), and a gap of up
# to seven missing editions (failed inserts) does not stop the search.
PROBE_WINDOW = 8
# Bounds one search on a hostile key that claims endless editions.
MAX_PROBE_ROUNDS = 4096
DATEHINT = "DATEHINT"

FetchDoc = Callable[[SSKURI], Awaitable[Document | None]]


def cache_key(usk: USKURI) -> str:
    """The identity of a USK for the cache: public key, crypto key and site, no edition."""
    public = usk.public()
    return str(USKURI(key=public.key, crypto_key=public.crypto_key, site=public.site, edition=0))


class EditionCache:
    """The newest edition seen per USK; it only ever moves forward.

    The node persists it (the request manager keeps it in the client
    database): ``on_update(key, edition)`` is called whenever an entry advances.
    """

    def __init__(
        self,
        initial: Mapping[str, int] | None = None,
        on_update: Callable[[str, int], None] | None = None,
    ) -> None:
        self._latest: dict[str, int] = dict(initial or {})
        self.on_update = on_update

    def get(self, usk: USKURI) -> int | None:
        return self._latest.get(cache_key(usk))

    def observe(self, usk: USKURI, edition: int) -> bool:
        """Record that ``edition`` exists; True if that is news."""
        key = cache_key(usk)
        if edition <= self._latest.get(key, -1):
            return False
        self._latest[key] = edition
        if self.on_update is not None:
            self.on_update(key, edition)
        return True

    def items(self) -> Iterator[tuple[str, int]]:
        return iter(dict(self._latest).items())


def hint_periods(when: float) -> list[str]:
    """The date-hint periods of a POSIX time: year, ISO week and day (UTC)."""
    moment = datetime.datetime.fromtimestamp(when, tz=datetime.UTC)
    iso = moment.isocalendar()
    return [
        f"{moment.year:04d}",
        f"{iso.year:04d}-W{iso.week:02d}",
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}",
    ]


def hint_ssk(usk: USKURI, period: str) -> SSKURI:
    """The SSK document holding the hint of ``usk`` for ``period``."""
    return SSKURI(
        key=usk.key,
        crypto_key=usk.crypto_key,
        extra=usk.extra,
        docname=f"{usk.site}-{DATEHINT}-{period}",
    )


async def read_hints(fetch: FetchDoc, usk: USKURI, when: float) -> int:
    """The newest edition any of today's, this week's or this year's hints names, or -1."""
    best = -1

    async def one(period: str) -> None:
        nonlocal best
        try:
            doc = await fetch(hint_ssk(usk.public(), period))
        except Exception:  # a hint is only a hint: any failure means "no help"
            return
        if isinstance(doc, Hint):
            best = max(best, doc.edition)

    async with anyio.create_task_group() as tg:
        for period in hint_periods(when):
            tg.start_soon(one, period)
    return best


async def find_latest(
    fetch: FetchDoc,
    usk: USKURI,
    cache: EditionCache,
    *,
    when: float,
    use_hints: bool = True,
) -> tuple[int, Document]:
    """The newest edition ≥ ``usk.edition`` (negative: any), never older than the cache's.

    Returns the edition and its document. Raises :class:`DataNotFound` when no
    such edition can be found.
    """
    public = usk.public()
    floor = max(usk.edition, 0)
    known = cache.get(public)
    plain_start = max(floor, known if known is not None else -1)
    starts = [plain_start]
    if use_hints:
        hinted = await read_hints(fetch, public, when)
        if hinted > plain_start:
            starts.insert(0, hinted)  # a hint for an edition whose insert failed must not block
    for start in starts:
        found = await _probe_from(fetch, public, start)
        if found:
            best = max(found)
            cache.observe(public, best)
            return best, found[best]
    raise DataNotFound(
        f"no edition {max(plain_start, 0)} or later of {public.with_edition(floor)} was found; "
        "the site may not be inserted yet, or not reachable now"
    )


async def _probe_from(fetch: FetchDoc, public: USKURI, start: int) -> dict[int, Document]:
    """Probe windows of editions from ``start`` until one comes back empty."""
    found: dict[int, Document] = {}
    base = start
    for _ in range(MAX_PROBE_ROUNDS):
        round_found: dict[int, Document] = {}

        async def probe(edition: int, into: dict[int, Document] = round_found) -> None:
            try:
                doc = await fetch(public.to_ssk(edition))
            except NetworkError:
                return
            if doc is not None and not isinstance(doc, Hint):
                into[edition] = doc

        async with anyio.create_task_group() as tg:
            for edition in range(base, base + PROBE_WINDOW):
                tg.start_soon(probe, edition)
        if not round_found:
            break
        found.update(round_found)
        base = max(round_found) + 1
    return found
