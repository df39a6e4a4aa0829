"""The user's commands on a running node over FCP: put, get, keygen, publish, check.

Each command connects to the node's FCP port (``--fcp HOST:PORT``, default
127.0.0.1:9481), does one thing, and exits: 0 when it worked, 1 when the
network said no (data not found, insert failed, a checked file is lost), 2 for
bad input (a missing file, a malformed key), 3 when no node answers. Results
go to stdout (``put`` and ``publish`` end with the URI on a line of its own),
progress bars and errors to stderr, and an error is one sentence that says
what to do next, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from crypto.errors import CryptoError
from crypto.uri import CHKURI, SSKURI, USKURI, parse_uri
from node.client.manifest import guess_mime
from node.client.splitfile import DEFAULT_EXTRA_INSERTS, MAX_EXTRA_INSERTS
from node.fcp.client import (
    FCPClient,
    FCPConnectionError,
    FCPError,
    GetFailedError,
    ProtocolErrorReply,
    PutFailedError,
)
from node.fcp.protocol import FCPMessage

DEFAULT_FCP = "127.0.0.1:9481"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_NODE = 0, 1, 2, 3

# What to tell a user for each GetFailed code (Freenet's numbers, specs/fcp.md).
GET_ADVICE: dict[int, str] = {
    10: "the site has no file by that name: check the path after the key",
    11: "that key is a single file, not a site: remove the path after it",
    13: "the data was not found: check the key, or try again later (a new insert "
    "takes a little while to spread)",
    14: "too few nodes could be reached: check that your node has peers "
    "(`samizdat node run` shows them), then retry",
    15: "the network is overloaded: try again in a minute",
    16: "the key redirects too many times: it probably points at itself",
    20: "that key cannot be fetched: give a request key (CHK@…, SSK@…/name, USK@…/site/N)",
    21: "the file is larger than allowed",
    24: "the site has no default document: add a file name after the key",
    25: "the request was cancelled",
    28: "parts of the file are missing from the network: try again later, or ask "
    "whoever has a copy to run `samizdat check URI --repair --from FILE`",
    30: "the node looked for this very recently and failed: wait a minute and retry",
}


def add_parsers(subparsers: Any) -> None:
    put = subparsers.add_parser("put", help="insert a file or a directory (a site)")
    put.add_argument("path", type=Path, metavar="PATH")
    put.add_argument("--key", default="CHK@", metavar="URI", help="insert key (default: CHK@)")
    put.add_argument("--mime", metavar="TYPE", help="MIME type of a file (default: guessed)")
    put.add_argument("--default", metavar="NAME", help="a site's default document (index.html)")
    _extra_inserts_arg(put)
    _fcp_arg(put)
    put.set_defaults(handler=_run(_put))

    get = subparsers.add_parser("get", help="fetch a key to a file or to stdout")
    get.add_argument("uri", metavar="URI")
    get.add_argument("-o", "--output", type=Path, metavar="OUT", help="file (default: stdout)")
    _fcp_arg(get)
    get.set_defaults(handler=_run(_get))

    keygen = subparsers.add_parser("keygen", help="make a signed keypair (request, then insert)")
    _fcp_arg(keygen)
    keygen.set_defaults(handler=_run(_keygen))

    publish = subparsers.add_parser("publish", help="insert the next edition of a site (USK)")
    publish.add_argument("path", type=Path, metavar="DIR")
    publish.add_argument("--key", required=True, metavar="USK@…/site/N", help="USK insert key")
    publish.add_argument("--default", metavar="NAME", help="default document (index.html)")
    _extra_inserts_arg(publish)
    _fcp_arg(publish)
    publish.set_defaults(handler=_run(_publish))

    check = subparsers.add_parser(
        "check", help="probe every block of a file or site; --repair re-inserts what is missing"
    )
    check.add_argument("uri", metavar="URI")
    check.add_argument("--repair", action="store_true", help="re-insert missing blocks")
    check.add_argument(
        "--from", dest="source", type=Path, metavar="PATH", help="local copy (file or dir)"
    )
    _fcp_arg(check)
    check.set_defaults(handler=_run(_check))


def _fcp_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fcp",
        default=os.environ.get("SAMIZDAT_FCP", DEFAULT_FCP),
        metavar="HOST:PORT",
        help=f"the node's FCP address (default: {DEFAULT_FCP})",
    )


class UsageError(Exception):
    """Bad input from the user: exit 2 with this message."""


@dataclass
class Ctx:
    args: argparse.Namespace
    host: str
    port: int
    err: Console


def _parse_fcp(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--fcp wants HOST:PORT, such as {DEFAULT_FCP}, not {text!r}")
    return host.strip("[]"), int(port)


def _run(
    command: Callable[[Ctx, FCPClient], Awaitable[int]],
) -> Callable[[argparse.Namespace], int]:
    """A handler: validate, connect, run ``command``, and turn every failure into a message."""

    def handler(args: argparse.Namespace) -> int:
        err = Console(stderr=True, highlight=False)

        def fail(code: int, text: str) -> int:
            err.print(f"samizdat {args.command}: {text}", markup=False, soft_wrap=True)
            return code

        try:
            host, port = _parse_fcp(args.fcp)
            ctx = Ctx(args, host, port, err)
            validate = _VALIDATORS.get(args.command)
            if validate is not None:
                validate(args)
            return anyio.run(_connected, ctx, command)
        except UsageError as exc:
            return fail(EXIT_USAGE, str(exc))
        except _NoNode as exc:
            return fail(EXIT_NO_NODE, str(exc))
        except GetFailedError as exc:
            return fail(EXIT_FAILED, _get_failure(exc))
        except PutFailedError as exc:
            return fail(EXIT_FAILED, f"the insert failed: {_describe(exc)}")
        except ProtocolErrorReply as exc:
            return fail(EXIT_USAGE, f"the node refused the request: {_describe(exc)}")
        except FCPConnectionError as exc:
            return fail(EXIT_FAILED, f"lost the node at {args.fcp}: {exc}")
        except FCPError as exc:
            return fail(EXIT_FAILED, _describe(exc))
        except BrokenPipeError:
            with contextlib.suppress(OSError):
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep Python's exit quiet
            return EXIT_FAILED
        except OSError as exc:
            return fail(EXIT_FAILED, f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        except KeyboardInterrupt:
            return 130

    return handler


class _NoNode(Exception):
    pass


async def _connected(ctx: Ctx, command: Callable[[Ctx, FCPClient], Awaitable[int]]) -> int:
    where = f"{ctx.host}:{ctx.port}"
    try:
        try:
            async with FCPClient.connect(ctx.host, ctx.port, timeout=10.0) as fcp:
                return await command(ctx, fcp)
        except BaseExceptionGroup as group:  # the client's task group wraps what we raise
            raise _first(group) from None
    except FCPConnectionError as exc:
        if "cannot reach" in str(exc):
            raise _NoNode(
                f"no node answers at {where}: start one with `samizdat node run`"
            ) from None
        raise


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to report from a task group's exception group (not a cancellation)."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first(exc)
        if not isinstance(exc, anyio.get_cancelled_exc_class()):
            return exc
    return group.exceptions[0]


def _describe(exc: FCPError) -> str:
    text = exc.description
    if exc.extra and exc.extra not in text:
        text += f" ({exc.extra})"
    return text


def _get_failure(exc: GetFailedError) -> str:
    advice = GET_ADVICE.get(exc.code or -1)
    detail = _describe(exc)
    return f"{detail}: {advice}" if advice else detail


# --- validation (before connecting) -----------------------------------------------


def _uri(text: str, what: str) -> Any:
    try:
        return parse_uri(text.strip())
    except CryptoError as exc:
        raise UsageError(f"{text!r} is not a {what}: {exc}") from None


def _extra_inserts_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--extra-inserts",
        type=int,
        metavar="N",
        help=f"insert each block that has no FEC around it (a file's top block, a small "
        f"file, a signed key's block) N more times, each by its own first hop "
        f"(0..{MAX_EXTRA_INSERTS}; default {DEFAULT_EXTRA_INSERTS}; 0 is faster, "
        "more reaches further)",
    )


def _validate_extra_inserts(args: argparse.Namespace) -> None:
    n = args.extra_inserts
    if n is not None and not 0 <= n <= MAX_EXTRA_INSERTS:
        raise UsageError(f"--extra-inserts is a count from 0 to {MAX_EXTRA_INSERTS}, not {n}")


def _validate_put(args: argparse.Namespace) -> None:
    if not args.path.exists():
        raise UsageError(f"{args.path} does not exist")
    if not (args.path.is_file() or args.path.is_dir()):
        raise UsageError(f"{args.path} is neither a file nor a directory")
    key = _uri(args.key, "key to insert under")
    if isinstance(key, CHKURI) and not key.is_insert_form:
        raise UsageError("--key CHK@… names existing content; to insert, use CHK@ (the default)")
    if isinstance(key, SSKURI | USKURI) and not key.is_insert:
        raise UsageError("--key is a request key; inserting needs the insert key from keygen")
    if args.path.is_dir() and args.mime:
        raise UsageError("--mime is for a single file; a site's types are guessed per file")
    _validate_extra_inserts(args)


def _validate_get(args: argparse.Namespace) -> None:
    uri = _uri(args.uri, "key")
    if isinstance(uri, CHKURI) and uri.is_insert_form:
        raise UsageError("CHK@ alone is an insert key; give the full CHK@… that put printed")
    if args.output is not None and args.output.is_dir():
        raise UsageError(f"{args.output} is a directory; give a file name")


def _validate_publish(args: argparse.Namespace) -> None:
    if not args.path.exists():
        raise UsageError(f"{args.path} does not exist")
    key = _uri(args.key, "USK insert key")
    if not isinstance(key, USKURI):
        raise UsageError("--key must be a USK@<insert key>/site/N (see `samizdat keygen`)")
    if not key.is_insert:
        raise UsageError("--key is a request key; publishing needs the insert key")
    _validate_extra_inserts(args)


def _validate_check(args: argparse.Namespace) -> None:
    uri = _uri(args.uri, "key")
    if isinstance(uri, CHKURI) and uri.is_insert_form:
        raise UsageError("CHK@ alone is an insert key; give the full CHK@… to check")
    if args.source is not None:
        if not args.repair:
            raise UsageError("--from gives --repair a local copy: add --repair")
        if not args.source.exists():
            raise UsageError(f"{args.source} does not exist")


_VALIDATORS: dict[str, Callable[[argparse.Namespace], None]] = {
    "put": _validate_put,
    "get": _validate_get,
    "publish": _validate_publish,
    "check": _validate_check,
}


# --- progress -------------------------------------------------------------------------


@contextlib.contextmanager
def _progress(ctx: Ctx, what: str) -> Iterator[Callable[[FCPMessage], None]]:
    """A bar on stderr fed by SimpleProgress messages (nothing when stderr is no terminal)."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("blocks"),
        TimeElapsedColumn(),
        console=ctx.err,
        transient=True,
        disable=not ctx.err.is_terminal,
    )
    task = bar.add_task(what, total=None)

    def update(msg: FCPMessage) -> None:
        if msg.name != "SimpleProgress":
            return
        with contextlib.suppress(ValueError, KeyError):
            bar.update(task, total=int(msg["Required"]), completed=int(msg["Succeeded"]))

    with bar:
        yield update


