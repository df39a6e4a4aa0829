"""The app's FCP operations on transfers and keys, each in a worker: insert, fetch, cancel, retry.

Inserts and fetches the TUI starts are persistent requests on the node's
global queue, so they survive a lost connection or a restarted TUI and show
up in other clients' global views too. A worker waits for each one's result
(its progress feeds :class:`~tui.state.Transfers`); when the connection drops
under it the request goes on in the node, and the global queue reports it
again after reconnecting.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work

from node.fcp.client import (
    FCPConnectionError,
    FCPError,
    GetFailedError,
    PutFailedError,
    new_identifier,
)
from tui.explain import explain
from tui.state import Transfer

if TYPE_CHECKING:
    from tui.app import SamizdatApp

    _Base = SamizdatApp
else:
    _Base = object

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def site_files(directory: Path) -> dict[str, Path]:
    """The files of a site directory by relative ``/`` name, hidden ones left out."""
    files: dict[str, Path] = {}
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith("."):
                path = Path(root, name)
                files[path.relative_to(directory).as_posix()] = path
    return files


def free_path(path: Path) -> Path:
    """``path``, or ``name (1).ext``… if it exists: a download never overwrites."""
    if not path.exists():
        return path
    for n in range(1, 10_000):
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(path)


class TransferActions(_Base):
    """Mixed into :class:`~tui.app.SamizdatApp`."""

    def on_fcp_message(self, msg: Any) -> None:
        """Fold an FCP message into the transfers and tell the user about endings."""
        before = None
        ident = msg.fields.get("Identifier")
        if ident:
            old = self.transfers.get(ident, msg.fields.get("Global", "false").lower() == "true")
            before = old.state if old is not None else None
        t = self.transfers.apply(msg, self.clock())
        if t is None:
            return
        if before == "running" and t.state in ("done", "failed"):
            self._announce_end(t)
        self.changed("transfers")

    def _announce_end(self, t: Transfer) -> None:
        if t.state == "done":
            what = "Fetched" if t.kind == "get" else "Inserted"
            self.notify(f"{what} {t.name}\n{t.result_uri or t.uri}", title="Transfer finished")
        else:
            kind = "get" if t.kind == "get" else "put"
            self.notify(
                explain(kind, t.error_code, t.error), title=f"{t.name} failed", severity="error"
            )

    def _local_node(self) -> bool:
        return self.address.rsplit(":", 1)[0].strip("[]") in LOOPBACK

    # --- inserts ------------------------------------------------------------------

    def start_insert(
        self, path: Path, uri: str, *, mime: str | None = None, site: str | None = None
    ) -> Transfer | None:
        """Insert the file or directory at ``path`` under ``uri`` (``CHK@``, an insert
        key…). ``site`` names the keypair whose edition this publishes."""
        if self.require_fcp() is None:
            return None
        ident = new_identifier("tui-put")
        kind = "putdir" if path.is_dir() else "put"
        t = self.transfers.add(
            Transfer(
                identifier=ident,
                global_=True,
                kind=kind,
                uri=uri,
                started=self.clock(),
                filename=str(path),
                mine=True,
                retry={"path": path, "uri": uri, "mime": mime, "site": site},
            )
        )
        self.changed("transfers")
        self.transfer_workers[ident] = self._run_insert(t, path, uri, mime, site)
        return t

    @work(group="transfers")
    async def _run_insert(
        self, t: Transfer, path: Path, uri: str, mime: str | None, site: str | None
    ) -> None:
        fcp = self.fcp
        if fcp is None:
            return
        common: dict[str, Any] = {
            "global_": True,
            "persistence": "forever",
            "identifier": t.identifier,
            "progress": self.on_fcp_message,
        }
        try:
            if path.is_dir():
                files = site_files(path)
                if not files:
                    raise ValueError(f"{path} has no files to insert")
                default = "index.html" if "index.html" in files else None
                result = await fcp.put_dir(uri, dict(files), default_name=default, **common)
            else:
                result = await fcp.put(
                    uri,
                    path=path,
                    from_disk=self._local_node(),
                    content_type=mime or mimetypes.guess_type(path.name)[0],
                    target_filename=path.name if uri.startswith("CHK@") else None,
                    **common,
                )
        except FCPConnectionError:
            return  # the node keeps the request; the global queue reports it later
        except PutFailedError as exc:
            if exc.message is not None:
                self.on_fcp_message(exc.message)
            return
        except (FCPError, OSError, ValueError) as exc:
            self._fail(t, str(exc))
            return
        t.result_uri = result
        if t.state == "running":
            t.state, t.finished = "done", self.clock()
            self._announce_end(t)
        if site is not None:
            await self._record_edition(site, result)
        self.changed("transfers")

    async def _record_edition(self, site: str, uri: str) -> None:
        entry = next((k for k in self.keypairs if k["Name"] == site), None)
        fcp = self.fcp
        if entry is None or fcp is None:
            return
        try:
            edition = int(uri.rstrip("/").rsplit("/", 1)[-1])
        except ValueError:
            return
        entry["Edition"] = str(edition)
        private = await fcp.list_entries("Keypair", with_private=True)
        full = next((k for k in private if k["Name"] == site), None)
        if full is not None:
            fields = {k: v for k, v in full.items() if k != "Name"}
            await fcp.put_entry("Keypair", site, {**fields, "Edition": edition})
        self.changed("keys")

    def _fail(self, t: Transfer, text: str) -> None:
        t.state, t.error, t.finished = "failed", text, self.clock()
        self.notify(text, title=f"{t.name} failed", severity="error")
        self.changed("transfers")

    # --- fetches ------------------------------------------------------------------

    def start_fetch(self, uri: str, target: Path) -> Transfer | None:
        """Fetch ``uri`` into the file ``target`` (renamed if it exists)."""
        if self.require_fcp() is None:
            return None
        target = free_path(target)
        t = self.transfers.add(
            Transfer(
                identifier=new_identifier("tui-get"),
                global_=True,
                kind="get",
                uri=uri,
                started=self.clock(),
                filename=str(target),
                mine=True,
                retry={"uri": uri, "target": target},
            )
        )
        self.changed("transfers")
        self.transfer_workers[t.identifier] = self._run_fetch(t, uri, target)
        return t

    @work(group="transfers")
    async def _run_fetch(self, t: Transfer, uri: str, target: Path) -> None:
        fcp = self.fcp
        if fcp is None:
            return
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            to_disk = False
            if self._local_node():
                _read, to_disk = await fcp.test_dda(target.parent, read=False, write=True)
            if to_disk:
                result = await fcp.get(
                    uri,
                    output=target,
                    to_disk=True,
                    global_=True,
                    persistence="forever",
                    identifier=t.identifier,
                    progress=self.on_fcp_message,
                )
            else:  # a remote node cannot write our disk: the data comes over FCP
                t.global_ = False
                result = await fcp.get(
                    uri, output=target, identifier=t.identifier, progress=self.on_fcp_message
                )
        except FCPConnectionError:
            return
        except GetFailedError as exc:
            t.error_code = exc.code
            self._fail(t, explain("get", exc.code, exc.description))
            return
        except (FCPError, OSError) as exc:
            self._fail(t, str(exc))
            return
        t.size = result.data_length
        t.result_uri = t.uri
        if t.state == "running":
            t.state, t.finished = "done", self.clock()
            self._announce_end(t)
        self.changed("transfers")

    # --- managing transfers -----------------------------------------------------------

    async def _remove(self, t: Transfer) -> bool:
        fcp = self.require_fcp()
        if fcp is None:
            return False
        worker = self.transfer_workers.pop(t.identifier, None)
        if worker is not None and worker.is_running:
            worker.cancel()  # frees the identifier on this connection
            with contextlib.suppress(Exception):
                await worker.wait()
        try:
            await fcp.remove(t.identifier, global_=t.global_)
        except FCPError as exc:
            if exc.code != 15:  # 15: the node has forgotten it already
                self.notify(str(exc), severity="error")
                return False
        self.transfers.items.pop(t.key, None)
        self.changed("transfers")
        return True

    @work(group="transfers")
    async def remove_transfer(self, t: Transfer) -> None:
        """Cancel a running transfer, or forget a finished one (RemovePersistentRequest)."""
        await self._remove(t)

    @work(group="transfers")
    async def retry_transfer(self, t: Transfer) -> None:
        """Remove the transfer from the node and start it again under a new identifier."""
        if t.kind != "get" and not t.retry:
            self.notify("This insert was started elsewhere; start it again from there.")
            return
        if not await self._remove(t):
            return
        if t.kind == "get":
            self.start_fetch(t.uri, Path(t.filename) if t.filename else self.home / "download")
        else:
            r = t.retry
            self.start_insert(r["path"], r["uri"], mime=r.get("mime"), site=r.get("site"))  # type: ignore[arg-type]
