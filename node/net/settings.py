"""How a node is configured: the settings a runtime is built with, and size/address parsing.

Every setting has a command-line flag (``samizdat node run``) and may also be
given in the data directory's ``config.toml``; flags win. Defaults suit a node
left running on a desktop: 1 GiB of datastore, no bandwidth limit, opennet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.core.config import Config
from node.net.link import LinkConfig

GIB = 1024**3
DEFAULT_STORE_SIZE = GIB
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*", re.IGNORECASE)
_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(text: str | int) -> int:
    """``"10GiB"``, ``"500M"``, ``"1.5g"`` or a plain number of bytes → bytes.

    Both ``G`` and ``GiB`` mean 1024**3: people who type a store size mean
    "about this much disk", and binary units are what ``df -h`` shows.
    """
    if isinstance(text, int):
        if text < 0:
            raise ValueError("a size cannot be negative")
        return text
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a size (examples: 500M, 10GiB, 1048576)")
    number, unit, _binary = match.groups()
    return int(float(number) * 1024 ** _UNITS[unit.lower()])


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``:PORT``, or ``[v6]:PORT``) → (host, port); host defaults to 127.0.0.1."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = text, "0"
    host = host.strip("[]") or "127.0.0.1"
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: the port must be a number from 0 to 65535")
    return host, int(port_text)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSettings:
    """Everything a :class:`~node.net.runtime.NodeRuntime` needs to start."""

    data_dir: Path
    listen_host: str = "127.0.0.1"
    listen_port: int | None = None
    """None: reuse the port saved in state.toml, or pick a free one and save it,
    so the node reference friends hold stays valid across restarts."""
    advertise_host: str | None = None
    """The address peers should dial (default: the listen host)."""
    opennet: bool = True
    seednodes: Path | None = None
    store_size: int = DEFAULT_STORE_SIZE
    upload_limit: float | None = None
    """Bytes per second for all links together; None = unlimited."""
    download_limit: float | None = None
    link: LinkConfig = field(default_factory=LinkConfig)
    core: Config = field(default_factory=Config)
    swap_interval: float = 5.0
    """Darknet: seconds between swap attempts this node starts (Freenet: a few s)."""
    maintenance_interval: float = 5.0
    """Seconds between housekeeping rounds: reconnecting friends, re-reading the
    peers file, announcing when short of peers, saving opennet peers."""
    store_synchronous_full: bool = True
    """FULL survives power loss (the default); False trades that for speed in tests."""
    misbehave: str | None = None
    """Test networks only (``node.net.misbehave``): the hostile mode this node plays."""

    @classmethod
    def from_config(cls, data_dir: Path, config: dict[str, Any], **overrides: Any) -> NodeSettings:
        """Settings from ``config.toml``'s ``[node]`` table, then ``overrides`` (flags) on top."""
        node = config.get("node", {}) if isinstance(config.get("node"), dict) else {}
        values: dict[str, Any] = {}
        if "listen" in node:
            values["listen_host"], values["listen_port"] = parse_listen(str(node["listen"]))
        if "opennet" in node:
            values["opennet"] = bool(node["opennet"])
        if "store_size" in node:
            values["store_size"] = parse_size(node["store_size"])
        for key in ("upload_limit", "download_limit"):
            if key in node:
                values[key] = float(parse_size(node[key]))
        if "seednodes" in node:
            values["seednodes"] = Path(str(node["seednodes"]))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(data_dir=data_dir, **values)