# --- the commands ---------------------------------------------------------------------


def _site_files(root: Path) -> dict[str, Path]:
    files = {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }
    if not files:
        raise UsageError(f"{root} has no files to insert")
    return files


async def _insert(ctx: Ctx, fcp: FCPClient, doing: str) -> int:
    """Insert ``args.path`` (a file, or a directory as a site) under ``args.key``; print the URI."""
    args = ctx.args
    path: Path = args.path
    n = args.extra_inserts  # both kinds of single block; None: the node's default
    with _progress(ctx, doing) as progress:
        if path.is_dir():
            uri = await fcp.put_dir(
                args.key,
                _site_files(path),
                default_name=args.default,
                progress=progress,
                extra_inserts_single_block=n,
                extra_inserts_splitfile_header_block=n,
            )
        else:
            mime = getattr(args, "mime", None) or guess_mime(path.name)  # publish has no --mime
            uri = await fcp.put(
                args.key,
                path=path,
                content_type=mime,
                progress=progress,
                extra_inserts_single_block=n,
                extra_inserts_splitfile_header_block=n,
            )
    print(uri, flush=True)
    return EXIT_OK


async def _put(ctx: Ctx, fcp: FCPClient) -> int:
    return await _insert(ctx, fcp, "inserting")


async def _get(ctx: Ctx, fcp: FCPClient) -> int:
    args = ctx.args
    with _progress(ctx, "fetching") as progress:
        result = await fcp.get(args.uri.strip(), progress=progress)
    data = result.data or b""
    if args.output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        tmp = args.output.with_name(f".{args.output.name}.part")
        await anyio.Path(tmp).write_bytes(data)
        os.replace(tmp, args.output)
        ctx.err.print(f"{len(data)} bytes ({result.content_type}) → {args.output}", markup=False)
    return EXIT_OK


