"""Builders for the FCP 2.0 messages the node sends to clients.

Each builder returns an :class:`~node.fcp.protocol.FCPMessage` with the fields
clients rely on: every message about a request carries its ``Identifier`` (and
``Global``), failure messages carry ``Code``, ``CodeDescription``,
``ShortCodeDescription`` and ``Fatal`` from :mod:`node.fcp.codes`, and the two
GetFailed codes that tell a client to re-request (11, 27) must have a
``RedirectURI``. Only Freenet's standard message names are used: a client may
fail a request on a message type it does not know.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from node.fcp.backend import (
    CheckResult,
    CheckSegment,
    DirectData,
    DiskFile,
    GetFailure,
    GetRequest,
    GetSucceeded,
    Progress,
    PutDirRequest,
    PutFailure,
    PutRequest,
    Redirect,
    RequestInfo,
    USKUpdate,
)
from node.fcp.codes import REDIRECT_CODES, get_failed_text, protocol_error_text, put_failed_text
from node.fcp.protocol import FCPMessage, format_value


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeIdentity:
    """What NodeHello says about the node.

    ``build`` is the Freenet build whose FCP behaviour Samizdat follows, so
    tools that gate features on the build number (read from ``Build`` or the
    fourth part of ``Version``) enable them; Samizdat's own version is in
    ``Version``'s second part and in ``Revision``.
    """

    node: str = "Samizdat"
    version: str = "0.1.0"
    build: int = 1506
    revision: str = "samizdat-0.1.0"
    ext_build: int = 29
    ext_revision: str = "samizdat"
    testnet: bool = False
    codecs: tuple[str, ...] = ("GZIP", "BZIP2", "LZMA")
    language: str = "ENGLISH"


def _msg(name: str, *pairs: tuple[str, object], data: bytes | None = None) -> FCPMessage:
    fields = {k: format_value(v) for k, v in pairs if v is not None}
    if data is not None:
        fields["DataLength"] = str(len(data))
    return FCPMessage(name, fields, data)


def _about(info: RequestInfo) -> tuple[tuple[str, object], tuple[str, object]]:
    return ("Identifier", info.identifier), ("Global", info.global_)


def compression_codecs(codecs: Iterable[str]) -> str:
    """``"3 - GZIP(0), BZIP2(1), LZMA(2)"``: the shape clients parse."""
    names = list(codecs)
    listed = ", ".join(f"{name}({i})" for i, name in enumerate(names))
    return f"{len(names)} - {listed}"


def node_hello(identity: NodeIdentity, connection_identifier: str) -> FCPMessage:
    if connection_identifier.isdigit():
        raise ValueError(
            "ConnectionIdentifier must not be all digits (clients turn it into a number)"
        )
    return _msg(
        "NodeHello",
        ("FCPVersion", "2.0"),
        ("Node", identity.node),
        ("Version", f"{identity.node},{identity.version},2.0,{identity.build}"),
        ("Build", identity.build),
        ("Revision", identity.revision),
        ("ExtBuild", identity.ext_build),
        ("ExtRevision", identity.ext_revision),
        ("Testnet", identity.testnet),
        ("CompressionCodecs", compression_codecs(identity.codecs)),
        ("ConnectionIdentifier", connection_identifier),
        ("NodeLanguage", identity.language),
    )


def close_duplicate_client_name() -> FCPMessage:
    return _msg("CloseConnectionDuplicateClientName")


def protocol_error(
    code: int,
    extra: str = "",
    *,
    identifier: str | None = None,
    global_: bool = False,
    fatal: bool = False,
) -> FCPMessage:
    return _msg(
        "ProtocolError",
        ("Code", code),
        ("CodeDescription", protocol_error_text(code)),
        ("ExtraDescription", extra or None),
        ("Fatal", fatal),
        ("Identifier", identifier),
        ("Global", global_),
    )


def identifier_collision(identifier: str, global_: bool) -> FCPMessage:
    return _msg("IdentifierCollision", ("Identifier", identifier), ("Global", global_))


def ssk_keypair(identifier: str | None, insert_uri: str, request_uri: str) -> FCPMessage:
    """InsertURI/RequestURI end in ``/``: clients append a document name."""
    return _msg(
        "SSKKeypair",
        ("InsertURI", _slash(insert_uri)),
        ("RequestURI", _slash(request_uri)),
        ("Identifier", identifier),
    )


def _slash(uri: str) -> str:
    return uri if uri.endswith("/") else uri + "/"


def uri_generated(info: RequestInfo, uri: str) -> FCPMessage:
    return _msg("URIGenerated", *_about(info), ("URI", uri))


def put_fetchable(info: RequestInfo, uri: str) -> FCPMessage:
    return _msg("PutFetchable", *_about(info), ("URI", uri))


def put_successful(info: RequestInfo, uri: str) -> FCPMessage:
    return _msg("PutSuccessful", *_about(info), ("URI", uri))


def put_failed(info: RequestInfo, failure: PutFailure) -> FCPMessage:
    text = put_failed_text(failure.code)
    return _msg(
        "PutFailed",
        *_about(info),
        ("Code", failure.code),
        ("CodeDescription", text.description),
        ("ShortCodeDescription", text.short),
        ("ExtraDescription", failure.extra or None),
        ("Fatal", text.fatal),
        ("ExpectedURI", failure.expected_uri),
    )


def data_found(info: RequestInfo, result: GetSucceeded) -> FCPMessage:
    return _msg(
        "DataFound",
        *_about(info),
        ("Metadata.ContentType", result.content_type or "application/octet-stream"),
        ("DataLength", result.data_length),
    )


def all_data(info: RequestInfo, result: GetSucceeded) -> FCPMessage:
    data = result.data if result.data is not None else b""
    return _msg(
        "AllData",
        *_about(info),
        ("Metadata.ContentType", result.content_type or "application/octet-stream"),
        data=data,
    )


def get_failed(info: RequestInfo, failure: GetFailure) -> FCPMessage:
    if failure.code in REDIRECT_CODES and not failure.redirect_uri:
        raise ValueError(f"GetFailed code {failure.code} needs a RedirectURI")
    text = get_failed_text(failure.code)
    return _msg(
        "GetFailed",
        *_about(info),
        ("Code", failure.code),
        ("CodeDescription", text.description),
        ("ShortCodeDescription", text.short),
        ("ExtraDescription", failure.extra or None),
        ("Fatal", text.fatal),
        ("RedirectURI", failure.redirect_uri),
        ("ExpectedDataLength", failure.expected_data_length),
        ("ExpectedMetadata.ContentType", failure.expected_content_type),
    )


def simple_progress(info: RequestInfo, progress: Progress) -> FCPMessage:
    return _msg(
        "SimpleProgress",
        *_about(info),
        ("Total", progress.total),
        ("Required", progress.required),
        ("Failed", progress.failed),
        ("FatallyFailed", progress.fatally_failed),
        ("Succeeded", progress.succeeded),
        ("FinalizedTotal", progress.finalized),
    )


def _persistent_common(info: RequestInfo) -> list[tuple[str, object]]:
    return [
        *_about(info),
        ("Verbosity", info.verbosity),
        ("PriorityClass", info.priority),
        ("PersistenceType", info.persistence),
        ("ClientToken", info.client_token),
    ]


def persistent_get(request: GetRequest, *, started: bool = True) -> FCPMessage:
    o = request.options
    return _msg(
        "PersistentGet",
        *_persistent_common(request.info),
        ("URI", str(request.uri)),
        ("ReturnType", o.return_type),
        ("Filename", o.filename),
        ("TempFilename", o.temp_filename),
        ("MaxRetries", o.max_retries),
        ("MaxSize", o.max_size),
        ("RealTime", o.realtime),
        ("Started", started),
    )


def persistent_put(request: PutRequest, *, started: bool = True) -> FCPMessage:
    o = request.options
    source = request.source
    return _msg(
        "PersistentPut",
        *_persistent_common(request.info),
        ("URI", str(request.uri)),
        ("UploadFrom", _upload_from(source)),
        ("DataLength", len(source.data) if isinstance(source, DirectData) else None),
        ("Filename", source.path if isinstance(source, DiskFile) else None),
        ("TargetURI", source.target if isinstance(source, Redirect) else None),
        ("Metadata.ContentType", o.content_type),
        ("TargetFilename", o.target_filename),
        ("DontCompress", o.dont_compress),
        ("MaxRetries", o.max_retries),
        ("RealTime", o.realtime),
        ("Started", started),
    )


def _upload_from(source: object) -> str:
    if isinstance(source, DiskFile):
        return "disk"
    if isinstance(source, Redirect):
        return "redirect"
    return "direct"


def persistent_put_dir(request: PutDirRequest, *, started: bool = True) -> FCPMessage:
    files: list[tuple[str, object]] = []
    for i, f in enumerate(request.files):
        p = f"Files.{i}."
        files.append((p + "Name", f.name))
        files.append((p + "UploadFrom", _upload_from(f.source)))
        if isinstance(f.source, DirectData):
            files.append((p + "DataLength", len(f.source.data)))
        elif isinstance(f.source, DiskFile):
            files.append((p + "Filename", f.source.path))
        elif isinstance(f.source, Redirect):
            files.append((p + "TargetURI", f.source.target))
        files.append((p + "Metadata.ContentType", f.content_type))
    return _msg(
        "PersistentPutDir",
        *_persistent_common(request.info),
        ("URI", str(request.uri)),
        ("DefaultName", request.default_name),
        ("MaxRetries", request.options.max_retries),
        ("Started", started),
        *files,
    )


def end_list_persistent_requests(identifier: str | None = None) -> FCPMessage:
    return _msg("EndListPersistentRequests", ("Identifier", identifier))


def persistent_request_removed(identifier: str, global_: bool) -> FCPMessage:
    return _msg("PersistentRequestRemoved", ("Identifier", identifier), ("Global", global_))


def persistent_request_modified(info: RequestInfo) -> FCPMessage:
    return _msg(
        "PersistentRequestModified",
        *_about(info),
        ("PriorityClass", info.priority),
        ("ClientToken", info.client_token),
    )


def test_dda_reply(
    directory: str,
    *,
    read_filename: str | None = None,
    write_filename: str | None = None,
    content_to_write: str | None = None,
) -> FCPMessage:
    return _msg(
        "TestDDAReply",
        ("Directory", directory),
        ("ReadFilename", read_filename),
        ("WriteFilename", write_filename),
        ("ContentToWrite", content_to_write),
    )


def test_dda_complete(directory: str, *, read_allowed: bool, write_allowed: bool) -> FCPMessage:
    return _msg(
        "TestDDAComplete",
        ("Directory", directory),
        ("ReadDirectoryAllowed", read_allowed),
        ("WriteDirectoryAllowed", write_allowed),
    )


test_dda_reply.__test__ = False  # type: ignore[attr-defined]
test_dda_complete.__test__ = False  # type: ignore[attr-defined]


def subscribed_usk(identifier: str, uri: str, dont_poll: bool) -> FCPMessage:
    return _msg("SubscribedUSK", ("Identifier", identifier), ("URI", uri), ("DontPoll", dont_poll))


def subscribed_usk_update(info: RequestInfo, update: USKUpdate) -> FCPMessage:
    return _msg(
        "SubscribedUSKUpdate",
        ("Identifier", info.identifier),
        ("Edition", update.edition),
        ("URI", update.uri),
        ("NewKnownGood", update.new_known_good),
        ("NewSlotToo", update.new_slot_too),
    )


def node_data(identifier: str | None, fields: Mapping[str, str]) -> FCPMessage:
    return _msg("NodeData", *fields.items(), ("Identifier", identifier))


def peer(identifier: str | None, fields: Mapping[str, str]) -> FCPMessage:
    return _msg("Peer", *fields.items(), ("Identifier", identifier))


def end_list_peers(identifier: str | None) -> FCPMessage:
    return _msg("EndListPeers", ("Identifier", identifier))


# --- Samizdat's extension (sent only in answer to SamizdatCheck) ----------------------


def samizdat_check_segment(info: RequestInfo, seg: CheckSegment) -> FCPMessage:
    return _msg(
        "SamizdatCheckSegment",
        *_about(info),
        ("Path", seg.path),
        ("Segment", seg.index),
        ("Segments", seg.segments),
        ("Needed", seg.k),
        ("Blocks", seg.n),
        ("Found", seg.found),
        ("Missing", ",".join(str(i) for i in seg.missing)),
        ("Repaired", seg.repaired),
        ("Retrievable", seg.retrievable),
        ("Note", seg.note or None),
    )


def samizdat_check_complete(info: RequestInfo, result: CheckResult) -> FCPMessage:
    lost: list[tuple[str, object]] = []
    for n, (path, reason) in enumerate(result.lost):
        lost += [(f"Lost.{n}.Path", path), (f"Lost.{n}.Reason", reason)]
    return _msg(
        "SamizdatCheckComplete",
        *_about(info),
        ("URI", result.uri),
        ("Files", result.files),
        ("Segments", result.segments),
        ("Blocks", result.blocks),
        ("Found", result.found),
        ("Missing", result.missing),
        ("Repaired", result.repaired),
        ("MetadataBlocks", result.metadata_blocks),
        ("Survives", result.survives),
        *lost,
    )
