"""The insert form: ``GET /insert`` and ``POST /insert`` (a file or a directory).

The multipart body is parsed as it arrives (python-multipart's push parser
fed from ``request.stream()``): field values are small and kept in memory,
file parts go straight into sealed :class:`~node.gateway.spool.Spool` files,
so an upload of any size costs the gateway a 64 KiB buffer while it travels,
and nothing of it reaches the disk in plaintext. When the body is complete
and its CSRF token checked, the files are handed to the request manager
(``start_put`` for one file, ``start_put_dir`` for a directory) on the global
queue, where the transfers page shows them. (The client layer encodes a file
from memory, so the insert itself holds the file once; see the spec.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from crypto.errors import CryptoError
from crypto.keys import generate_ssk
from crypto.uri import SSKURI, USKURI, parse_uri
from node.client.errors import ClientError
from node.client.manifest import SiteFile
from node.client.requests import Persistence
from node.gateway import pages
from node.gateway.app import Gateway, same_site
from node.gateway.pages import esc
from node.gateway.security import CSRF_FIELD, SESSION_COOKIE
from node.gateway.spool import Spool

MAX_FIELD = 64 * 1024  # a key, a name or a token
MAX_FILES = 10_000  # files in one directory upload


class UploadRejected(Exception):
    """The form cannot be accepted; the message says why, for the reader."""


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    value: bytearray = field(default_factory=bytearray)
    spool: Spool | None = None


async def insert_page(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway

    def build(token: str) -> str:
        body = (
            '<form method="post" action="/insert" enctype="multipart/form-data">'
            f"{pages.csrf_input(token)}"
            "<fieldset><legend>What to insert</legend>"
            '<label for="file">One file</label><input id="file" name="file" type="file">'
            '<label for="site">…or a whole directory (a site; index.html is its front page)'
            '</label><input id="site" name="site" type="file" multiple webkitdirectory>'
            "</fieldset><fieldset><legend>Under which key</legend>"
            '<p><input type="radio" id="k-chk" name="kind" value="chk" checked>'
            '<label for="k-chk" class="inline">CHK: a key computed from the content</label></p>'
            '<p><input type="radio" id="k-ssk" name="kind" value="ssk">'
            '<label for="k-ssk" class="inline">SSK: under your signed key</label></p>'
            '<p><input type="radio" id="k-usk" name="kind" value="usk">'
            '<label for="k-usk" class="inline">USK: the next edition of an updatable site'
            "</label></p>"
            '<label for="insert-key">Insert key (SSK@… or USK@…; empty: make a new one)</label>'
            '<input id="insert-key" name="key" type="text" autocomplete="off">'
            '<label for="name">Name (document or site name for SSK and USK)</label>'
            '<input id="name" name="name" type="text" value="site">'
            "</fieldset><button>Insert</button></form>"
        )
        return pages.layout("Insert", body, here="/insert")

    return gw.render(request, build)


async def post_insert(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    if not same_site(request):
        return gw.forbidden(request)
    parts: list[_Part] = []
    try:
        await _parse(request, parts, limit=gw.settings.max_upload, spool_dir=gw.spool_dir)
        fields = {p.name: p.value.decode("utf-8", "replace") for p in parts if p.spool is None}
        if not gw.sessions.check(request.cookies.get(SESSION_COOKIE), fields.get(CSRF_FIELD)):
            return gw.forbidden(request)
        return _start(gw, request, fields, [p for p in parts if p.spool is not None])
    except UploadRejected as exc:
        status = 413 if "larger" in str(exc) else 400
        return gw.render(request, pages.error_page("Cannot insert", str(exc)), status_code=status)
    finally:
        for part in parts:
            if part.spool is not None:
                part.spool.close()


async def _parse(request: Request, parts: list[_Part], *, limit: int, spool_dir: object) -> None:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UploadRejected("the form must be sent as multipart/form-data")
    header: dict[str, bytearray] = {"field": bytearray(), "value": bytearray()}
    size = 0

    def on_part_begin() -> None:
        if len(parts) >= MAX_FILES + 16:
            raise UploadRejected(f"more than {MAX_FILES} files in one insert")
        parts.append(_Part())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def on_header_end() -> None:
        parts[-1].headers[bytes(header["field"]).lower()] = bytes(header["value"])
        header["field"], header["value"] = bytearray(), bytearray()

    def on_headers_finished() -> None:
        part = parts[-1]
        _, disposition = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.name = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        if filename is not None:
            part.filename = filename.decode("utf-8", "replace")
            part.spool = Spool(spool_dir)  # type: ignore[arg-type]

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part = parts[-1]
        if part.spool is not None:
            part.spool.write_now(data[start:end])
        else:
            part.value += data[start:end]
            if len(part.value) > MAX_FIELD:
                raise UploadRejected(f"the field {part.name!r} is too long")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        },
    )
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise UploadRejected(f"the upload is larger than {pages.human_size(limit)}")
        try:
            parser.write(chunk)
        except UploadRejected:
            raise
        except Exception as exc:  # the parser's own errors: a malformed body
            raise UploadRejected(f"the form is malformed: {exc}") from None
    parser.finalize()


def _site_name(filename: str) -> str:
    """A directory upload's file name without the chosen directory's own name."""
    parts = [p for p in filename.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts[1:] if len(parts) > 1 else parts)


def _target(kind: str, key_text: str, name: str) -> tuple[str, str | None]:
    """The insert URI for the form's choice, and a newly made insert key to show."""
    if kind == "chk":
        return "CHK@", None
    if kind not in ("ssk", "usk"):
        raise UploadRejected("choose CHK, SSK or USK")
    new_key = None
    if key_text:
        try:
            uri = parse_uri(key_text.removeprefix("freenet:"))
        except CryptoError as exc:
            raise UploadRejected(f"the insert key is not valid: {exc}") from None
        if not isinstance(uri, SSKURI | USKURI) or not uri.is_insert:
            raise UploadRejected("that is not an insert key (it comes from keygen, SSK@… or USK@…)")
    else:
        _, uri = generate_ssk()
        new_key = str(uri)
    if kind == "usk":
        if isinstance(uri, USKURI):
            target = str(uri)
        else:
            site = uri.docname or name
            target = str(USKURI(key=uri.key, crypto_key=uri.crypto_key, extra=uri.extra,
                                site=site, edition=0))  # fmt: skip
    elif isinstance(uri, USKURI):
        raise UploadRejected("an SSK insert needs an SSK@ insert key, not a USK@ one")
    else:
        target = str(uri if uri.docname else uri.with_docname(name))
    return target, (target if new_key else None)


