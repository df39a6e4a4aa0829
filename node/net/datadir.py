"""The node's data directory: identity, config (TOML), state, peers file and the store's place.

Layout (created mode 0700 on first use)::

    <data dir>/
      identity      the Ed25519 seed (mode 0600; see node.net.identity)
      config.toml   settings the user may edit (read with tomllib)
      state.toml    what the node itself remembers across restarts (its location,
                    listening port and count of swap walks started)
      peers         darknet friends and known opennet peers, one noderef per line
      store/        the datastore (owned by ``store``)

The default is platformdirs' per-user data directory for "samizdat";
``--data-dir`` chooses another. Every file the node rewrites is written to a
temporary file, fsynced and renamed over the old one, so a crash leaves either
the old or the new version, never half of one.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from node.net import tomlfile
from node.net.identity import NodeIdentity, load_or_create_identity
from node.net.noderef import NodeRefError, SignedNodeRef, parse_noderef

APP_NAME = "samizdat"
_PEERS_HEADER = (
    "# Samizdat peers: one node reference per line. Lines starting with # are ignored.\n"
)


class DataDirError(Exception):
    """The data directory or one of its files cannot be used; the message says which and why."""


def default_data_dir() -> Path:
    """Where a node keeps its files unless told otherwise (per user, per platform)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def _atomic_write(path: Path, text: str, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class DataDir:
    """A node's data directory. Build with :meth:`open`, which creates it if needed."""

    path: Path

    @classmethod
    def open(cls, path: Path | str | None = None) -> DataDir:
        root = Path(path) if path is not None else default_data_dir()
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise DataDirError(f"cannot create the data directory {root}: {exc.strerror}") from None
        if not root.is_dir():
            raise DataDirError(f"{root} exists and is not a directory")
        return cls(root)

    @property
    def identity_path(self) -> Path:
        return self.path / "identity"

    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def state_path(self) -> Path:
        return self.path / "state.toml"

    @property
    def peers_path(self) -> Path:
        return self.path / "peers"

    @property
    def store_path(self) -> Path:
        return self.path / "store"

    def identity(self) -> NodeIdentity:
        """This node's identity, created (mode 0600) on first run."""
        identity, _created = load_or_create_identity(self.identity_path)
        return identity

    def read_config(self) -> dict[str, Any]:
        """The user's settings; an empty dict when there is no config file."""
        return self._read_toml(self.config_path)

    def write_config(self, config: Mapping[str, Any]) -> None:
        _atomic_write(self.config_path, tomlfile.dumps(config), 0o644)

    def read_state(self) -> dict[str, Any]:
        """What the node saved about itself (e.g. ``{"location": 0.42}``)."""
        return self._read_toml(self.state_path)

    def write_state(self, state: Mapping[str, Any]) -> None:
        _atomic_write(self.state_path, tomlfile.dumps(state))

    def read_peers(self) -> tuple[list[SignedNodeRef], list[str]]:
        """The stored peers, and a message for each line that could not be used.

        One bad line never stops a node from starting; the caller logs the problems.
        """
        try:
            text = self.peers_path.read_text("utf-8")
        except FileNotFoundError:
            return [], []
        except (OSError, UnicodeDecodeError) as exc:
            raise DataDirError(f"cannot read {self.peers_path}: {exc}") from None
        refs: list[SignedNodeRef] = []
        problems: list[str] = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                refs.append(parse_noderef(line))
            except NodeRefError as exc:
                problems.append(f"{self.peers_path}:{number}: {exc}")
        return refs, problems

    def write_peers(self, refs: Iterable[SignedNodeRef]) -> None:
        lines = [ref.to_text(width=0) for ref in refs]
        _atomic_write(self.peers_path, _PEERS_HEADER + "".join(f"{x}\n" for x in lines))

    def add_peer(self, ref: SignedNodeRef) -> bool:
        """Add or refresh a peer; a newer reference replaces an older one of the same identity.

        Returns False when an equally new or newer reference is already stored.
        """
        refs, _problems = self.read_peers()
        for index, old in enumerate(refs):
            if old.identity == ref.identity:
                if old.ref.issued >= ref.ref.issued:
                    return False
                refs[index] = ref
                break
        else:
            refs.append(ref)
        self.write_peers(refs)
        return True

    def _read_toml(self, path: Path) -> dict[str, Any]:
        try:
            with path.open("rb") as f:
                return tomllib.load(f)
        except FileNotFoundError:
            return {}
        except tomllib.TOMLDecodeError as exc:
            raise DataDirError(f"{path} is not valid TOML: {exc}") from None
        except OSError as exc:
            raise DataDirError(f"cannot read {path}: {exc.strerror}") from None