async def _keygen(ctx: Ctx, fcp: FCPClient) -> int:
    pair = await fcp.generate_ssk()
    print(pair.request_uri)
    print(pair.insert_uri, flush=True)
    return EXIT_OK


async def _publish(ctx: Ctx, fcp: FCPClient) -> int:
    return await _insert(ctx, fcp, "publishing")


async def _check(ctx: Ctx, fcp: FCPClient) -> int:
    args = ctx.args
    local: list[Path] = []
    if args.source is not None:
        source: Path = args.source
        local = list(_site_files(source).values()) if source.is_dir() else [source]
    rows: list[FCPMessage] = []
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("segments"),
        console=ctx.err,
        transient=True,
        disable=not ctx.err.is_terminal,
    )
    task = bar.add_task("repairing" if args.repair else "checking", total=None)

    def on_segment(msg: FCPMessage) -> None:
        if msg.name == "SamizdatCheckSegment":
            rows.append(msg)
            bar.update(task, advance=1)

    with bar:
        done = await fcp.check(
            args.uri.strip(), repair=args.repair, local=local, on_segment=on_segment
        )
    _print_check(rows, done, args.repair)
    return EXIT_OK if (done.get("Survives") or "").lower() == "true" else EXIT_FAILED


def _print_check(rows: list[FCPMessage], done: FCPMessage, repair: bool) -> None:
    out = Console(highlight=False, soft_wrap=True)
    out.print(f"key: {done.get('URI')}", markup=False)
    rows.sort(key=lambda m: (m.get("Path") or "", int(m.get("Segment") or 0)))
    for m in rows:
        name = m.get("Path") or "(file)"
        seg = f"{int(m['Segment']) + 1}/{m['Segments']}"
        found, n, k = m["Found"], m["Blocks"], m["Needed"]
        state = "ok" if (m.get("Retrievable") or "").lower() == "true" else "LOST"
        line = f"{name}  segment {seg}: {found} of {n} blocks found, {k} needed: {state}"
        missing = m.get("Missing") or ""
        if missing:
            line += f"; missing {_ranges(missing)}"
        if repair and int(m.get("Repaired") or 0):
            line += f"; {m['Repaired']} re-inserted"
        if m.get("Note"):
            line += f" ({m['Note']})"
        out.print(line, markup=False)
    for i in range(1_000_000):
        path = done.get(f"Lost.{i}.Path")
        if path is None:
            break
        out.print(f"{path or '(key)'}: {done.get(f'Lost.{i}.Reason')}: LOST", markup=False)
    summary = (
        f"{done.get('Files')} file(s), {done.get('Segments')} segment(s), "
        f"{done.get('Blocks')} blocks: {done.get('Found')} found, {done.get('Missing')} missing"
    )
    if repair:
        summary += f", {done.get('Repaired')} re-inserted"
    out.print(summary, markup=False)
    survives = (done.get("Survives") or "").lower() == "true"
    if survives:
        out.print("survives: yes (every segment has the blocks it needs)", markup=False)
    else:
        advice = "" if repair else "; try --repair (with --from FILE if you have a copy)"
        out.print(f"survives: NO{advice}", markup=False)


def _ranges(text: str) -> str:
    """``1,2,3,7`` → ``1-3,7``."""
    nums = sorted(int(x) for x in text.split(",") if x)
    parts: list[str] = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ",".join(parts)