def _start(gw: Gateway, request: Request, fields: dict[str, str], files: list[_Part]) -> Response:
    single = [p for p in files if p.name == "file" and p.filename]
    site = [p for p in files if p.name == "site" and p.filename]
    if bool(single) == bool(site):
        raise UploadRejected("choose one file or one directory to insert")
    name = fields.get("name", "").strip() or "site"
    if "/" in name:
        raise UploadRejected("the name cannot contain '/'")
    uri, new_key = _target(fields.get("kind", "chk"), fields.get("key", "").strip(), name)
    gw._insert_seq += 1
    identifier = f"gateway-insert-{gw._insert_seq}"
    common = {"persistence": Persistence.REBOOT, "global_queue": True, "client_name": "gateway"}
    try:
        if single:
            part = single[0]
            assert part.spool is not None and part.filename is not None
            filename = part.filename.replace("\\", "/").rsplit("/", 1)[-1]
            data = part.spool.read(0, part.spool.available)
            gw.manager.start_put(
                f"{identifier}-{filename}", data, uri, target_filename=filename or None,
                **common,  # type: ignore[arg-type]
            )  # fmt: skip
        else:
            entries: dict[str, SiteFile] = {}
            for part in site:
                assert part.spool is not None and part.filename is not None
                entries[_site_name(part.filename)] = SiteFile(
                    data=part.spool.read(0, part.spool.available)
                )
            gw.manager.start_put_dir(identifier, entries, uri, **common)  # type: ignore[arg-type]
    except (ClientError, ValueError) as exc:
        raise UploadRejected(str(exc)) from None
    if new_key is None:
        return RedirectResponse("/queue", status_code=303)
    body = (
        '<div class="warning"><p>A new signed key was made for this insert. Its insert key '
        "below is the only way to publish under it again (and the next editions of a USK "
        "site). Save it somewhere safe and never share it.</p></div>"
        '<label for="newkey">Insert key (secret)</label>'
        f'<textarea id="newkey" readonly rows="3">{esc(new_key)}</textarea>'
        '<p>The key readers use appears on the <a href="/queue">transfers page</a> '
        "when the insert is done.</p>"
    )
    return gw.render(request, pages.layout("Inserting", body))
