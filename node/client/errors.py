"""The errors the client layer raises: network failures, fetch and insert failures.

Every error carries the FCP failure code Freenet uses for the same condition
(``GetFailed``/``PutFailed`` ``Code``) and whether retrying could help
(``fatal``), so the FCP server, the gateway and the CLI translate them in one
place. Messages are written for the user: they say what went wrong and, where
there is one, what to do next.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from crypto.blocks import Block


class ClientError(Exception):
    """Base of every error :mod:`node.client` raises."""

    fetch_code: int = 17  # INTERNAL_ERROR
    insert_code: int = 3  # INTERNAL_ERROR
    fatal: bool = False


# --- what a BlockNetwork raises -------------------------------------------------------


class NetworkError(ClientError):
    """A single block could not be fetched or inserted."""


class DataNotFound(NetworkError):
    """The network looked for the block and did not find it."""

    fetch_code = 13


class RouteNotFound(NetworkError):
    """Not enough nodes could be reached to be sure the block does not exist."""

    fetch_code = 14
    insert_code = 5


class Overloaded(NetworkError):
    """A node on the way was overloaded or timed out; retrying later may work."""

    fetch_code = 15
    insert_code = 4


class InsertFailed(NetworkError):
    """The network did not accept an insert."""

    insert_code = 5


class Collision(NetworkError):
    """An SSK insert met a different block already stored under the same key."""

    insert_code = 9
    fatal = True

    def __init__(self, message: str, existing: Block | None) -> None:
        super().__init__(message)
        self.existing = existing


# --- what a fetch raises --------------------------------------------------------------


class FetchError(ClientError):
    """A file, site or key could not be fetched."""


class InvalidMetadata(FetchError):
    """A metadata document is malformed or of a version this client does not know."""

    fetch_code = 4
    fatal = True


class BlockDecodeError(FetchError):
    """A block or the reassembled file failed verification (tampered or wrong key)."""

    fetch_code = 6
    fatal = True


class TooManyMetadataLevels(FetchError):
    """Metadata split into more levels than any honest inserter produces."""

    fetch_code = 7
    fatal = True


class TooManyRedirects(FetchError):
    """Redirects went deeper than the limit (probably a loop)."""

    fetch_code = 16
    fatal = True


class PathNotFound(FetchError):
    """The path names nothing inside the site's manifest."""

    fetch_code = 10
    fatal = True


class TooManyPathComponents(FetchError):
    """The URI has a path but the key holds a file, not a site; ``redirect_uri`` drops it."""

    fetch_code = 11
    fatal = True

    def __init__(self, message: str, redirect_uri: str) -> None:
        super().__init__(message)
        self.redirect_uri = redirect_uri


class NotEnoughPathComponents(FetchError):
    """The URI names a site with no default document and no path."""

    fetch_code = 24
    fatal = True


class TooBig(FetchError):
    """The file is larger than the caller's ``max_size``."""

    fetch_code = 21
    fatal = True

    def __init__(self, message: str, expected_size: int, mime: str | None) -> None:
        super().__init__(message)
        self.expected_size = expected_size
        self.mime = mime


class AllDataNotFound(FetchError):
    """Some blocks were found but a segment could not be reconstructed."""

    fetch_code = 28


class InvalidRequestURI(FetchError):
    """The URI cannot be fetched as given (an insert-only form, a bad edition …)."""

    fetch_code = 20
    insert_code = 1
    fatal = True


class PermanentRedirect(FetchError):
    """A newer USK edition exists: fetch ``redirect_uri`` instead."""

    fetch_code = 27

    def __init__(self, message: str, redirect_uri: str) -> None:
        super().__init__(message)
        self.redirect_uri = redirect_uri


class Cancelled(ClientError):
    """The request was cancelled by its owner."""

    fetch_code = 25
    insert_code = 10
    fatal = True


# --- what an insert raises ------------------------------------------------------------


class InsertError(ClientError):
    """A file, site or key could not be inserted."""


class InvalidInsertURI(InsertError):
    """The key cannot be inserted to (a request key, a path where none is allowed …)."""

    insert_code = 1
    fatal = True


class TooLargeForKey(InsertError):
    """The document does not fit where it has to go (e.g. an SSK block of 1 KiB)."""

    insert_code = 3
    fatal = True


class BlocksFailed(InsertError):
    """Some blocks of an insert could not be inserted after every retry."""

    insert_code = 7


@contextlib.contextmanager
def collapse_groups() -> Iterator[None]:
    """Re-raise the first error out of a task group's exception group.

    A request's concurrent tasks fail for one reason at a time (the first
    failure cancels the rest); callers should see that error, not a group.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = list(_leaves(group))
        chosen: BaseException | None = next((e for e in leaves if isinstance(e, ClientError)), None)
        if chosen is None:
            chosen = next((e for e in leaves if isinstance(e, Exception)), leaves[0])
        raise chosen from None


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc
