"""Samizdat's FCP extensions: darknet peers and named entries (keypairs, bookmarks) in the node.

Freenet has no FCP message for what a Samizdat front end needs beyond
requests: adding a friend's Samizdat node reference (Freenet's ``AddPeer``
takes Freenet noderefs and stays unsupported), and keeping a user's named
keypairs and bookmarks in the node's sealed client database, so they live
with the node rather than in a front end's plaintext files. Every message
here is named ``Samizdat…`` and is sent only in answer to a ``Samizdat…``
request, so a Freenet client that never asks never sees one.

Client → node (``Identifier`` required, echoed in every reply):

* ``SamizdatAddPeer{NodeRef}`` → ``SamizdatPeerAdded{Identity, New}``
  (ProtocolError 21 unreadable or unverifiable reference, 28 our own).
* ``SamizdatListEntries{Kind, WithPrivate}`` → ``SamizdatEntry{Kind, Name, …}``
  per entry, then ``SamizdatEndListEntries{Kind}``.
* ``SamizdatPutEntry{Kind, Name, …}`` (add or replace) → ``SamizdatEntryStored``.
* ``SamizdatRemoveEntry{Kind, Name}`` → ``SamizdatEntryRemoved`` (15 if unknown).

Kinds and their fields: ``Keypair`` — ``InsertURI`` (private: sent only with
``WithPrivate=true``), ``RequestURI``, ``Edition`` (the last edition
published, ``-1`` before the first); ``Bookmark`` — ``URI``, ``Edition``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from crypto.errors import CryptoError
from crypto.uri import SSKURI, USKURI, parse_uri
from node.fcp.backend import BackendError
from node.fcp.codes import ProtocolErrorCode as PE
from node.fcp.protocol import FCPMessage, FCPProtocolError, format_value

PREFIX = "Samizdat"
EntryKind = Literal["Keypair", "Bookmark"]
KINDS: tuple[EntryKind, ...] = ("Keypair", "Bookmark")
# Fields each kind keeps; names are what the client sends and gets back.
ENTRY_FIELDS: dict[str, tuple[str, ...]] = {
    "Keypair": ("InsertURI", "RequestURI", "Edition"),
    "Bookmark": ("URI", "Edition"),
}
PRIVATE_FIELDS = frozenset({"InsertURI"})
# A name is what a user types to tell entries apart; 200 characters is plenty
# and keeps one entry (three keys of at most 4096 characters) well under a line.
MAX_NAME = 200
# Entries per kind: a person's keys and bookmarks, not a database.
MAX_ENTRIES = 1_000


@dataclass(frozen=True, slots=True, kw_only=True)
class AddPeer:
    identifier: str
    noderef: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ListEntries:
    identifier: str
    kind: EntryKind
    with_private: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PutEntry:
    identifier: str
    kind: EntryKind
    name: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveEntry:
    identifier: str
    kind: EntryKind
    name: str


ExtensionMessage = AddPeer | ListEntries | PutEntry | RemoveEntry


@runtime_checkable
class ExtensionBackend(Protocol):
    """What a backend implements to offer the extensions (else ProtocolError 16)."""

    async def add_peer(self, noderef: str) -> tuple[str, bool]:
        """Add a darknet friend: ``(short identity, newly added)``."""
        ...

    async def list_entries(self, kind: str) -> Sequence[Mapping[str, str]]:
        """Every entry of ``kind``: ``Name`` plus the kind's fields."""
        ...

    async def put_entry(self, kind: str, name: str, fields: Mapping[str, str]) -> None: ...

    async def remove_entry(self, kind: str, name: str) -> bool:
        """False when there is no such entry."""
        ...


def is_extension(name: str) -> bool:
    return name.startswith(PREFIX)


def _error(code: int, text: str, identifier: str | None) -> FCPProtocolError:
    return FCPProtocolError(code, text, identifier=identifier)


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "yes")


def parse(msg: FCPMessage) -> ExtensionMessage:
    """Validate a ``Samizdat…`` message; :class:`FCPProtocolError` says what is wrong."""
    identifier = msg.get("Identifier")
    if not identifier:
        raise _error(PE.MISSING_FIELD, f"{msg.name} needs the field Identifier", None)
    if msg.name == "SamizdatAddPeer":
        ref = msg.get("NodeRef")
        if not ref:
            raise _error(PE.MISSING_FIELD, "SamizdatAddPeer needs the field NodeRef", identifier)
        return AddPeer(identifier=identifier, noderef=ref)
    if msg.name not in ("SamizdatListEntries", "SamizdatPutEntry", "SamizdatRemoveEntry"):
        raise _error(PE.INVALID_MESSAGE, f"unknown message {msg.name[:60]!r}", identifier)
    kind = msg.get("Kind") or ""
    if kind not in KINDS:
        raise _error(PE.INVALID_FIELD, f"Kind must be one of {', '.join(KINDS)}", identifier)
    if msg.name == "SamizdatListEntries":
        return ListEntries(
            identifier=identifier, kind=kind, with_private=_bool(msg.get("WithPrivate"))
        )
    name = (msg.get("Name") or "").strip()
    if not name or len(name) > MAX_NAME:
        raise _error(PE.INVALID_FIELD, f"Name must be 1 to {MAX_NAME} characters", identifier)
    if msg.name == "SamizdatRemoveEntry":
        return RemoveEntry(identifier=identifier, kind=kind, name=name)
    fields = {k: msg[k].strip() for k in ENTRY_FIELDS[kind] if msg.get(k)}
    _check_entry(kind, fields, identifier)
    return PutEntry(identifier=identifier, kind=kind, name=name, fields=fields)


def _check_entry(kind: str, fields: dict[str, str], identifier: str) -> None:
    edition = fields.setdefault("Edition", "-1")
    if not edition.lstrip("-").isdigit() or int(edition) < -1:
        raise _error(PE.ERROR_PARSING_NUMBER, "Edition must be a whole number ≥ -1", identifier)
    needed = ("InsertURI", "RequestURI") if kind == "Keypair" else ("URI",)
    for key in needed:
        if key not in fields:
            raise _error(PE.MISSING_FIELD, f"a {kind} needs the field {key}", identifier)
        try:
            uri = parse_uri(fields[key])
        except CryptoError as exc:
            raise _error(PE.URI_PARSE_ERROR, f"{key}: {exc}", identifier) from None
        if kind == "Keypair" and not isinstance(uri, SSKURI | USKURI):
            raise _error(PE.INVALID_FIELD, f"{key} must be an SSK@ or USK@ key", identifier)
        if key == "InsertURI" and not uri.is_insert:  # type: ignore[union-attr]
            raise _error(
                PE.INVALID_FIELD, "InsertURI is a request key, not an insert key", identifier
            )
        if key == "RequestURI" and uri.is_insert:  # type: ignore[union-attr]
            raise _error(PE.INVALID_FIELD, "RequestURI is an insert key", identifier)


async def execute(backend: object, request: ExtensionMessage) -> object:
    """Run one extension request against ``backend`` (the server calls this)."""
    if not isinstance(backend, ExtensionBackend):
        raise BackendError(PE.NOT_SUPPORTED, "this node does not offer Samizdat's extensions")
    if isinstance(request, AddPeer):
        return await backend.add_peer(request.noderef)
    if isinstance(request, ListEntries):
        return list(await backend.list_entries(request.kind))
    if isinstance(request, PutEntry):
        existing = await backend.list_entries(request.kind)
        names = {e.get("Name") for e in existing}
        if request.name not in names and len(names) >= MAX_ENTRIES:
            raise BackendError(PE.INVALID_FIELD, f"at most {MAX_ENTRIES} entries of a kind")
        await backend.put_entry(request.kind, request.name, request.fields)
        return None
    return await backend.remove_entry(request.kind, request.name)


def _msg(name: str, identifier: str, **fields: object) -> FCPMessage:
    out = {"Identifier": identifier}
    out.update({k: format_value(v) for k, v in fields.items() if v is not None})
    return FCPMessage(name, out)


def replies(request: ExtensionMessage, result: object) -> list[FCPMessage]:
    """The messages answering ``request`` once :func:`execute` returned ``result``."""
    ident = request.identifier
    if isinstance(request, AddPeer):
        assert isinstance(result, tuple)
        identity, new = result
        return [_msg("SamizdatPeerAdded", ident, Identity=identity, New=new)]
    if isinstance(request, ListEntries):
        out = []
        for entry in result:  # type: ignore[attr-defined]
            keep = {
                k: v
                for k, v in entry.items()
                if k in ENTRY_FIELDS[request.kind]
                and (request.with_private or k not in PRIVATE_FIELDS)
            }
            out.append(_msg("SamizdatEntry", ident, Kind=request.kind, Name=entry["Name"], **keep))
        out.append(_msg("SamizdatEndListEntries", ident, Kind=request.kind))
        return out
    if isinstance(request, PutEntry):
        return [_msg("SamizdatEntryStored", ident, Kind=request.kind, Name=request.name)]
    if not result:
        text = f"no {request.kind} named {request.name!r}"
        raise _error(PE.NO_SUCH_IDENTIFIER, text, ident)
    return [_msg("SamizdatEntryRemoved", ident, Kind=request.kind, Name=request.name)]
